/// Known software behind identities read from the wire.
enum DICOMToolkits {
    /// DICOM implementation class UID roots (the organisation root each toolkit registered and
    /// uses for its implementation class UID) and implementation version name prefixes.
    static let dicomRoots: [(root: String, versionPrefix: String, name: String)] = [
        ("1.2.826.0.1.3680043.9.3811", "PYNETDICOM", "pynetdicom"),
        ("1.2.826.0.1.3680043.8.498", "PYDICOM", "pydicom"),
        ("1.2.276.0.7230010.3", "OFFIS_DCMTK", "DCMTK (OFFIS)"),
        ("1.2.40.0.13.1", "dcm4che", "dcm4che"),
        ("1.3.6.1.4.1.30071.8", "fo-dicom", "fo-dicom"),
        ("1.2.826.0.1.3680043.2.1143", "GDCM", "GDCM"),
    ]

    /// The toolkit behind a DICOM implementation (UID root first, then the version name).
    static func dicom(uid: String?, version: String?) -> String? {
        if let uid {
            for r in dicomRoots where uid == r.root || uid.hasPrefix(r.root + ".") { return r.name }
        }
        if let v = version?.uppercased() {
            for r in dicomRoots where v.hasPrefix(r.versionPrefix.uppercased()) { return r.name }
        }
        return nil
    }
}

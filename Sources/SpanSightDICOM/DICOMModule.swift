import SpanSightEngine

extension DICOM {
    /// DICOM's dangerous operations, probes and rejection rates (docs/detection.md).
    public enum Rules {
        public static let moveElsewhere = Signature(2201, "dicom.retrieve_to_other_destination", .dangerousOperation, severity: 2, .theftOfInformation, confidence: 75)
        public static let delete = Signature(2202, "dicom.n_delete", .dangerousOperation, severity: 2, .dataDestruction, confidence: 85)
        public static let aeProbe = Signature(3004, "dicom.called_ae_probe", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 85)
        public static let rejections = Signature(3005, "dicom.rejected_associations", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 70)

        public static let all = [moveElsewhere, delete, aeProbe, rejections]

        /// N-DELETE; a C-MOVE whose destination is not the caller's own AE title.
        public static func of(_ c: Command, _ ids: FlowIdentities) -> Signature? {
            if c.function == 0x0150 { return delete }
            if c.function == 0x0021, let dest = c.target, !dest.isEmpty, dest != ids.value(c.issuer, "dicom.ae_title") ?? "" {
                return moveElsewhere
            }
            return nil
        }
    }

    /// FNV-1a of a text (a sweep counts distinct values).
    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// What detection, the inventory, the policy and the map know of DICOM.
    public static let module = ProtocolModule(
        name: "dicom", title: "DICOM",
        anomalyBase: 1300, anomalies: Anomalies.all, signatures: Rules.all,
        commandRule: { c, ids in Rules.of(c, ids) },
        sweeps: [SweepRule(Rules.aeProbe, threshold: "ae-probe", default: 5, counting: "called AE titles") { c, _ in
            c.function == 1 ? c.target.map { hash($0) } : nil
        }],
        outcomes: [OutcomeRule(Rules.rejections, threshold: "reject", default: 5, counting: "rejected associations") { name, _ in
            name.description == "dicom.association_rejected"
        }],
        roles: [RoleSpec("dicom.scp", .server, policyGroup: "iomt_dicom_scp"),
                RoleSpec("dicom.scu", .client, policyGroup: "iomt_dicom_scu")],
        serverHint: RoleHint(criticality: 85, label: "IoMT imaging system (DICOM SCP)"),
        clientHint: RoleHint(criticality: 85, label: "IoMT imaging system (DICOM SCU)"),
        classify: { e, ev in
            if e.has("dicom.scp") {
                if e.received("dicom", .write) { ev.add(.pacs, 70, "accepts DICOM C-STORE (storage SCP)") }
                else { ev.add(.pacs, 55, "accepts DICOM associations (SCP)") }
            }
            if e.has("dicom.scu") {
                if e.issued("dicom", .write) { ev.add(.modality, 70, "sends images with DICOM C-STORE (storage SCU)") }
                else if e.issued("dicom", .read) { ev.add(.workstation, 45, "queries or retrieves over DICOM (viewing workstation)") }
                else { ev.add(.modality, 40, "opens DICOM associations (SCU)") }
            }
        },
        identities: [IdentitySpec("dicom.ae_title", multiValued: true), IdentitySpec("dicom.implementation_class_uid"),
                     IdentitySpec("dicom.implementation_version_name")],
        flowIdentityKeys: ["dicom.ae_title"],
        software: { ids in
            let ver = ids["dicom.implementation_version_name"]
            guard let t = DICOMToolkits.dicom(uid: ids["dicom.implementation_class_uid"], version: ver) else { return [] }
            return ["\(t)\(ver.map { " (\($0))" } ?? "")"]
        },
        color: "#2ca02c")
}

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
        color: "#2ca02c",
        baselineFact: { c, ids in
            // An association is keyed by its AE titles; its commands carry SOP classes and
            // move destinations (an A-ASSOCIATE-RQ, function 1, has neither).
            let ae = { (s: Side) in ids.value(s, "dicom.ae_title") ?? "" }
            let own = c.function != 1
            return BaselineFact(scope: [ae(c.issuer), ae(c.issuer.other)], name: "\(c.name)",
                                attributes: [("sop_classes", own ? [c.detail ?? ""] : []),
                                             ("move_destinations", own ? [c.target ?? ""] : [])])
        },
        synthetic: SyntheticTraffic(serverPort: 104, defaultWeight: 5) { _, _ in
            // An association for Verification, accepted, then released.
            [(true, synthAssociate(0x01)), (false, synthAssociate(0x02)),
             (true, [0x05, 0x00, 0, 0, 0, 4, 0, 0, 0, 0]), (false, [0x06, 0x00, 0, 0, 0, 4, 0, 0, 0, 0])]
        })

    /// A-ASSOCIATE-RQ (type 1) or -AC (type 2) for synthetic traffic: MODALITY1 -> PACS, Verification.
    static func synthAssociate(_ type: UInt8) -> [UInt8] {
        func item(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body }
        func ae(_ s: String) -> [UInt8] { Array((s + String(repeating: " ", count: 16 - s.count)).utf8) }
        var body: [UInt8] = [0x00, 0x01, 0x00, 0x00] + ae("PACS") + ae("MODALITY1") + [UInt8](repeating: 0, count: 32)
        body += item(0x10, Array("1.2.840.10008.3.1.1.1".utf8))
        if type == 0x01 {
            body += item(0x20, [0x01, 0, 0, 0] + item(0x30, Array("1.2.840.10008.1.1".utf8)) + item(0x40, Array("1.2.840.10008.1.2".utf8)))
            body += item(0x50, item(0x51, [0, 0, 0x40, 0]) + item(0x52, Array("1.2.826.0.1.3680043.9.3811.2.0".utf8)))
        } else {
            body += item(0x21, [0x01, 0, 0, 0] + item(0x40, Array("1.2.840.10008.1.2".utf8)))
            body += item(0x50, item(0x51, [0, 0, 0x40, 0]))
        }
        return [type, 0x00, 0, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }
}

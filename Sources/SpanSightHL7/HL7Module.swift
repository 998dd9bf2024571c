import SpanSightEngine

extension HL7 {
    /// HL7's dangerous operations and acknowledgment rates (docs/detection.md).
    public enum Rules {
        public static let recordMerge = Signature(2301, "hl7.record_merge", .dangerousOperation, severity: 2, nil, confidence: 70)
        public static let nackStorm = Signature(3006, "hl7.nack_storm", .availability, severity: 2, nil, confidence: 70)

        public static let all = [recordMerge, nackStorm]

        /// ADT events that merge, link or move patient records (HL7 v2.5 chapter 3).
        public static func isMerge(_ type: String) -> Bool {
            guard type.hasPrefix("ADT^") else { return false }
            let event = type.dropFirst(4).prefix(3)
            return ["A18", "A30", "A34", "A35", "A36", "A39", "A40", "A41", "A42", "A24", "A37"].contains(String(event))
        }
    }

    /// What detection, the inventory, the policy and the map know of HL7.
    public static let module = ProtocolModule(
        name: "hl7", title: "HL7",
        anomalyBase: 1400, anomalies: Anomalies.all, signatures: Rules.all,
        commandRule: { c, _ in c.detail.map { Rules.isMerge($0) } == true ? Rules.recordMerge : nil },
        outcomes: [OutcomeRule(Rules.nackStorm, threshold: "nack", default: 10, counting: "negative acknowledgments") { name, success in
            !success && name.description.hasPrefix("hl7.ack_")
        }],
        roles: [RoleSpec("hl7.receiver", .server, policyGroup: "clinical_hl7_receiver"),
                RoleSpec("hl7.sender", .client, policyGroup: "clinical_hl7_sender")],
        serverHint: RoleHint(criticality: 80, label: "clinical interface (HL7 peer)"),
        clientHint: RoleHint(criticality: 80, label: "clinical interface (HL7 peer)"),
        classify: { e, ev in
            if e.has("hl7.sender") || e.has("hl7.receiver") {
                ev.add(.interfaceEngine, 65, "exchanges HL7 v2 messages over MLLP")
                if e.has("hl7.sender") && e.has("hl7.receiver") { ev.add(.interfaceEngine, 10, "both sends and receives HL7") }
            }
        },
        identities: [IdentitySpec("hl7.application", multiValued: true), IdentitySpec("hl7.facility", multiValued: true),
                     IdentitySpec("hl7.version")],
        flowIdentityKeys: ["hl7.application", "hl7.facility"],
        software: { ids in
            guard let app = ids["hl7.application"] else { return [] }
            return ["HL7 application \(app)\(ids["hl7.facility"].map { "^\($0)" } ?? "")"]
        },
        color: "#ff7f0e",
        baselineFact: { c, ids in
            // Keyed by the sending and receiving application^facility; the command is the
            // message type ("ADT^A01").
            let id = { (s: Side) in (ids.value(s, "hl7.application") ?? "") + "^" + (ids.value(s, "hl7.facility") ?? "") }
            return BaselineFact(scope: [c.target ?? id(c.issuer), id(c.issuer.other)], name: c.detail ?? "")
        },
        synthetic: SyntheticTraffic(serverPort: port, defaultWeight: 10) { counter, _ in
            // An ADT^A01 with made-up demographics (no real patient) and its AA acknowledgment.
            let id = String(counter)
            let msg = "\u{0B}MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20261126120000||ADT^A01|MSG\(id)|P|2.5\rEVN|A01|20261126120000\rPID|1||123456^^^HOSP^MR||DOE^JANE||19700101|F\rPV1|1|I|ICU^1^1\r\u{1C}\r"
            let ack = "\u{0B}MSH|^~\\&|LAB|HOSP|EPIC|HOSP|20261126120001||ACK^A01|ACK\(id)|P|2.5\rMSA|AA|MSG\(id)\r\u{1C}\r"
            return [(true, Array(msg.utf8)), (false, Array(ack.utf8))]
        })
}

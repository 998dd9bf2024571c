import SpanSightEngine

extension DNP3 {
    /// DNP3's dangerous operations and sweeps (docs/detection.md).
    public enum Rules {
        public static let coldRestart = Signature(2101, "dnp3.cold_restart", .dangerousOperation, severity: 1, .deviceRestart, confidence: 95, critical: true)
        public static let warmRestart = Signature(2102, "dnp3.warm_restart", .dangerousOperation, severity: 1, .deviceRestart, confidence: 95, critical: true)
        public static let applicationControl = Signature(2103, "dnp3.application_control", .dangerousOperation, severity: 1, .changeOperatingMode, confidence: 90, critical: true)
        public static let disableUnsolicited = Signature(2104, "dnp3.disable_unsolicited", .dangerousOperation, severity: 2, .blockReporting, confidence: 85)
        public static let write = Signature(2105, "dnp3.write", .dangerousOperation, severity: 2, .modifyParameter, confidence: 85)
        public static let operate = Signature(2106, "dnp3.operate", .dangerousOperation, severity: 2, .unauthorizedCommand, confidence: 95)
        public static let fileOperation = Signature(2107, "dnp3.file_operation", .dangerousOperation, severity: 2, .programDownload, confidence: 80)
        public static let timeChange = Signature(2108, "dnp3.time_change", .dangerousOperation, severity: 3, .modifyParameter, confidence: 70)
        public static let addressSweep = Signature(3003, "dnp3.address_sweep", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 85)

        public static let all = [coldRestart, warmRestart, applicationControl, disableUnsolicited, write, operate,
                                 fileOperation, timeChange, addressSweep]

        /// The dangerous-operation signature of a request, by application function code.
        public static func of(_ c: Command) -> Signature? {
            switch c.function {
            case 13: coldRestart
            case 14: warmRestart
            case 15...18: applicationControl
            case 21: disableUnsolicited
            case 2: c.operation == .time ? timeChange : write
            case 3...6: operate
            case 25...30: fileOperation
            default: nil
            }
        }
    }

    /// What detection, the inventory, the policy and the map know of DNP3.
    public static let module = ProtocolModule(
        name: "dnp3", title: "DNP3", isFieldProtocol: true,
        anomalyBase: 1100, anomalies: Anomalies.all, signatures: Rules.all,
        commandRule: { c, _ in Rules.of(c) },
        sweeps: [SweepRule(Rules.addressSweep, threshold: "address-sweep", default: 8, counting: "DNP3 destination addresses") { c, _ in UInt64(c.unit) }],
        describe: { c in
            var s = "\(c.name) fc \(c.function) to address \(c.unit)"
            if let d = c.detail { s += " objects \(d)" }
            return s
        },
        roles: [RoleSpec("dnp3.outstation", .server, policyGroup: "ot_controller"),
                RoleSpec("dnp3.master", .client, policyGroup: "ot_master_hmi")],
        serverHint: RoleHint(criticality: 95, label: "OT control equipment (DNP3 outstation)"),
        clientHint: RoleHint(criticality: 70, label: "OT master (DNP3 master)"),
        classify: { e, ev in
            if e.has("dnp3.outstation") {
                ev.add(.rtu, 75, "answers as a DNP3 outstation")
                if e.identities.keys.contains(where: { $0.hasPrefix("dnp3.") }) { ev.add(.rtu, 10, "reports DNP3 device attributes") }
            }
            if e.has("dnp3.master") { ev.fieldMaster(e, "acts as DNP3 master") }
        },
        identities: (["dnp3.device_name", "dnp3.manufacturer_name", "dnp3.product_name", "dnp3.serial_number",
                      "dnp3.software_version", "dnp3.hardware_version", "dnp3.location", "dnp3.subset_level",
                      "dnp3.user_id"] as [StaticString]).map { IdentitySpec($0) },
        software: { ids in
            let m = ids["dnp3.manufacturer_name"], p = ids["dnp3.product_name"]
            return m == nil && p == nil ? [] : [[m, p].compactMap { $0 }.joined(separator: " ")]
        },
        color: "#9467bd")
}

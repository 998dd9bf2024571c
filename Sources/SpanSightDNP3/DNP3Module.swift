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
        color: "#9467bd",
        baselineFact: { c, _ in
            BaselineFact(unit: c.unit, function: c.function, name: "\(c.name)",
                         attributes: [("objects", (c.detail ?? "").split(separator: " ").map(String.init))])
        },
        synthetic: SyntheticTraffic(serverPort: 20000, defaultWeight: 20) { counter, random in
            // A class 1/2/3/0 poll; ten binary inputs with random values back.
            let seq = UInt8(counter & 0x0F)
            let req = DNP3.synthFrame(dst: 10, src: 1, control: 0xC4,
                                      userData: [0xC0 | (seq & 0x3F), 0xC0 | seq, 0x01, 0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06, 0x3C, 0x01, 0x06])
            var body: [UInt8] = [0xC0 | (seq & 0x3F), 0xC0 | seq, 0x81, 0x00, 0x00, 0x1E, 0x01, 0x00, 0x00, 0x09]
            for _ in 0..<10 { body += [0x01, UInt8(truncatingIfNeeded: random.next()), 0x00, 0x00, 0x00] }
            return [(true, req), (false, DNP3.synthFrame(dst: 1, src: 10, control: 0x44, userData: body))]
        })

    /// A whole link frame for synthetic traffic: header + CRC, then 16-byte blocks each with a CRC.
    static func synthFrame(dst: UInt16, src: UInt16, control: UInt8, userData: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [0x05, 0x64, UInt8(5 + userData.count), control,
                          UInt8(dst & 0xFF), UInt8(dst >> 8), UInt8(src & 0xFF), UInt8(src >> 8)]
        let c = DNP3CRC.crc(h)
        h += [UInt8(c & 0xFF), UInt8(c >> 8)]
        var i = 0
        while i < userData.count {
            let block = userData[i..<min(i + 16, userData.count)]
            h += block
            let bc = DNP3CRC.crc(Array(block))
            h += [UInt8(bc & 0xFF), UInt8(bc >> 8)]
            i += 16
        }
        return h
    }
}

import SpanSightEngine

extension Modbus {
    /// Modbus's dangerous operations and sweeps (docs/detection.md).
    public enum Rules {
        public static let writeCoils = Signature(2001, "modbus.write_coils", .dangerousOperation, severity: 2, .unauthorizedCommand, confidence: 95)
        public static let writeRegisters = Signature(2002, "modbus.write_registers", .dangerousOperation, severity: 2, .modifyParameter, confidence: 95)
        public static let listenOnly = Signature(2003, "modbus.force_listen_only", .dangerousOperation, severity: 1, .denialOfService, confidence: 95, critical: true)
        public static let restart = Signature(2004, "modbus.restart_communications", .dangerousOperation, severity: 1, .deviceRestart, confidence: 95, critical: true)
        public static let deviceID = Signature(2005, "modbus.read_device_identification", .reconnaissance, severity: 3, .remoteSystemInformation, confidence: 90)
        public static let reportServerID = Signature(2006, "modbus.report_server_id", .reconnaissance, severity: 3, .remoteSystemInformation, confidence: 90)
        public static let userDefined = Signature(2007, "modbus.user_defined_function", .dangerousOperation, severity: 2, .unauthorizedCommand, confidence: 80)
        public static let programming = Signature(2008, "modbus.programming_function", .dangerousOperation, severity: 1, .programDownload, confidence: 85, critical: true)
        public static let writeFile = Signature(2009, "modbus.write_file_record", .dangerousOperation, severity: 2, .modifyParameter, confidence: 90)
        public static let clearCounters = Signature(2010, "modbus.clear_diagnostics", .dangerousOperation, severity: 3, .indicatorRemoval, confidence: 80)
        public static let unitSweep = Signature(3001, "modbus.unit_id_sweep", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 85)
        public static let functionSweep = Signature(3002, "modbus.function_code_sweep", .reconnaissance, severity: 2, .remoteSystemInformation, confidence: 75)

        public static let all = [writeCoils, writeRegisters, listenOnly, restart, deviceID, reportServerID, userDefined,
                                 programming, writeFile, clearCounters, unitSweep, functionSweep]

        /// The dangerous-operation signature of a request, by function code (and FC 8's
        /// sub-function).
        public static func of(_ c: Command) -> Signature? {
            switch c.function {
            case 5, 15: writeCoils
            case 6, 16, 22, 23: writeRegisters
            case 21: writeFile
            case 8:
                switch c.subfunction {
                case 4: listenOnly
                case 1: restart
                case 0x0A, 0x14: clearCounters
                default: nil
                }
            case 17: reportServerID
            case 43: deviceID
            case 90, 125, 126: programming
            case 65...72, 100...110: userDefined
            default: nil
            }
        }
    }

    /// What detection, the inventory, the policy and the map know of Modbus.
    public static let module = ProtocolModule(
        name: "modbus", title: "Modbus", isFieldProtocol: true,
        anomalyBase: 1000, anomalies: Anomalies.all, signatures: Rules.all,
        commandRule: { c, _ in Rules.of(c) },
        sweeps: [
            SweepRule(Rules.unitSweep, threshold: "unit-sweep", default: 8, counting: "unit ids") { c, _ in UInt64(c.unit) },
            SweepRule(Rules.functionSweep, threshold: "function-sweep", default: 12, counting: "function codes") { c, _ in UInt64(c.function) },
        ],
        describe: { c in
            var s = "\(c.name) fc \(c.function)"
            if c.function == 8 || c.function == 43 { s += "/\(c.subfunction)" }
            s += " unit \(c.unit)"
            if c.addressCount > 0 { s += " address \(c.addressStart) count \(c.addressCount)" }
            return s
        },
        roles: [RoleSpec("modbus.server", .server, policyGroup: "ot_controller"),
                RoleSpec("modbus.client", .client, policyGroup: "ot_master_hmi")],
        serverHint: RoleHint(criticality: 95, label: "OT control equipment (Modbus server)"),
        clientHint: RoleHint(criticality: 70, label: "OT master/HMI (Modbus client)"),
        classify: { e, ev in
            if e.has("modbus.server") {
                ev.add(.plc, 70, "answers Modbus requests (Modbus server)")
                if e.identity("modbus.vendor_name") != nil { ev.add(.plc, 15, "reports Modbus device identification") }
            }
            if e.has("modbus.client") { ev.fieldMaster(e, "issues Modbus requests") }
        },
        identities: (["modbus.vendor_name", "modbus.product_code", "modbus.revision", "modbus.vendor_url",
                     "modbus.product_name", "modbus.model_name", "modbus.user_application_name"] as [StaticString]).map { IdentitySpec($0) },
        software: { ids in
            guard let v = ids["modbus.vendor_name"] else { return [] }
            return [[v, ids["modbus.product_code"], ids["modbus.revision"]].compactMap { $0 }.joined(separator: " ")]
        },
        color: "#1f77b4",
        baselineFact: { c, _ in
            BaselineFact(unit: c.unit, function: c.function, subfunction: c.function == 8 || c.function == 43 ? c.subfunction : 0,
                         name: "\(c.name)",
                         range: c.addressCount > 0 ? c.addressStart...(c.addressStart &+ min(c.addressCount, 0xFFFF) &- 1) : nil,
                         checkRange: c.operation == .write)
        },
        synthetic: SyntheticTraffic(serverPort: modbusPort, defaultWeight: 60) { counter, random in
            // Read 10 holding registers at a random address; 20 random bytes back.
            let tid = counter
            let addr = UInt16(random.next() % 1000)
            let req: [UInt8] = [UInt8(tid >> 8), UInt8(tid & 0xFF), 0, 0, 0, 6, 1, 3, UInt8(addr >> 8), UInt8(addr & 0xFF), 0, 10]
            var rsp: [UInt8] = [UInt8(tid >> 8), UInt8(tid & 0xFF), 0, 0, 0, 23, 1, 3, 20]
            for _ in 0..<20 { rsp.append(UInt8(truncatingIfNeeded: random.next())) }
            return [(true, req), (false, rsp)]
        })
}

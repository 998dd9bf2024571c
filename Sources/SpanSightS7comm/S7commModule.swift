import SpanSightEngine

extension Technique {
    /// Techniques S7comm's rules name that the shared catalogue does not list (yet).
    static let manipulateIOImage = Technique(id: "T0835", name: "Manipulate I/O Image", tactic: .inhibitResponseFunction,
                                             metadataName: "Manipulate_IO_Image")
    static let modifyProgram = Technique(id: "T0889", name: "Modify Program", tactic: .persistence, metadataName: "Modify_Program")
}

extension Tactic {
    static let persistence = Tactic(id: "TA0110", name: "Persistence", metadataName: "Persistence")
}

extension S7comm {
    /// S7comm's dangerous operations and reconnaissance (docs/s7comm.md, Commands).
    public enum Rules {
        public static let plcStop = Signature(2401, "s7comm.plc_stop", .dangerousOperation, severity: 1, .changeOperatingMode, confidence: 95, critical: true)
        public static let plcStart = Signature(2402, "s7comm.plc_start", .dangerousOperation, severity: 1, .changeOperatingMode, confidence: 90, critical: true)
        public static let programDownload = Signature(2403, "s7comm.program_download", .dangerousOperation, severity: 1, .programDownload, confidence: 95, critical: true)
        public static let programUpload = Signature(2404, "s7comm.program_upload", .dangerousOperation, severity: 2, .programUpload, confidence: 90)
        public static let blockDelete = Signature(2405, "s7comm.block_delete", .dangerousOperation, severity: 1, .dataDestruction, confidence: 95, critical: true)
        public static let writeVar = Signature(2406, "s7comm.write_var", .dangerousOperation, severity: 2, .modifyParameter, confidence: 90)
        public static let force = Signature(2407, "s7comm.force", .dangerousOperation, severity: 1, .manipulateIOImage, confidence: 85, critical: true)
        public static let memoryOperation = Signature(2408, "s7comm.memory_operation", .dangerousOperation, severity: 2, .modifyProgram, confidence: 85)
        public static let setClock = Signature(2409, "s7comm.set_clock", .dangerousOperation, severity: 3, .modifyParameter, confidence: 70)
        public static let identification = Signature(2410, "s7comm.read_identification", .reconnaissance, severity: 3, .remoteSystemInformation, confidence: 85)
        public static let blockDiscovery = Signature(2411, "s7comm.block_discovery", .reconnaissance, severity: 3, .remoteSystemInformation, confidence: 80)

        public static let all = [plcStop, plcStart, programDownload, programUpload, blockDelete, writeVar, force,
                                 memoryOperation, setClock, identification, blockDiscovery]

        /// The signature of a request, by its function (userdata: 0x1000 | group << 8 |
        /// subfunction) and, for PLC control, its service (the command's name).
        public static func of(_ c: Command) -> Signature? {
            switch c.function {
            case 0x29: return plcStop
            case 0x28:
                switch "\(c.name)" {
                case "plc_start": return plcStart
                case "plc_insert_block": return programDownload
                case "plc_delete_block": return blockDelete
                case "plc_copy_ram_to_rom", "plc_compress_memory": return memoryOperation
                default: return plcStart
                }
            case 0x1A, 0x1B, 0x1C: return programDownload
            case 0x1D, 0x1E, 0x1F: return programUpload
            case 0x05: return writeVar
            case 0x1110: return force
            case 0x1702, 0x1704: return setClock
            case 0x1401: return c.subfunction & 0xFF == 0x11 || c.subfunction & 0xFF == 0x1C ? identification : nil
            case 0x1301, 0x1302, 0x1303: return blockDiscovery
            default: return nil
            }
        }
    }

    static let identityKeys: [StaticString] = [
        "s7comm.order_code", "s7comm.firmware", "s7comm.module_type", "s7comm.module_name", "s7comm.serial_number",
        "s7comm.as_name", "s7comm.plant_id", "s7comm.copyright", "s7comm.memory_card_serial", "s7comm.location",
    ]

    /// What detection, the inventory, the policy and the map know of S7comm.
    public static let module = ProtocolModule(
        name: "s7comm", title: "S7comm", isFieldProtocol: true,
        anomalyBase: 1500, anomalies: Anomalies.all, signatures: Rules.all,
        commandRule: { c, _ in Rules.of(c) },
        describe: { c in
            var s = "\(c.name)"
            if let d = c.detail { s += " \(d)" }
            if let t = c.target, !t.isEmpty { s += " \(t)" }
            return s
        },
        roles: [RoleSpec("s7comm.server", .server, policyGroup: "ot_controller"),
                RoleSpec("s7comm.client", .client, policyGroup: "ot_master_hmi")],
        serverHint: RoleHint(criticality: 95, label: "OT control equipment (S7 PLC)"),
        clientHint: RoleHint(criticality: 70, label: "OT engineering station or HMI (S7 client)"),
        classify: { e, ev in
            if e.has("s7comm.server") {
                ev.add(.plc, 75, "answers S7comm jobs (S7 server)")
                if e.identity("s7comm.order_code") != nil { ev.add(.plc, 15, "reports an S7 module identification") }
            }
            if e.has("s7comm.client") {
                ev.fieldMaster(e, "issues S7comm jobs")
                if (e.issued["s7comm"] ?? 0) & (OperationClass.file.bit | OperationClass.control.bit) != 0 {
                    ev.add(.hmi, 15, "programs or starts and stops S7 PLCs")
                }
            }
        },
        identities: identityKeys.map { IdentitySpec($0) },
        software: { ids in
            guard let t = ids["s7comm.module_type"] ?? ids["s7comm.order_code"] else { return [] }
            return [[t, ids["s7comm.firmware"]].compactMap { $0 }.joined(separator: " ")]
        },
        color: "#17becf",
        baselineFact: { c, _ in
            let data = c.function == 0x04 || c.function == 0x05
            return BaselineFact(unit: c.unit, function: c.function, subfunction: c.subfunction, name: "\(c.name)",
                                range: data && c.addressCount > 0 ? c.addressStart...(c.addressStart &+ min(c.addressCount, 0xFFFF) &- 1) : nil,
                                checkRange: c.function == 0x05)
        },
        synthetic: SyntheticTraffic(serverPort: isoTSAPPort, defaultWeight: 20) { counter, random in
            // Read 4 bytes of DB1 at a random byte address; 4 random bytes back.
            let ref = UInt8(truncatingIfNeeded: counter)
            let address = UInt32(random.next() % 1000) << 3
            let item: [UInt8] = [0x12, 0x0A, 0x10, 0x02, 0x00, 0x04, 0x00, 0x01, 0x84,
                                 UInt8(address >> 16 & 0xFF), UInt8(address >> 8 & 0xFF), UInt8(address & 0xFF)]
            let job: [UInt8] = [0x32, 0x01, 0x00, 0x00, 0x00, ref, 0x00, 0x0E, 0x00, 0x00, 0x04, 0x01] + item
            var ack: [UInt8] = [0x32, 0x03, 0x00, 0x00, 0x00, ref, 0x00, 0x02, 0x00, 0x08, 0x00, 0x00, 0x04, 0x01, 0xFF, 0x04, 0x00, 0x20]
            for _ in 0..<4 { ack.append(UInt8(truncatingIfNeeded: random.next())) }
            func dt(_ s7: [UInt8]) -> [UInt8] { [0x03, 0x00, UInt8((s7.count + 7) >> 8), UInt8((s7.count + 7) & 0xFF), 0x02, 0xF0, 0x80] + s7 }
            return [(true, dt(job)), (false, dt(ack))]
        })
}

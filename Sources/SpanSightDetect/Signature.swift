/// The alert catalogue: every alert SpanSight can raise, with a stable number and name that are
/// never reused or renamed (docs/detection.md lists them with the test that shows each).

/// A MITRE ATT&CK for ICS tactic.
public struct Tactic: Sendable {
    public let id: StaticString
    public let name: StaticString
    /// The name as Emerging Threats' rule metadata writes it (spaces as underscores).
    public let metadataName: StaticString

    static let collection = Tactic(id: "TA0100", name: "Collection", metadataName: "Collection")
    static let discovery = Tactic(id: "TA0102", name: "Discovery", metadataName: "Discovery")
    static let evasion = Tactic(id: "TA0103", name: "Evasion", metadataName: "Evasion")
    static let execution = Tactic(id: "TA0104", name: "Execution", metadataName: "Execution")
    static let impact = Tactic(id: "TA0105", name: "Impact", metadataName: "Impact")
    static let impairProcessControl = Tactic(id: "TA0106", name: "Impair Process Control", metadataName: "Impair_Process_Control")
    static let inhibitResponseFunction = Tactic(id: "TA0107", name: "Inhibit Response Function", metadataName: "Inhibit_Response_Function")
    static let initialAccess = Tactic(id: "TA0108", name: "Initial Access", metadataName: "Initial_Access")
    static let lateralMovement = Tactic(id: "TA0109", name: "Lateral Movement", metadataName: "Lateral_Movement")
}

/// A MITRE ATT&CK for ICS technique, with the tactic it is listed under for these alerts.
public struct Technique: Sendable {
    public let id: StaticString
    public let name: StaticString
    public let tactic: Tactic
    /// The name as Emerging Threats' rule metadata writes it (spaces and slashes as underscores).
    public let metadataName: StaticString

    static let unauthorizedCommand = Technique(id: "T0855", name: "Unauthorized Command Message", tactic: .impairProcessControl, metadataName: "Unauthorized_Command_Message")
    static let modifyParameter = Technique(id: "T0836", name: "Modify Parameter", tactic: .impairProcessControl, metadataName: "Modify_Parameter")
    static let deviceRestart = Technique(id: "T0816", name: "Device Restart/Shutdown", tactic: .inhibitResponseFunction, metadataName: "Device_Restart_Shutdown")
    static let remoteSystemDiscovery = Technique(id: "T0846", name: "Remote System Discovery", tactic: .discovery, metadataName: "Remote_System_Discovery")
    static let remoteSystemInformation = Technique(id: "T0888", name: "Remote System Information Discovery", tactic: .discovery, metadataName: "Remote_System_Information_Discovery")
    static let denialOfService = Technique(id: "T0814", name: "Denial of Service", tactic: .inhibitResponseFunction, metadataName: "Denial_of_Service")
    static let programDownload = Technique(id: "T0843", name: "Program Download", tactic: .lateralMovement, metadataName: "Program_Download")
    static let changeOperatingMode = Technique(id: "T0858", name: "Change Operating Mode", tactic: .execution, metadataName: "Change_Operating_Mode")
    static let blockReporting = Technique(id: "T0804", name: "Block Reporting Message", tactic: .inhibitResponseFunction, metadataName: "Block_Reporting_Message")
    static let dataDestruction = Technique(id: "T0809", name: "Data Destruction", tactic: .inhibitResponseFunction, metadataName: "Data_Destruction")
    static let theftOfInformation = Technique(id: "T0882", name: "Theft of Operational Information", tactic: .impact, metadataName: "Theft_of_Operational_Information")
    static let adversaryInTheMiddle = Technique(id: "T0830", name: "Adversary-in-the-Middle", tactic: .collection, metadataName: "Adversary_in_the_Middle")
    static let masquerading = Technique(id: "T0849", name: "Masquerading", tactic: .evasion, metadataName: "Masquerading")
    static let rogueMaster = Technique(id: "T0848", name: "Rogue Master", tactic: .initialAccess, metadataName: "Rogue_Master")
    static let spoofReporting = Technique(id: "T0856", name: "Spoof Reporting Message", tactic: .evasion, metadataName: "Spoof_Reporting_Message")
    static let indicatorRemoval = Technique(id: "T0872", name: "Indicator Removal on Host", tactic: .evasion, metadataName: "Indicator_Removal_on_Host")
}

/// Alert categories.
public enum AlertCategory: UInt8, Sendable, CaseIterable {
    case protocolAnomaly, dangerousOperation, reconnaissance, availability, learnedDeviation, identityChange

    public var name: StaticString {
        switch self {
        case .protocolAnomaly: "protocol-anomaly"
        case .dangerousOperation: "dangerous-operation"
        case .reconnaissance: "reconnaissance"
        case .availability: "availability"
        case .learnedDeviation: "learned-deviation"
        case .identityChange: "identity-change"
        }
    }
}

/// One alert rule: stable id and name, category, Suricata-style severity (1 high, 2 medium,
/// 3 low), the technique it maps to, and how sure the rule is when it fires (0-100).
public struct Signature: Sendable {
    public let id: Int
    public let name: StaticString
    public let category: AlertCategory
    public let severity: Int
    public let technique: Technique?
    public let confidence: Int
    /// Raised even when a baseline allows the command (restarts, listen-only, programming).
    public let critical: Bool
    /// The address the alert is about is the one acting (a new talker), not the one acted
    /// upon: Suricata's `alert.source` is then that address and `target` the other end.
    public let subjectActs: Bool

    init(_ id: Int, _ name: StaticString, _ category: AlertCategory, severity: Int, _ technique: Technique?,
         confidence: Int, critical: Bool = false, subjectActs: Bool = false) {
        self.subjectActs = subjectActs
        self.id = id
        self.name = name
        self.category = category
        self.severity = severity
        self.technique = technique
        self.confidence = confidence
        self.critical = critical
    }

    /// Suricata's `signature_id`: SpanSight's number in the local range (1,000,000 + the
    /// catalogue number; docs/detection.md), never reused.
    public var sid: Int { 1_000_000 + id }
    /// The rule's revision (`rev`): raised when a rule's meaning changes.
    public var rev: Int { 1 }

    /// Emerging Threats' `signature_severity` metadata.
    public var etSeverity: StaticString {
        switch severity {
        case 1: "Major"
        case 2: "Minor"
        default: "Informational"
        }
    }

    public var severityName: StaticString {
        switch severity {
        case 1: "high"
        case 2: "medium"
        default: "low"
        }
    }
}

public enum Signatures {
    // MARK: protocol anomalies reported by the dissectors (1000-1299)
    static let anomalies: [(StaticString, Signature)] = [
        ("modbus.invalid_length", Signature(1001, "modbus.invalid_length", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("modbus.invalid_protocol_id", Signature(1002, "modbus.invalid_protocol_id", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("modbus.malformed_pdu", Signature(1003, "modbus.malformed_pdu", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("modbus.function_mismatch", Signature(1004, "modbus.function_mismatch", .protocolAnomaly, severity: 3, nil, confidence: 60)),
        ("modbus.invalid_byte_count", Signature(1005, "modbus.invalid_byte_count", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("modbus.invalid_coil_value", Signature(1006, "modbus.invalid_coil_value", .protocolAnomaly, severity: 2, nil, confidence: 80)),
        ("modbus.invalid_quantity", Signature(1007, "modbus.invalid_quantity", .protocolAnomaly, severity: 2, nil, confidence: 80)),
        ("modbus.resync", Signature(1008, "modbus.resync", .protocolAnomaly, severity: 3, nil, confidence: 50)),
        ("modbus.too_many_transactions", Signature(1009, "modbus.too_many_transactions", .availability, severity: 2, .denialOfService, confidence: 70)),
        ("modbus.unanswered_request", Signature(1010, "modbus.unanswered_request", .availability, severity: 3, nil, confidence: 50)),
        ("modbus.unit_id_mismatch", Signature(1011, "modbus.unit_id_mismatch", .protocolAnomaly, severity: 3, nil, confidence: 60)),
        ("modbus.unsolicited_response", Signature(1012, "modbus.unsolicited_response", .protocolAnomaly, severity: 2, .spoofReporting, confidence: 60)),
        ("dnp3.bad_link_crc", Signature(1101, "dnp3.bad_link_crc", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("dnp3.bad_transport_crc", Signature(1102, "dnp3.bad_transport_crc", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("dnp3.direction_bit_mismatch", Signature(1103, "dnp3.direction_bit_mismatch", .protocolAnomaly, severity: 2, .rogueMaster, confidence: 60)),
        ("dnp3.flooded", Signature(1104, "dnp3.flooded", .availability, severity: 2, .denialOfService, confidence: 70)),
        ("dnp3.header_lacks_magic", Signature(1105, "dnp3.header_lacks_magic", .protocolAnomaly, severity: 3, nil, confidence: 60)),
        ("dnp3.len_too_small", Signature(1106, "dnp3.len_too_small", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("dnp3.malformed", Signature(1107, "dnp3.malformed", .protocolAnomaly, severity: 3, nil, confidence: 70)),
        ("dnp3.too_long_reassembly", Signature(1108, "dnp3.too_long_reassembly", .protocolAnomaly, severity: 2, nil, confidence: 70)),
        ("dnp3.too_many_objects", Signature(1109, "dnp3.too_many_objects", .protocolAnomaly, severity: 2, nil, confidence: 70)),
        ("dnp3.too_many_points", Signature(1110, "dnp3.too_many_points", .protocolAnomaly, severity: 2, nil, confidence: 70)),
        ("dnp3.transport_missing_fir", Signature(1111, "dnp3.transport_missing_fir", .protocolAnomaly, severity: 3, nil, confidence: 60)),
        ("dnp3.transport_out_of_sequence", Signature(1112, "dnp3.transport_out_of_sequence", .protocolAnomaly, severity: 3, nil, confidence: 60)),
        ("dnp3.truncated_frame", Signature(1113, "dnp3.truncated_frame", .protocolAnomaly, severity: 3, nil, confidence: 60)),
        ("dnp3.unknown_function_code", Signature(1114, "dnp3.unknown_function_code", .protocolAnomaly, severity: 2, nil, confidence: 70)),
        ("dnp3.unknown_object", Signature(1115, "dnp3.unknown_object", .protocolAnomaly, severity: 3, nil, confidence: 60)),
    ]
    /// Any other dissector anomaly (HL7, DICOM and names added later): the name is the detail.
    static let otherAnomaly = Signature(1199, "applayer.anomaly", .protocolAnomaly, severity: 3, nil, confidence: 50)
    static let controlGap = Signature(1201, "stream.gap_in_control_traffic", .protocolAnomaly, severity: 3, nil, confidence: 50)

    // MARK: dangerous operations (2000-2399)
    static let modbusWriteCoils = Signature(2001, "modbus.write_coils", .dangerousOperation, severity: 2, .unauthorizedCommand, confidence: 95)
    static let modbusWriteRegisters = Signature(2002, "modbus.write_registers", .dangerousOperation, severity: 2, .modifyParameter, confidence: 95)
    static let modbusListenOnly = Signature(2003, "modbus.force_listen_only", .dangerousOperation, severity: 1, .denialOfService, confidence: 95, critical: true)
    static let modbusRestart = Signature(2004, "modbus.restart_communications", .dangerousOperation, severity: 1, .deviceRestart, confidence: 95, critical: true)
    static let modbusDeviceID = Signature(2005, "modbus.read_device_identification", .reconnaissance, severity: 3, .remoteSystemInformation, confidence: 90)
    static let modbusReportServerID = Signature(2006, "modbus.report_server_id", .reconnaissance, severity: 3, .remoteSystemInformation, confidence: 90)
    static let modbusUserDefined = Signature(2007, "modbus.user_defined_function", .dangerousOperation, severity: 2, .unauthorizedCommand, confidence: 80)
    static let modbusProgramming = Signature(2008, "modbus.programming_function", .dangerousOperation, severity: 1, .programDownload, confidence: 85, critical: true)
    static let modbusWriteFile = Signature(2009, "modbus.write_file_record", .dangerousOperation, severity: 2, .modifyParameter, confidence: 90)
    static let modbusClearCounters = Signature(2010, "modbus.clear_diagnostics", .dangerousOperation, severity: 3, .indicatorRemoval, confidence: 80)

    static let dnp3ColdRestart = Signature(2101, "dnp3.cold_restart", .dangerousOperation, severity: 1, .deviceRestart, confidence: 95, critical: true)
    static let dnp3WarmRestart = Signature(2102, "dnp3.warm_restart", .dangerousOperation, severity: 1, .deviceRestart, confidence: 95, critical: true)
    static let dnp3ApplicationControl = Signature(2103, "dnp3.application_control", .dangerousOperation, severity: 1, .changeOperatingMode, confidence: 90, critical: true)
    static let dnp3DisableUnsolicited = Signature(2104, "dnp3.disable_unsolicited", .dangerousOperation, severity: 2, .blockReporting, confidence: 85)
    static let dnp3Write = Signature(2105, "dnp3.write", .dangerousOperation, severity: 2, .modifyParameter, confidence: 85)
    static let dnp3Operate = Signature(2106, "dnp3.operate", .dangerousOperation, severity: 2, .unauthorizedCommand, confidence: 95)
    static let dnp3FileOperation = Signature(2107, "dnp3.file_operation", .dangerousOperation, severity: 2, .programDownload, confidence: 80)
    static let dnp3TimeChange = Signature(2108, "dnp3.time_change", .dangerousOperation, severity: 3, .modifyParameter, confidence: 70)

    static let dicomMoveElsewhere = Signature(2201, "dicom.retrieve_to_other_destination", .dangerousOperation, severity: 2, .theftOfInformation, confidence: 75)
    static let dicomDelete = Signature(2202, "dicom.n_delete", .dangerousOperation, severity: 2, .dataDestruction, confidence: 85)

    static let hl7RecordMerge = Signature(2301, "hl7.record_merge", .dangerousOperation, severity: 2, nil, confidence: 70)

    // MARK: reconnaissance and floods over sliding windows (3000-3099)
    static let modbusUnitSweep = Signature(3001, "modbus.unit_id_sweep", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 85)
    static let modbusFunctionSweep = Signature(3002, "modbus.function_code_sweep", .reconnaissance, severity: 2, .remoteSystemInformation, confidence: 75)
    static let dnp3AddressSweep = Signature(3003, "dnp3.address_sweep", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 85)
    static let dicomAEProbe = Signature(3004, "dicom.called_ae_probe", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 85)
    static let dicomRejections = Signature(3005, "dicom.rejected_associations", .reconnaissance, severity: 2, .remoteSystemDiscovery, confidence: 70)
    static let hl7NackStorm = Signature(3006, "hl7.nack_storm", .availability, severity: 2, nil, confidence: 70)

    // MARK: deviations from a learned baseline (4000-4099)
    static let newTalker = Signature(4001, "baseline.new_talker", .learnedDeviation, severity: 3, nil, confidence: 60, subjectActs: true)
    static let newPair = Signature(4002, "baseline.new_pair", .learnedDeviation, severity: 2, nil, confidence: 70)
    static let newCommand = Signature(4003, "baseline.new_command", .learnedDeviation, severity: 2, .unauthorizedCommand, confidence: 75)
    static let writeOutsideRange = Signature(4004, "baseline.write_outside_range", .learnedDeviation, severity: 1, .modifyParameter, confidence: 80)
    static let rateAboveEnvelope = Signature(4005, "baseline.rate_above_envelope", .learnedDeviation, severity: 2, .denialOfService, confidence: 60)
    static let newApplication = Signature(4006, "baseline.new_application_identity", .learnedDeviation, severity: 2, .masquerading, confidence: 65)

    // MARK: identity changes reported by the asset inventory (5000-5099)
    static let macMoved = Signature(5001, "asset.mac_moved", .identityChange, severity: 2, .adversaryInTheMiddle, confidence: 60)
    static let ipMoved = Signature(5002, "asset.ip_moved", .identityChange, severity: 2, .adversaryInTheMiddle, confidence: 60)
    static let deviceIDChanged = Signature(5003, "asset.device_id_changed", .identityChange, severity: 2, .masquerading, confidence: 75)
    static let osChanged = Signature(5004, "asset.os_fingerprint_changed", .identityChange, severity: 2, .masquerading, confidence: 60)
    static let roleChanged = Signature(5005, "asset.role_changed", .identityChange, severity: 3, nil, confidence: 50)
    static let otherChange = Signature(5099, "asset.identity_changed", .identityChange, severity: 3, nil, confidence: 50)

    /// Every signature, by id.
    public static let all: [Signature] = {
        var list = anomalies.map(\.1)
        list += [otherAnomaly, controlGap,
                 modbusWriteCoils, modbusWriteRegisters, modbusListenOnly, modbusRestart, modbusDeviceID,
                 modbusReportServerID, modbusUserDefined, modbusProgramming, modbusWriteFile, modbusClearCounters,
                 dnp3ColdRestart, dnp3WarmRestart, dnp3ApplicationControl, dnp3DisableUnsolicited, dnp3Write,
                 dnp3Operate, dnp3FileOperation, dnp3TimeChange, dicomMoveElsewhere, dicomDelete, hl7RecordMerge,
                 modbusUnitSweep, modbusFunctionSweep, dnp3AddressSweep, dicomAEProbe, dicomRejections, hl7NackStorm,
                 newTalker, newPair, newCommand, writeOutsideRange, rateAboveEnvelope, newApplication,
                 macMoved, ipMoved, deviceIDChanged, osChanged, roleChanged, otherChange]
        return list.sorted { $0.id < $1.id }
    }()

    static let anomalyTable: [String: Signature] = Dictionary(uniqueKeysWithValues: anomalies.map { ($0.0.description, $0.1) })
    static let table: [Int: Signature] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })

    public static func byID(_ id: Int) -> Signature? { table[id] }

    /// The signature of a dissector anomaly.
    static func anomaly(_ name: StaticString) -> Signature {
        anomalyTable[name.description] ?? otherAnomaly
    }

    /// The signature of an inventory change.
    static func change(_ kind: StaticString) -> Signature {
        switch kind.description {
        case "mac_moved": macMoved
        case "ip_moved": ipMoved
        case "device_id_changed": deviceIDChanged
        case "os_fingerprint_changed": osChanged
        case "role_changed": roleChanged
        default: otherChange
        }
    }
}

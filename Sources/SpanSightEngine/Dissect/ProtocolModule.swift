import SpanSightWire

// The protocol module surface: what a protocol's folder tells the rest of SpanSight besides
// its parser. Detection, the inventory, the policy and the map iterate over the registered
// modules and never name a protocol themselves (docs/architecture.md#adding-a-protocol).

// MARK: - alerts: ATT&CK for ICS, categories, signatures

/// A MITRE ATT&CK for ICS tactic.
public struct Tactic: Sendable {
    public let id: StaticString
    public let name: StaticString
    /// The name as Emerging Threats' rule metadata writes it (spaces as underscores).
    public let metadataName: StaticString

    public init(id: StaticString, name: StaticString, metadataName: StaticString) {
        self.id = id
        self.name = name
        self.metadataName = metadataName
    }

    public static let collection = Tactic(id: "TA0100", name: "Collection", metadataName: "Collection")
    public static let discovery = Tactic(id: "TA0102", name: "Discovery", metadataName: "Discovery")
    public static let evasion = Tactic(id: "TA0103", name: "Evasion", metadataName: "Evasion")
    public static let execution = Tactic(id: "TA0104", name: "Execution", metadataName: "Execution")
    public static let impact = Tactic(id: "TA0105", name: "Impact", metadataName: "Impact")
    public static let impairProcessControl = Tactic(id: "TA0106", name: "Impair Process Control", metadataName: "Impair_Process_Control")
    public static let inhibitResponseFunction = Tactic(id: "TA0107", name: "Inhibit Response Function", metadataName: "Inhibit_Response_Function")
    public static let initialAccess = Tactic(id: "TA0108", name: "Initial Access", metadataName: "Initial_Access")
    public static let lateralMovement = Tactic(id: "TA0109", name: "Lateral Movement", metadataName: "Lateral_Movement")
}

/// A MITRE ATT&CK for ICS technique, with the tactic it is listed under for these alerts.
public struct Technique: Sendable {
    public let id: StaticString
    public let name: StaticString
    public let tactic: Tactic
    /// The name as Emerging Threats' rule metadata writes it (spaces and slashes as underscores).
    public let metadataName: StaticString

    public init(id: StaticString, name: StaticString, tactic: Tactic, metadataName: StaticString) {
        self.id = id
        self.name = name
        self.tactic = tactic
        self.metadataName = metadataName
    }

    public static let unauthorizedCommand = Technique(id: "T0855", name: "Unauthorized Command Message", tactic: .impairProcessControl, metadataName: "Unauthorized_Command_Message")
    public static let modifyParameter = Technique(id: "T0836", name: "Modify Parameter", tactic: .impairProcessControl, metadataName: "Modify_Parameter")
    public static let deviceRestart = Technique(id: "T0816", name: "Device Restart/Shutdown", tactic: .inhibitResponseFunction, metadataName: "Device_Restart_Shutdown")
    public static let remoteSystemDiscovery = Technique(id: "T0846", name: "Remote System Discovery", tactic: .discovery, metadataName: "Remote_System_Discovery")
    public static let remoteSystemInformation = Technique(id: "T0888", name: "Remote System Information Discovery", tactic: .discovery, metadataName: "Remote_System_Information_Discovery")
    public static let denialOfService = Technique(id: "T0814", name: "Denial of Service", tactic: .inhibitResponseFunction, metadataName: "Denial_of_Service")
    public static let programDownload = Technique(id: "T0843", name: "Program Download", tactic: .lateralMovement, metadataName: "Program_Download")
    public static let changeOperatingMode = Technique(id: "T0858", name: "Change Operating Mode", tactic: .execution, metadataName: "Change_Operating_Mode")
    public static let blockReporting = Technique(id: "T0804", name: "Block Reporting Message", tactic: .inhibitResponseFunction, metadataName: "Block_Reporting_Message")
    public static let dataDestruction = Technique(id: "T0809", name: "Data Destruction", tactic: .inhibitResponseFunction, metadataName: "Data_Destruction")
    public static let theftOfInformation = Technique(id: "T0882", name: "Theft of Operational Information", tactic: .impact, metadataName: "Theft_of_Operational_Information")
    public static let adversaryInTheMiddle = Technique(id: "T0830", name: "Adversary-in-the-Middle", tactic: .collection, metadataName: "Adversary_in_the_Middle")
    public static let masquerading = Technique(id: "T0849", name: "Masquerading", tactic: .evasion, metadataName: "Masquerading")
    public static let rogueMaster = Technique(id: "T0848", name: "Rogue Master", tactic: .initialAccess, metadataName: "Rogue_Master")
    public static let spoofReporting = Technique(id: "T0856", name: "Spoof Reporting Message", tactic: .evasion, metadataName: "Spoof_Reporting_Message")
    public static let indicatorRemoval = Technique(id: "T0872", name: "Indicator Removal on Host", tactic: .evasion, metadataName: "Indicator_Removal_on_Host")
    public static let serviceStop = Technique(id: "T0881", name: "Service Stop", tactic: .inhibitResponseFunction, metadataName: "Service_Stop")
    public static let programUpload = Technique(id: "T0845", name: "Program Upload", tactic: .collection, metadataName: "Program_Upload")
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

    public init(_ id: Int, _ name: StaticString, _ category: AlertCategory, severity: Int, _ technique: Technique?,
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


// MARK: - anomalies

/// An anomaly a dissector can report, in its protocol's catalogue: the stable name (typed only
/// here; sessions report the value) and how detection rates it. The alert's signature id is
/// derived: the protocol's `anomalyBase` + `number`.
public struct Anomaly: Sendable {
    /// Its number in the catalogue (1-99), never reused or renumbered.
    public let number: Int
    /// "modbus.invalid_length": the protocol's name, a dot, snake_case.
    public let name: StaticString
    public let category: AlertCategory
    /// Suricata-style: 1 high, 2 medium, 3 low.
    public let severity: Int
    /// How sure an alert on it is (0-100).
    public let confidence: Int
    public let technique: Technique?

    public init(_ number: Int, _ name: StaticString, _ category: AlertCategory = .protocolAnomaly, severity: Int = 3,
                confidence: Int = 60, _ technique: Technique? = nil) {
        self.number = number
        self.name = name
        self.category = category
        self.severity = severity
        self.confidence = confidence
        self.technique = technique
    }
}

// MARK: - detection rules a protocol brings

/// Identities the observations of one flow gave its endpoints (DICOM AE titles, HL7
/// application and facility), for the rules and facts that need them; only the keys the
/// flow's module lists in `flowIdentityKeys` are kept.
public struct FlowIdentities: Sendable {
    public private(set) var entries: [(side: Side, key: StaticString, value: String)] = []
    public init() {}

    public func value(_ side: Side, _ key: StaticString) -> String? {
        entries.last { $0.side == side && $0.key.utf8CodeUnitCount == key.utf8CodeUnitCount && $0.key.description == key.description }?.value
    }

    public mutating func set(_ side: Side, _ key: StaticString, _ value: String) {
        if let i = entries.firstIndex(where: { $0.side == side && $0.key.description == key.description }) {
            entries[i].value = value
        } else {
            entries.append((side, key, value))
        }
    }
}

/// Distinct values of one command attribute from one issuer to one target within the
/// detection window (a sweep or a probe); alerts once a window when `threshold` are reached.
public struct SweepRule: Sendable {
    public let signature: Signature
    /// The threshold's name in `DetectConfig.thresholds` and on the command line
    /// (`--<name>-threshold`): "unit-sweep".
    public let thresholdName: StaticString
    public let defaultThreshold: Int
    /// What is counted, in the alert's text: "unit ids".
    public let what: StaticString
    /// The value of a command (nil: the command does not count).
    public let value: @Sendable (Command, FlowIdentities) -> UInt64?

    public init(_ signature: Signature, threshold name: StaticString, default value: Int, counting what: StaticString,
                _ extract: @escaping @Sendable (Command, FlowIdentities) -> UInt64?) {
        self.signature = signature
        thresholdName = name
        defaultThreshold = value
        self.what = what
        self.value = extract
    }
}

/// Outcomes of one kind (rejected associations, negative acknowledgments) from one client to
/// one server within the window; alerts once a window at `threshold`.
public struct OutcomeRule: Sendable {
    public let signature: Signature
    public let thresholdName: StaticString
    public let defaultThreshold: Int
    public let what: StaticString
    public let matches: @Sendable (_ name: StaticString, _ success: Bool) -> Bool

    public init(_ signature: Signature, threshold name: StaticString, default value: Int, counting what: StaticString,
                _ matches: @escaping @Sendable (_ name: StaticString, _ success: Bool) -> Bool) {
        self.signature = signature
        thresholdName = name
        defaultThreshold = value
        self.what = what
        self.matches = matches
    }
}

// MARK: - inventory hints

/// A protocol role ("modbus.server") and the side of the flow that plays it.
public struct RoleSpec: Sendable {
    public let name: StaticString
    public let side: Side
    /// The segmentation policy's device group of a talker in this role ("ot_controller").
    public let policyGroup: StaticString
    public init(_ name: StaticString, _ side: Side, policyGroup: StaticString) {
        self.name = name
        self.side = side
        self.policyGroup = policyGroup
    }
}

/// What detection assumes of a flow's endpoint without an inventory: how critical a device in
/// this role is (0-100) and how to say so.
public struct RoleHint: Sendable {
    public var criticality: Int
    public var label: String
    public init(criticality: Int, label: String) {
        self.criticality = criticality
        self.label = label
    }
    public static let unclassified = RoleHint(criticality: 50, label: "unclassified host")
}

/// An identity key a protocol reports ("dicom.ae_title").
public struct IdentitySpec: Sendable {
    public let key: StaticString
    /// A device may hold several values at once (a PACS answers to several AE titles): a new
    /// value is another one, not a change.
    public let multiValued: Bool
    public init(_ key: StaticString, multiValued: Bool = false) {
        self.key = key
        self.multiValued = multiValued
    }
}

/// What the inventory knows of one host, for the classification rules of the modules.
public struct HostEvidence: Sendable {
    public var roles: Set<String>
    /// The first value of each identity key (the host's and its child devices').
    public var identities: [String: String]
    /// Operation classes (`OperationClass.bit`) this host issued as a client, and received as a
    /// server, per application protocol.
    public var issued: [String: UInt16] = [:]
    public var received: [String: UInt16] = [:]
    /// Distinct servers of field protocols (`ProtocolModule.isFieldProtocol`) this host polled,
    /// and whether it wrote to or controlled any of them.
    public var fieldServersPolled = 0
    public var wroteToFieldDevices = false

    public init(roles: Set<String>, identities: [String: String]) {
        self.roles = roles
        self.identities = identities
    }

    public func has(_ role: StaticString) -> Bool { roles.contains(role.description) }
    public func identity(_ key: StaticString) -> String? { identities[key.description] }
    /// Whether the host issued (as a client of `app`) or received (as its server) an operation of this class.
    public func issued(_ app: StaticString, _ op: OperationClass) -> Bool { (issued[app.description] ?? 0) & op.bit != 0 }
    public func received(_ app: StaticString, _ op: OperationClass) -> Bool { (received[app.description] ?? 0) & op.bit != 0 }
}

/// Weighted evidence for device classes: each rule adds weight to a class with a reason; the
/// heaviest class wins (the inventory's classifier).
public struct ClassEvidence: Sendable {
    public private(set) var score: [DeviceClass: Int] = [:]
    public private(set) var reasons: [DeviceClass: [String]] = [:]
    private var masterCounted = false
    public init() {}

    public mutating func add(_ c: DeviceClass, _ weight: Int, _ why: String) {
        score[c, default: 0] += weight
        reasons[c, default: []].append(why)
    }

    /// A master of field protocols: a historian when it polls three or more field devices
    /// and never writes, else an HMI or engineering workstation. Counted once, however many
    /// field protocols the host masters (the first module's reason is kept).
    public mutating func fieldMaster(_ e: HostEvidence, _ why: String) {
        guard !masterCounted else { return }
        masterCounted = true
        if !e.wroteToFieldDevices && e.fieldServersPolled >= 3 {
            add(.historian, 55, "reads from \(e.fieldServersPolled) field devices and never writes")
        } else {
            add(.hmi, 60, why)
            if e.wroteToFieldDevices { add(.hmi, 15, "writes to field devices") }
        }
    }
}

// MARK: - the module

/// Everything SpanSight knows of one protocol outside its parser, declared in the protocol's
/// folder next to it (`Modbus.module`, ...). The dissector entry carries it; observers get it
/// as the flow's `app`. Immutable.
public final class ProtocolModule: Sendable {
    /// The `app_proto` name in events ("modbus").
    public let name: StaticString
    /// The name in prose ("Modbus").
    public let title: StaticString
    /// A control protocol of field devices (PLCs, RTUs): reassembly gaps in it alert, and its
    /// masters are HMIs or historians.
    public let isFieldProtocol: Bool
    /// Signature ids of the anomalies: `anomalyBase` + their number (docs/detection.md).
    public let anomalyBase: Int
    public let anomalies: [Anomaly]
    /// The protocol's own rules: dangerous operations, sweeps, outcome rates.
    public let signatures: [Signature]
    /// The dangerous-operation signature of a command, if any.
    public let commandRule: @Sendable (Command, FlowIdentities) -> Signature?
    public let sweeps: [SweepRule]
    public let outcomes: [OutcomeRule]
    /// A command in an alert's text.
    public let describe: @Sendable (Command) -> String
    public let roles: [RoleSpec]
    /// Criticality and label of the server and the client side without an inventory.
    public let serverHint: RoleHint
    public let clientHint: RoleHint
    /// Adds the evidence this protocol gives for a host's device class.
    public let classify: @Sendable (HostEvidence, inout ClassEvidence) -> Void
    public let identities: [IdentitySpec]
    /// Identity keys detection keeps per flow (`FlowIdentities`).
    public let flowIdentityKeys: [StaticString]
    /// Product strings ("Pymodbus 3.16.1") from one device's identities (first value per key).
    public let software: @Sendable ([String: String]) -> [String]
    /// Its colour in the communication map.
    public let color: StaticString
    /// The baseline fact of a command (nil: the protocol's commands are not learned).
    public let baselineFact: @Sendable (Command, FlowIdentities) -> BaselineFact?
    /// Its traffic in synthetic benchmark captures (nil: none).
    public let synthetic: SyntheticTraffic?

    /// Anomaly signatures by name.
    private let anomalySignatures: [String: Signature]

    public init(name: StaticString, title: StaticString, isFieldProtocol: Bool = false, anomalyBase: Int = 0,
                anomalies: [Anomaly] = [], signatures: [Signature] = [],
                commandRule: @escaping @Sendable (Command, FlowIdentities) -> Signature? = { _, _ in nil },
                sweeps: [SweepRule] = [], outcomes: [OutcomeRule] = [],
                describe: (@Sendable (Command) -> String)? = nil,
                roles: [RoleSpec] = [], serverHint: RoleHint = .unclassified, clientHint: RoleHint = .unclassified,
                classify: @escaping @Sendable (HostEvidence, inout ClassEvidence) -> Void = { _, _ in },
                identities: [IdentitySpec] = [], flowIdentityKeys: [StaticString] = [],
                software: @escaping @Sendable ([String: String]) -> [String] = { _ in [] },
                color: StaticString = "#7f7f7f",
                baselineFact: @escaping @Sendable (Command, FlowIdentities) -> BaselineFact? = { _, _ in nil },
                synthetic: SyntheticTraffic? = nil) {
        self.name = name
        self.title = title
        self.isFieldProtocol = isFieldProtocol
        self.anomalyBase = anomalyBase
        self.anomalies = anomalies
        self.signatures = signatures
        self.commandRule = commandRule
        self.sweeps = sweeps
        self.outcomes = outcomes
        self.describe = describe ?? ProtocolModule.describeGeneric
        self.roles = roles
        self.serverHint = serverHint
        self.clientHint = clientHint
        self.classify = classify
        self.identities = identities
        self.flowIdentityKeys = flowIdentityKeys
        self.software = software
        self.color = color
        self.baselineFact = baselineFact
        self.synthetic = synthetic
        var table: [String: Signature] = [:]
        for a in anomalies {
            precondition((1...99).contains(a.number), "\(a.name): anomaly numbers are 1-99")
            precondition(table[a.name.description] == nil, "\(a.name) twice in the catalogue")
            table[a.name.description] = Signature(anomalyBase + a.number, a.name, a.category, severity: a.severity,
                                                  a.technique, confidence: a.confidence)
        }
        anomalySignatures = table
    }

    /// The signature of one of this protocol's anomalies (nil: not in its catalogue).
    public func signature(ofAnomaly name: StaticString) -> Signature? { anomalySignatures[name.description] }

    /// Every signature the module brings: its anomalies' and its rules', by id.
    public var allSignatures: [Signature] {
        (anomalies.compactMap { signature(ofAnomaly: $0.name) } + signatures).sorted { $0.id < $1.id }
    }

    /// The hint for one side of a flow of this protocol.
    public func hint(_ side: Side) -> RoleHint { side == .server ? serverHint : clientHint }

    /// "name detail -> target".
    @Sendable public static func describeGeneric(_ c: Command) -> String {
        var s = "\(c.name)"
        if let d = c.detail { s += " \(d)" }
        if let t = c.target, !t.isEmpty { s += " -> \(t)" }
        return s
    }
}

/// Options the command line gives the dissectors (`Registry.entries`).
public struct DissectorOptions: Sendable {
    /// Secret for keyed pseudonyms of personal identifiers (patient ids); nil: none are written.
    public var pseudonymKey: [UInt8]?
    public init(pseudonymKey: [UInt8]? = nil) { self.pseudonymKey = pseudonymKey }
}

/// How a command is learned into a baseline and checked against it (`spansight learn`,
/// `--baseline`): the key it is filed under within its client -> server pair, and what a later
/// command must stay within.
public struct BaselineFact: Sendable {
    /// Identities the entry is scoped by beyond the two addresses (DICOM calling and called AE
    /// titles, HL7 sending and receiving application^facility); empty for field protocols. A
    /// command under a scope never learned raises `baseline.new_application_identity`.
    public var scope: [String]
    /// Unit or device address, function and sub-function where the protocol has them (0 otherwise).
    public var unit: UInt32
    public var function: UInt16
    public var subfunction: UInt16
    /// The command's stable name: its label in the baseline file and the policy.
    public var name: String
    /// Addresses it touches (learned as merged ranges).
    public var range: ClosedRange<UInt32>?
    /// A write: its range must be within the learned ranges (else `baseline.write_outside_range`).
    public var checkRange: Bool
    /// Named values it must stay within (DNP3 object groups, DICOM SOP classes): learned as sets.
    public var attributes: [(name: StaticString, values: [String])]

    public init(scope: [String] = [], unit: UInt32 = 0, function: UInt16 = 0, subfunction: UInt16 = 0, name: String,
                range: ClosedRange<UInt32>? = nil, checkRange: Bool = false,
                attributes: [(name: StaticString, values: [String])] = []) {
        self.scope = scope
        self.unit = unit
        self.function = function
        self.subfunction = subfunction
        self.name = name
        self.range = range
        self.checkRange = checkRange
        self.attributes = attributes
    }
}

/// The random stream of `spansight synth` (xorshift64), shared by the protocols' exchanges so
/// that one seed gives one capture.
public struct SynthRandom: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9 : seed }
    public mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
}

/// A protocol's traffic in `spansight synth` captures (benchmarks only, never fixtures: those
/// come from real implementations): one exchange on a long-lived TCP connection.
public struct SyntheticTraffic: Sendable {
    /// The server's port.
    public let serverPort: UInt16
    /// Its weight in the default `--mix`.
    public let defaultWeight: Int
    /// The payloads of the connection's `counter`-th exchange, in order, each from the client or not.
    public let exchange: @Sendable (_ counter: UInt16, _ random: inout SynthRandom) -> [(fromClient: Bool, payload: [UInt8])]

    public init(serverPort: UInt16, defaultWeight: Int,
                exchange: @escaping @Sendable (_ counter: UInt16, _ random: inout SynthRandom) -> [(fromClient: Bool, payload: [UInt8])]) {
        self.serverPort = serverPort
        self.defaultWeight = defaultWeight
        self.exchange = exchange
    }
}

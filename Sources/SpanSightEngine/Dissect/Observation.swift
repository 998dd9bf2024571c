import SpanSightWire

/// Which endpoint of a flow an observation is about (flows are oriented client -> server).
public enum Side: UInt8, Sendable {
    case client = 0
    case server = 1

    public var other: Side { self == .client ? .server : .client }
}

/// What a command does, coarsely: the classes the communication map and the detection rules
/// reason about.
public enum OperationClass: UInt8, Sendable, CaseIterable, BitwiseCopyable {
    case read = 0
    case write
    /// Operate a process output, start/stop/restart a device or application.
    case control
    case diagnostics
    case file
    /// DICOM association, HL7 message exchange and other session-level operations.
    case association
    /// Clock reads and changes.
    case time
    /// Identification and discovery requests (Modbus 17/43, DNP3 device attributes, C-ECHO).
    case discovery
    case other

    public var name: StaticString {
        switch self {
        case .read: "read"
        case .write: "write"
        case .control: "control"
        case .diagnostics: "diagnostics"
        case .file: "file"
        case .association: "association"
        case .time: "time"
        case .discovery: "discovery"
        case .other: "other"
        }
    }

    @inlinable @inline(__always) public var bit: UInt16 { 1 << UInt16(rawValue) }
}

/// One command seen on the wire, at the level the learned allowlists and the rules work on.
public struct Command: Sendable {
    /// The side that issued it (the client for requests; the server for DNP3 unsolicited
    /// responses and HL7 messages sent by the accepting side).
    public var issuer: Side = .client
    public var operation: OperationClass
    /// The raw function / command / message code (Modbus FC, DNP3 FC, DIMSE command field).
    public var function: UInt16
    /// Its stable snake_case name ("write_multiple_registers", "cold_restart", "c_store_rq").
    public var name: StaticString
    /// Modbus unit id, DNP3 destination link address; 0 where the protocol has none.
    public var unit: UInt32 = 0
    /// First data address and number of items, for commands that address data (0 count: none).
    public var addressStart: UInt32 = 0
    public var addressCount: UInt32 = 0
    /// Sub-function where one exists (Modbus 8 diagnostics, 43 MEI type).
    public var subfunction: UInt16 = 0
    /// Protocol detail in text, built only when observing: DNP3 object groups ("g12v1 g41v2"),
    /// DICOM affected SOP class UID, HL7 message type ("ADT^A01").
    public var detail: String? = nil
    /// A second text detail: DICOM move destination, HL7 sending application^facility.
    public var target: String? = nil

    public init(issuer: Side = .client, operation: OperationClass, function: UInt16,
                name: StaticString, unit: UInt32 = 0, addressStart: UInt32 = 0,
                addressCount: UInt32 = 0, subfunction: UInt16 = 0,
                detail: String? = nil, target: String? = nil) {
        self.issuer = issuer
        self.operation = operation
        self.function = function
        self.name = name
        self.unit = unit
        self.addressStart = addressStart
        self.addressCount = addressCount
        self.subfunction = subfunction
        self.detail = detail
        self.target = target
    }
}

/// What a dissector learned about the endpoints of its flow, for the asset inventory and the
/// detection engine. Sessions build them only when `DissectContext.observing` is true.
public enum Observation: Sendable {
    /// The endpoint acts in a protocol role: "modbus.client", "modbus.server", "dnp3.master",
    /// "dnp3.outstation", "hl7.sender", "hl7.receiver", "dicom.scu", "dicom.scp".
    case role(Side, StaticString)
    /// An identity read from the protocol itself, e.g. ("modbus.vendor_name", "Pymodbus"),
    /// ("dicom.ae_title", "STORESCP"), ("hl7.application", "SENDAPP").
    case identity(Side, key: StaticString, value: String)
    /// A device behind the endpoint's address: ("modbus.unit", 1), ("dnp3.address", 10).
    case child(Side, kind: StaticString, id: UInt32)
    /// An identity of a device behind the endpoint: (.server, "modbus.unit", 1,
    /// "modbus.vendor_name", "Pymodbus"), (.server, "dnp3.address", 10, "dnp3.device_name", ...).
    case childIdentity(Side, kind: StaticString, id: UInt32, key: StaticString, value: String)
    /// A command (request) in this flow.
    case command(Command)
    /// The outcome of a command or an association: `name` is stable ("modbus.exception",
    /// "dicom.association_rejected", "hl7.ack_ar", "dnp3.iin_device_restart"), `success` says
    /// whether it is a normal answer.
    case outcome(Side, name: StaticString, success: Bool, code: UInt32)
    /// An anomaly reported by the dissector (also emitted as an `anomaly` event).
    case anomaly(StaticString)
}

/// Receives observations and flow ends from the engine (the inventory, the detection engine).
/// Called synchronously on the packet path; only when installed.
/// Where an observation came from, for the alerts it may raise (Suricata's alerts carry the
/// packet's number, the transaction and the direction of the message).
public struct ObservationOrigin: Sendable {
    /// Number of the packet that carried it (0: none, e.g. at flow end).
    public var pcapCount: UInt64 = 0
    /// The transaction's `tx_id` in its flow; -1 when none.
    public var txID: Int64 = -1
    public var direction: Direction? = nil
    /// The observation comes with a writer of its transaction's app-layer object.
    public var hasAppObject = false
    public init(pcapCount: UInt64 = 0, txID: Int64 = -1, direction: Direction? = nil, hasAppObject: Bool = false) {
        self.pcapCount = pcapCount
        self.txID = txID
        self.direction = direction
        self.hasAppObject = hasAppObject
    }
}

public protocol EngineObserver: AnyObject {
    /// A dissector's observation about the flow in `flow` (its current record).
    func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?)
    /// The same, with where it came from and, when `origin.hasAppObject`, a writer of the
    /// members of its transaction's app-layer object (`{"request": {...}}`), valid for the
    /// call only. Observers that need neither get the call above.
    func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?,
                 origin: ObservationOrigin, appObject: (inout JSONWriter) -> Void)
    /// A TCP SYN or SYN+ACK: the stack fingerprint inputs of its sender.
    func handshake(_ syn: HandshakeSample)
    /// A flow ended (timeout, FIN/RST, eviction, end of input) with its final record.
    func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16)
}

extension EngineObserver {
    public func handshake(_ syn: HandshakeSample) {}
    public func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?,
                        origin: ObservationOrigin, appObject: (inout JSONWriter) -> Void) {
        observe(observation, flow: flow, timestampNanos: timestampNanos, app: app)
    }
}

/// The header values of a SYN or SYN+ACK that identify the sender's TCP/IP stack.
public struct HandshakeSample: Sendable {
    public var timestampNanos: Int64 = 0
    public var flowID: UInt64 = 0
    public var source = IPAddress.zero
    public var sourceMAC: UInt64 = 0
    public var hasMAC = false
    public var isSYNACK = false
    public var ipVersion: UInt8 = 4
    public var ttl: UInt8 = 0
    public var dontFragment = false
    public var ipID: UInt16 = 0
    public var ipOptionsLength: UInt8 = 0
    public var window: UInt16 = 0
    public var options = TCPOptionSummary()
    /// Payload bytes carried by the SYN (a quirk).
    public var payloadLength: UInt16 = 0
    /// Non-zero acknowledgment number in a SYN, urgent pointer, reserved bits: quirks.
    public var ackNonZeroInSYN = false
    public var urgentNonZero = false
    public var ecn = false
    public init() {}
}

/// Several observers behind one (inventory and detection both listen), called in order.
public final class ObserverGroup: EngineObserver {
    public private(set) var members: [any EngineObserver]
    public init(_ members: [any EngineObserver]) { self.members = members }

    public func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
        for m in members { m.observe(observation, flow: flow, timestampNanos: timestampNanos, app: app) }
    }
    public func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?,
                        origin: ObservationOrigin, appObject: (inout JSONWriter) -> Void) {
        for m in members {
            m.observe(observation, flow: flow, timestampNanos: timestampNanos, app: app, origin: origin, appObject: appObject)
        }
    }
    public func handshake(_ syn: HandshakeSample) {
        for m in members { m.handshake(syn) }
    }
    public func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {
        for m in members { m.flowEnded(flow, app: app, operations: operations) }
    }
}

extension EventEnvelope {
    /// The envelope of an event about `flow` (oriented client -> server) at `timestampNanos`,
    /// for observers that write events of their own (assets, alerts).
    public init(flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
        self.init()
        self.timestampNanos = timestampNanos
        flowID = flow.id
        sourceIP = flow.key.client
        sourcePort = flow.key.clientPort
        destinationIP = flow.key.server
        destinationPort = flow.key.serverPort
        proto = flow.key.proto
        appProto = app?.name
        vlanCount = flow.vlanCount
        vlanOuter = flow.key.vlanOuter
        vlanInner = flow.key.vlanInner
    }
}

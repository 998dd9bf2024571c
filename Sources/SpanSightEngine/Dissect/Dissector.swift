// UNSAFE: `DissectContext` reaches the engine unretained (`Unmanaged`): a context lives only
// for one delivery, inside the engine's own call.
import SpanSightWire

/// Which way bytes travel in a flow.
public enum Direction: UInt8, Sendable, BitwiseCopyable {
    case toServer = 0
    case toClient = 1

    public var reversed: Direction { self == .toServer ? .toClient : .toServer }
    public var index: Int { Int(rawValue) }
}

/// One value per direction, stored inline: an array of two would be a heap object, one more
/// cache line to reach on every delivery when thousands of flows interleave.
public struct DirectionPair<T> {
    public var toServer: T
    public var toClient: T

    public init(_ both: T) {
        toServer = both
        toClient = both
    }

    /// By `Direction.index` (0 to the server, 1 to the client).
    public subscript(_ index: Int) -> T {
        get { index == 0 ? toServer : toClient }
        _modify {
            if index == 0 { yield &toServer } else { yield &toClient }
        }
    }
}

/// A dissector's answer to "is this your protocol?" over the first bytes of a direction.
public enum ProbeResult: Sendable, Equatable {
    case match
    case noMatch
    /// Plausible so far; more bytes are needed to decide.
    case needMore
    /// No, but the bytes resemble the protocol closely (what "closely" means is the protocol's
    /// own rule, in its docs page: a header that fits in every field but one, or on its hint
    /// port): the protocol refuses them for a reason it defines. When no other probe claims
    /// the direction, the engine reports the reason once per flow direction as a `proto_detect`
    /// anomaly of this protocol (a refusal is a `noMatch` in every other respect).
    case rejected(ProbeRejection)
}

/// Why a probe refused bytes that resemble its protocol: a stable anomaly name from the
/// protocol's own catalogue ("modbus.probe_rejected_protocol_id", never renamed) and the one
/// field that broke the rule, with its value on the wire. Plain values: a probe returns one
/// without allocating.
public struct ProbeRejection: Sendable, Equatable {
    public let name: StaticString
    /// Key of the detail written with the anomaly ("protocol_id").
    public let field: StaticString
    public let value: Int

    public init(_ name: StaticString, field: StaticString, value: Int) {
        self.name = name
        self.field = field
        self.value = value
    }

    public static func == (a: ProbeRejection, b: ProbeRejection) -> Bool {
        a.value == b.value && same(a.name, b.name) && same(a.field, b.field)
    }

    static func same(_ a: StaticString, _ b: StaticString) -> Bool {
        a.withUTF8Buffer { x in b.withUTF8Buffer { y in x.elementsEqual(y) } }
    }
}

/// Transports a dissector runs over.
public struct TransportSet: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let tcp = TransportSet(rawValue: 1)
    public static let udp = TransportSet(rawValue: 2)
}

/// What a dissector knows about its flow when probing and when it is created.
public struct FlowInfo: Sendable {
    public var proto: UInt8
    public var clientPort: UInt16
    public var serverPort: UInt16
    public var client: IPAddress
    public var server: IPAddress
}

/// The per-flow session of an application dissector: a subclass overrides `receive`, and
/// `gap` and `finish` when it keeps state across calls.
///
/// For TCP, `receive` gets the reassembled in-order bytes of one direction, split anywhere
/// (a PDU can span calls; several PDUs can share one); the bytes are borrowed for the call
/// only: a session that needs to keep a partial PDU copies it. `gap` says that `length`
/// bytes of that direction were lost. For UDP, `receive` gets one datagram per call.
///
/// A class rather than a protocol: the engine keeps each flow's session in the flow record as
/// an unretained reference (it owns one retain from the session's start to the flow's end)
/// and calls it through the class's vtable, so a delivery costs no reference counting.
open class DissectorSession {
    /// What the session holds, charged to the engine's memory budget (its components charge
    /// before they grow; everything left is given back when the session ends).
    public let memory = MemoryAccount()

    public init() {}

    deinit { memory.releaseAll() }

    open func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
        preconditionFailure("\(type(of: self)) does not override DissectorSession.receive")
    }

    open func gap(_ length: Int, direction: Direction, context: inout DissectContext) {}

    /// The flow ended (FIN/RST, timeout, eviction or end of input): report what is pending.
    open func finish(context: inout DissectContext) {}

    /// The memory budget needs room: drop the session's open transactions (reported as their
    /// flow's end would report them) and partial PDUs, freeing their storage, and go on as
    /// after a gap in both directions. Returns the number of items dropped. The engine calls
    /// it on the least recently active flows and reports what was freed.
    open func shed(context: inout DissectContext) -> Int { 0 }
}

/// The packet an event names: its own time (packet time, what the envelope's `timestamp`
/// reports) and number (`pcap_cnt`; 0 when no packet is, at flow end).
public struct PacketStamp: Sendable, Equatable, BitwiseCopyable {
    public var packetNanos: Int64
    public var pcapCount: UInt64

    public init(packetNanos: Int64, pcapCount: UInt64) {
        self.packetNanos = packetNanos
        self.pcapCount = pcapCount
    }
}

/// A dissector as the registry knows it: its name, where it runs, its probe and its factory.
public struct DissectorEntry: Sendable {
    /// The `app_proto` name in events ("modbus", "dnp3", "hl7", "dicom").
    public let name: StaticString
    public let transports: TransportSet
    /// Ports that make a probe go first (hints only: probes decide).
    public let hintPorts: [UInt16]
    /// Inspect the first bytes of a direction.
    public let probe: @Sendable (ByteView, Direction, FlowInfo) -> ProbeResult
    /// Create the session for a flow once a probe matched.
    public let makeSession: @Sendable (FlowInfo) -> DissectorSession
    /// What the rest of SpanSight knows of the protocol (anomalies, rules, roles, identities).
    public let module: ProtocolModule

    public init(name: StaticString, transports: TransportSet, hintPorts: [UInt16], module: ProtocolModule? = nil,
                probe: @escaping @Sendable (ByteView, Direction, FlowInfo) -> ProbeResult,
                makeSession: @escaping @Sendable (FlowInfo) -> DissectorSession) {
        self.module = module ?? ProtocolModule(name: name, title: name)
        self.name = name
        self.transports = transports
        self.hintPorts = hintPorts
        self.probe = probe
        self.makeSession = makeSession
    }
}

/// What a session sees of the engine during a call: the current packet and flow, and the
/// event output. Small on purpose (40 bytes, pinned by `FlowTableTests.testRecordLayout`):
/// sessions pass it down every call, and generic code copies it to call its methods.
public struct DissectContext {
    // The engine outlives every context (a context lives for one call): an unretained
    // reference, used through guaranteed borrows, so that the per-PDU calls below do no
    // reference counting. Counters, output and names are reached through it.
    @usableFromInline let engineRef: Unmanaged<Engine>
    var engine: Engine { engineRef.takeUnretainedValue() }
    /// Runs `body` with the event output, borrowed (no reference counting).
    func withOutput(_ body: (EventOutput) -> Void) {
        engineRef._withUnsafeGuaranteedRef { $0.outputRef._withUnsafeGuaranteedRef(body) }
    }
    /// Engine time of the packet being processed (ns since the epoch): the latest packet time
    /// seen, which never goes back (latencies and windows are differences of it).
    public internal(set) var timestampNanos: Int64
    /// The packet's own time, which the envelope reports.
    var packetNanos: Int64
    /// Number of the packet being processed (0 at flow end, when no packet is).
    var pcapCount: UInt64
    @usableFromInline let slot: Int32
    @usableFromInline let dissector: Int16
    /// False when no events are being built (a session can skip work done only for output).
    public let eventsEnabled: Bool
    /// True when an observer (inventory, detection) listens: sessions build observations only then.
    public let observing: Bool

    /// Envelope of events from this flow, oriented client -> server, stamped with the
    /// current packet's time and number (built only when an event is written).
    public var envelope: EventEnvelope {
        var env = engine.envelope(slot)
        env.timestampNanos = packetNanos
        env.pcapCount = pcapCount
        return env
    }

    /// The packet being processed, as an event names it: what a session keeps with a message
    /// whose event is written later (an unanswered request at flow end names its own frame).
    public var stamp: PacketStamp { PacketStamp(packetNanos: packetNanos, pcapCount: pcapCount) }

    @inline(__always)
    init(engine: borrowing Engine, slot: Int32, dissector: Int) {
        self.engineRef = Unmanaged.passUnretained(engine)
        self.timestampNanos = engine.nowNanos
        self.packetNanos = engine.packetNanos
        self.pcapCount = engine.pcapCount
        self.slot = slot
        self.dissector = Int16(truncatingIfNeeded: dissector)
        self.eventsEnabled = engine.eventsEnabled
        self.observing = engine.hasObserver
    }

    /// Registry index of the session's dissector.
    public var dissectorIndex: Int { Int(dissector) }
    /// The `app_proto` of the session's dissector.
    var appProto: StaticString? {
        dissector >= 0 ? engineRef._withUnsafeGuaranteedRef { $0.appNames[Int(dissector)] } : nil
    }
    /// The session's protocol module.
    var appModule: ProtocolModule? {
        dissector >= 0 ? engineRef._withUnsafeGuaranteedRef { $0.config.dissectors[Int(dissector)].module } : nil
    }

    /// Hands one observation to the observer (a no-op when none is installed).
    public func observe(_ observation: Observation) {
        guard observing, let observer = engine.observer else { return }
        observer.observe(observation, flow: engine.table[slot], timestampNanos: timestampNanos, app: appModule,
                         origin: ObservationOrigin(pcapCount: pcapCount), appObject: { _ in })
    }

    /// An observation about one transaction: its `tx_id`, the message's direction and a writer
    /// of the transaction's app-layer object as Suricata's alerts carry it (called, if at all,
    /// during this call: an alert raised by the observation writes it).
    public func observe(_ observation: Observation, txID: Int64, direction: Direction?,
                        appObject: (inout JSONWriter) -> Void) {
        guard observing, let observer = engine.observer else { return }
        observer.observe(observation, flow: engine.table[slot], timestampNanos: timestampNanos, app: appModule,
                         origin: ObservationOrigin(pcapCount: pcapCount, txID: txID, direction: direction, hasAppObject: true),
                         appObject: appObject)
    }

    /// Records that the flow carried a command of this class (the flow event lists them;
    /// the communication map draws them). Cheap: one bit in the flow record.
    @inlinable
    public func markOperation(_ operation: OperationClass) {
        let slot = self.slot
        engineRef._withUnsafeGuaranteedRef { $0.table[slot].operations |= operation.bit }
    }

    /// Counts one PDU parsed by this flow's dissector (benchmarks report ns and allocations per PDU).
    @inlinable
    public func countPDU() {
        let index = Int(dissector)
        engineRef._withUnsafeGuaranteedRef { $0.counters.countPDU(index) }
    }

    /// Emits one event of `type` with the flow's envelope; `body` writes the event's object
    /// (the key named by `type` is opened and closed around it).
    public func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        emit(type, txID: -1, direction: nil, body)
    }

    /// Emits one transaction event: the envelope carries Suricata's `tx_id` (the transaction's
    /// number within the flow, from 0) and, when given, the `direction` of the message.
    public func emit(_ type: StaticString, txID: Int64, direction: Direction?, _ body: (inout JSONWriter) -> Void) {
        emit(type, txID: txID, direction: direction, stamp: nil, body)
    }

    /// Emits one transaction event about a message of an earlier packet: the envelope's
    /// `timestamp` and `pcap_cnt` are the message's (`stamp`, as `self.stamp` was when the
    /// message arrived), not the current packet's; nil stamps it with the current packet.
    public func emit(_ type: StaticString, txID: Int64, direction: Direction?, stamp: PacketStamp?,
                     _ body: (inout JSONWriter) -> Void) {
        if txID >= 0 {
            let slot = self.slot, index = Int(dissector)
            engineRef._withUnsafeGuaranteedRef { e in
                if txID >= Int64(e.table[slot].txCount) {
                    e.table[slot].txCount = UInt32(truncatingIfNeeded: txID + 1)
                    e.counters.countTransaction(index)
                }
            }
        }
        guard eventsEnabled else { return }
        var wanted = true
        withOutput { wanted = $0.wants(type) }
        guard wanted else { return }
        var env = envelope
        if let stamp {
            env.timestampNanos = stamp.packetNanos
            env.pcapCount = stamp.pcapCount
        }
        env.txID = txID
        env.direction = direction
        withOutput { output in
            output.begin(type, env)
            output.writer.beginObject(type)
            body(&output.writer)
            output.writer.endObject()
            output.end()
        }
    }

    /// Emits an `anomaly` event in Suricata's shape: {"anomaly": {"type": "applayer", "app_proto":
    /// ..., "event": "invalid_length" (the name without its protocol, as Suricata writes it),
    /// "layer": "proto_parser", "name": "modbus.invalid_length" (ours: the stable full name), ...}}.
    /// `name` is a stable snake_case identifier such as "modbus.invalid_length". `details` is
    /// not escaping, so a closure that captures values costs no allocation.
    public func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void = { _ in }) {
        anomaly(name, layer: "proto_parser", details)
    }

    /// An anomaly of a given Suricata layer: `proto_parser` (a session's parser) or
    /// `proto_detect` (a probe refused the bytes, `Engine.reportRefusal`).
    func anomaly(_ name: StaticString, layer: StaticString, _ details: (inout JSONWriter) -> Void) {
        engineRef._withUnsafeGuaranteedRef {
            $0.counters.anomalies &+= 1
            $0.counters.countAnomaly(name)
        }
        if observing { observe(.anomaly(name)) }
        guard eventsEnabled else { return }
        var wanted = true
        withOutput { wanted = $0.wants("anomaly") }
        guard wanted else { return }
        let env = envelope, app = appProto
        withOutput { output in
            output.begin("anomaly", env)
            output.writer.beginObject("anomaly")
            output.writer.field("type", "applayer")
            if let app { output.writer.field("app_proto", app) }
            output.writer.writeAnomalyNames(name, layer: layer)
            details(&output.writer)
            output.writer.endObject()
            output.end()
        }
    }
}

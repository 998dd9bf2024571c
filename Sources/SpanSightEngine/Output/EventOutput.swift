// UNSAFE: an event type's StaticString is read through its UTF-8 start, and the run-wide
// envelope members are copied into the writer from their own array's storage.
import SpanSightWire

/// The common head of every event, Suricata EVE style.
public struct EventEnvelope {
    public var timestampNanos: Int64 = 0
    public var flowID: UInt64 = 0
    public var pcapCount: UInt64 = 0
    public var sourceIP = IPAddress.zero
    public var sourcePort: UInt16 = 0
    public var destinationIP = IPAddress.zero
    public var destinationPort: UInt16 = 0
    /// IP protocol number (6 TCP, 17 UDP); 0 for events not tied to a flow.
    public var proto: UInt8 = 0
    public var appProto: StaticString? = nil
    public var vlanCount: UInt8 = 0
    public var vlanOuter: UInt16 = 0
    public var vlanInner: UInt16 = 0
    /// Suricata's `tx_id`: the transaction's number within its flow (0, 1, ...); -1: none.
    public var txID: Int64 = -1
    /// Suricata's `direction` of the message an event describes (nil: none written).
    public var direction: Direction? = nil
    /// The flow's slot in the engine's table (-1: none): where `EnvelopeCache` keeps its
    /// rendered parts (flows in slots that differ modulo its size never share an entry).
    var flowSlot: Int32 = -1
    public init() {}
}

/// Where events go: an NDJSON stream to a file or standard output, memory (tests), or nowhere
/// (benchmarks: events are still built, then dropped, so the cost of building them counts).
public final class EventOutput {
    public enum Destination {
        case standardOutput
        case file(String)
        /// A file created if missing, else appended to (`live`: a restart or a reopen keeps
        /// the events already there).
        case appendingFile(String)
        case memory
        /// Events are built, then dropped (measures the cost of building them).
        case discard
        /// No events are built at all: the pipeline runs, dissectors parse and pair, counters
        /// count (benchmarks "without output").
        case none
    }

    public var writer = JSONWriter(capacity: 1 << 20)
    /// Where `.standardOutput` and `.file` events go.
    private var sink: CheckedFile?
    private let destination: Destination
    /// Everything written so far (`.memory` only).
    public private(set) var captured: [UInt8] = []
    public private(set) var eventCount: UInt64 = 0
    private let flushThreshold = 1 << 20
    /// A write of events failed (`failure` says how); later events are dropped. The run is to
    /// stop: checked after each packet.
    public private(set) var failed = false
    /// The first failed write ("events output /dev/full: No space left on device").
    public var failure: WriteFailure? { sink?.failure }
    /// Where events go besides the destination (`--output redis://...`), each handed every
    /// flush's lines; a forwarder's trouble never stops the run (it drops and counts).
    public private(set) var forwarders: [any EventForwarder] = []
    /// Events in the buffer not yet handed to the forwarders.
    private var unflushedEvents = 0

    /// Adds a destination besides the file or standard output.
    public func add(_ forwarder: any EventForwarder) { forwarders.append(forwarder) }

    /// The end of the run: what is buffered is written, then each forwarder sends what it
    /// still holds (within its deadline) and stops.
    public func finishForwarders() {
        flush()
        for f in forwarders { f.finish() }
    }

    public init(_ destination: Destination) throws(CaptureFileError) {
        self.destination = destination
        switch destination {
        case .standardOutput:
            sink = CheckedFile(standardOutputLabel: "events output (standard output)")
        case .file(let path), .appendingFile(let path):
            let mode: CheckedFile.Mode
            if case .file = destination { mode = .stream } else { mode = .append }
            do { sink = try CheckedFile(path: path, label: "events output \(path)", mode: mode) } catch {
                throw CaptureFileError(message: "cannot write \(path): \(error.reason)")
            }
        case .memory, .discard, .none:
            sink = nil
            if case .none = destination { enabled = false }
        }
    }

    /// An output that keeps events in memory (`lines`, `captured`).
    public static func inMemory() -> EventOutput { EventOutput(nonFile: .memory) }
    /// An output that builds events and drops them (benchmarks).
    public static func discarding() -> EventOutput { EventOutput(nonFile: .discard) }
    /// An output that builds no events (benchmarks without output).
    public static func disabled() -> EventOutput { EventOutput(nonFile: .none) }

    /// False when events are not to be built at all.
    public var isEnabled: Bool { enabled }
    private var enabled = true

    private init(nonFile destination: Destination) {
        self.destination = destination
        if case .none = destination { enabled = false }
        self.sink = nil
    }

    deinit {
        flush()
        try? sink?.close()
    }

    /// Envelope members that are the same for every event of a run (or of one input file, or
    /// of one capture interface), rendered once and copied after the timestamp: `host` (the
    /// sensor name), `in_iface` (live) and `pcap_filename` (read: the file being read).
    private var constantMembers: [UInt8] = []
    /// Live with several interfaces: the members for each (`selectInterface` picks one).
    private var constantsByInterface: [[UInt8]] = []
    private var selectedInterface = 0
    private var sensorName: String?
    private var interfaceNames: [String] = []
    private var pcapFilename: String?

    /// Suricata's `host` (its sensor-name) and, live, `in_iface` on every event.
    public func setSensor(name: String?, interface: String? = nil) {
        setSensor(name: name, interfaces: interface.map { [$0] } ?? [])
    }

    /// Live on several interfaces: events carry the `in_iface` chosen by `selectInterface`
    /// (the interface of the packet being analysed), the first one until then.
    public func setSensor(name: String?, interfaces: [String]) {
        sensorName = name
        interfaceNames = interfaces
        renderConstants()
    }

    /// The capture interface (an index into `setSensor`'s list) of the events that follow.
    @inline(__always)
    public func selectInterface(_ index: Int) {
        guard index != selectedInterface, index < constantsByInterface.count else { return }
        selectedInterface = index
        constantMembers = constantsByInterface[index]
    }

    /// Suricata's `pcap_filename`: the capture file being read (nil: none, e.g. live).
    public func setPcapFilename(_ path: String?) {
        pcapFilename = path
        renderConstants()
    }

    private func renderConstants() {
        func render(_ interface: String?) -> [UInt8] {
            var w = JSONWriter(capacity: 256)
            w.depth = 1
            w.hasMember = 1 << 1
            if let sensorName { w.field("host", sensorName) }
            if let interface { w.field("in_iface", interface) }
            if let pcapFilename { w.field("pcap_filename", pcapFilename) }
            return w.bytes.withUnsafeBytes { Array($0) }
        }
        constantsByInterface = interfaceNames.map { render($0) }
        selectedInterface = min(selectedInterface, max(0, interfaceNames.count - 1))
        constantMembers = constantsByInterface.isEmpty ? render(nil) : constantsByInterface[selectedInterface]
    }

    // MARK: which event types are written (`--eve-types`, Suricata's eve-log types)

    /// The event types written; nil: all.
    public private(set) var selectedTypes: Set<String>? = nil
    /// Types asked for by literal: the answer for each literal's address (a few entries).
    private var typeAnswers: [(UnsafeRawPointer, Bool)] = []
    /// Where the event begun last started in the buffer, and whether it is to be kept.
    private var eventStart = 0
    private var keepEvent = true
    /// Alerts written (`stats.detect.alert`; aggregate summaries are not alerts).
    public var alertsWritten: UInt64 = 0
    /// Flows that raised an alert and have not ended (`flow.alerted`).
    public var alertedFlows: Set<UInt64> = []

    /// Writes only these event types (`alert`, `flow`, `modbus`, ...); nil writes all.
    public func select(types: Set<String>?) {
        selectedTypes = types
        typeAnswers = []
    }

    /// False when events of `type` are not written (callers skip building them).
    @inline(__always)
    public func wants(_ type: StaticString) -> Bool {
        guard let selected = selectedTypes else { return true }
        return answer(type, selected)
    }

    private func answer(_ type: StaticString, _ selected: Set<String>) -> Bool {
        let p = UnsafeRawPointer(type.utf8Start)
        for (q, a) in typeAnswers where q == p { return a }
        let a = selected.contains(type.description)
        if typeAnswers.count < 32 { typeAnswers.append((p, a)) }
        return a
    }

    /// Starts an event: writes the envelope and opens the object named by `type` if `body`.
    /// An event of a type not selected is built and then dropped by `end` (callers on hot
    /// paths ask `wants` first and skip it).
    public func begin(_ type: StaticString, _ env: EventEnvelope) {
        eventStart = writer.bytes.count
        keepEvent = wants(type)
        writer.beginObject()
        writer.timestampField("timestamp", nanos: env.timestampNanos)
        if !constantMembers.isEmpty {
            constantMembers.withUnsafeBufferPointer { writer.rawBytes($0.baseAddress!, $0.count) }
        }
        if cachesEnvelopes, let key = EnvelopeCache.Key(env) {
            envelopes.write(env, key, into: &writer) { w in Self.middle(type, env, &w) }
            return
        }
        if env.flowID != 0 { writer.field("flow_id", env.flowID) }
        Self.middle(type, env, &writer)
        EnvelopeCache.renderTail(env, &writer)
    }

    /// The per-event part of the envelope (between the cached parts).
    @inline(__always)
    static func middle(_ type: StaticString, _ env: EventEnvelope, _ w: inout JSONWriter) {
        if env.pcapCount != 0 { w.field("pcap_cnt", env.pcapCount) }
        w.field("event_type", type)
        if env.txID >= 0 { w.field("tx_id", Int(env.txID)) }
        if let d = env.direction { w.field("direction", d == .toServer ? "to_server" : "to_client") }
    }

    /// Envelope parts of recent flow directions, rendered once (`EnvelopeCache`).
    var envelopes = EnvelopeCache()
    /// False: every envelope is rendered (tests compare both ways).
    var cachesEnvelopes = true

    /// Ends the event begun with `begin` (closes the top-level object, ends the line).
    public func end() {
        writer.endObject()
        writer.endLine()
        guard keepEvent else { writer.bytes.truncate(to: eventStart); return }
        eventCount &+= 1
        unflushedEvents &+= 1
        if writer.bytes.count >= flushThresholdValue { flush() }
    }

    var flushThresholdValue: Int { flushThreshold }

    /// Writes buffered events out.
    public func flush() {
        guard !writer.bytes.isEmpty else { return }
        switch destination {
        case .standardOutput, .file, .appendingFile:
            if let sink {
                writer.bytes.withUnsafeBytes { sink.write($0) }
                sink.flush()
                failed = sink.failure != nil
            }
        case .memory:
            writer.bytes.withUnsafeBytes { captured.append(contentsOf: $0) }
        case .discard, .none:
            break
        }
        if !forwarders.isEmpty {
            writer.bytes.withUnsafeBytes { lines in
                for f in forwarders { f.forward(lines, events: unflushedEvents) }
            }
        }
        unflushedEvents = 0
        writer.reset()
    }

    /// Events built and not yet handed to the OS.
    public var hasPending: Bool { !writer.bytes.isEmpty }

    /// The events file this output writes (nil: standard output, memory, none).
    public var filePath: String? {
        switch destination {
        case .file(let p), .appendingFile(let p): return p
        default: return nil
        }
    }

    /// The events file passes to the user a sensor switches to (nothing for standard output).
    public func changeOwner(uid: UInt32, gid: UInt32) { sink?.changeOwner(uid: uid, gid: gid) }

    /// Log rotation (SIGHUP): flushes what is buffered to the file open now, closes it, and
    /// opens the path again (created if it was moved away, appended to if it is still there).
    /// When the path cannot be opened, events go on to the file open before and the error is
    /// returned. Nothing to do for standard output, memory and none.
    public func reopen() -> WriteFailure? {
        guard let path = filePath, let old = sink else { return nil }
        flush()
        if failed { return nil }
        let fresh: CheckedFile
        do { fresh = try CheckedFile(path: path, label: "events output \(path)", mode: .append) } catch { return error }
        do { try old.close() } catch {
            // Whatever the old file could not take was already counted as its failure.
            sink = fresh
            return error
        }
        sink = fresh
        return nil
    }

    /// The captured output as lines (`.memory`; tests).
    public var lines: [String] {
        flush()
        return String(decoding: captured, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// An output file that could not be opened.
public struct CaptureFileError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

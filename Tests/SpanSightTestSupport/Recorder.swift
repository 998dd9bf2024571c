import SpanSightEngine
import SpanSightWire

/// A test dissector that claims every flow (or those whose first byte matches) and records
/// what the engine hands it, per direction: data bytes and gaps, in order.
public final class StreamRecorder: @unchecked Sendable {
    public enum Item: Equatable { case data([UInt8]), gap(Int) }
    public private(set) var items: [[Item]] = [[], []]
    /// The envelope time of each data item, per direction.
    public private(set) var itemTimes: [[Int64]] = [[], []]
    public private(set) var finished = 0
    public private(set) var sessions = 0

    public init() {}

    /// Everything delivered in a direction, gaps written as `gapByte` repeated.
    public func stream(_ d: Direction, gapByte: UInt8 = 0x2A) -> [UInt8] {
        var out: [UInt8] = []
        for i in items[d.index] {
            switch i {
            case .data(let b): out += b
            case .gap(let n): out += [UInt8](repeating: gapByte, count: n)
            }
        }
        return out
    }

    public func times(_ d: Direction) -> [Int64] { itemTimes[d.index] }

    public func gaps(_ d: Direction) -> [Int] {
        items[d.index].compactMap { if case .gap(let n) = $0 { return n } else { return nil } }
    }

    public func entry(name: StaticString = "recorder", matchFirstByte: UInt8? = nil) -> DissectorEntry {
        DissectorEntry(name: name, transports: [.tcp, .udp], hintPorts: [],
                       probe: { bytes, _, _ in
                           guard let want = matchFirstByte else { return .match }
                           guard let b = bytes.u8(at: 0) else { return .needMore }
                           return b == want ? .match : .noMatch
                       },
                       makeSession: { _ in
                           self.sessions += 1
                           return Session(self)
                       })
    }

    final class Session: DissectorSession {
        let r: StreamRecorder
        init(_ r: StreamRecorder) { self.r = r }
        override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
            r.items[direction.index].append(.data(bytes.array))
            r.itemTimes[direction.index].append(context.envelope.timestampNanos)
        }
        override func gap(_ length: Int, direction: Direction, context: inout DissectContext) {
            r.items[direction.index].append(.gap(length))
        }
        override func finish(context: inout DissectContext) { r.finished += 1 }
    }
}

/// Drives an engine with frames built in memory (Ethernet link type).
public final class EngineHarness {
    public let engine: Engine
    public let output: EventOutput
    public var clockMicros: Int64 = 1_764_158_400_000_000

    public init(dissectors: [DissectorEntry], configure: (inout EngineConfig) -> Void = { _ in }) {
        var c = EngineConfig()
        c.dissectors = dissectors
        configure(&c)
        output = EventOutput.inMemory()
        engine = Engine(config: c, output: output)
        _ = engine.setLinkType(dlt: 1)
    }

    /// Feeds one frame, 1 ms after the previous one unless `advanceMicros` says otherwise.
    public func feed(_ frame: [UInt8], advanceMicros: Int64 = 1000, wireLength: Int? = nil) {
        clockMicros += advanceMicros
        frame.withUnsafeBytes { engine.process($0, wireLength: wireLength ?? frame.count, timestampNanos: clockMicros * 1000) }
    }

    public func finish() -> [String] {
        engine.finish()
        return output.lines
    }
}

/// Event lines as a dissector test sink records them: `{"event_type": TYPE, TYPE: {...}}` for
/// events and `{"event_type": "anomaly", "anomaly": {"event": NAME, ...}}` for anomalies.
public struct EventLines {
    public private(set) var lines: [String] = []
    var writer = JSONWriter(capacity: 4096)
    public init() {}

    public mutating func event(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        writer.reset()
        writer.beginObject()
        writer.field("event_type", type)
        writer.beginObject(type)
        body(&writer)
        writer.endObject()
        writer.endObject()
        lines.append(String(decoding: writer.bytes, as: UTF8.self))
    }

    public mutating func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        event("anomaly") { w in
            w.field("event", name)
            details(&w)
        }
    }
}

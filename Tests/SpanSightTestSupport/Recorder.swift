import Foundation
import SpanSightEngine
import SpanSightWire
import XCTest

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

    /// The envelope members a session decides (the engine adds the flow's): the packet the
    /// event is stamped with (`timestamp` written in ns), `tx_id` when >= 0 and `direction`.
    public struct Envelope: Sendable {
        public var stamp: PacketStamp
        public var txID: Int64
        public var direction: Direction?
        public init(stamp: PacketStamp, txID: Int64 = -1, direction: Direction? = nil) {
            self.stamp = stamp
            self.txID = txID
            self.direction = direction
        }
    }

    public mutating func event(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        lines.append(line(type, envelope: nil, body))
    }

    public mutating func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        event("anomaly") { w in
            w.field("event", name)
            details(&w)
        }
    }

    /// One event as a line, not kept: envelope members first, then the `type` object. The
    /// text is read out of the buffer at once (a debug build reads a collection byte by byte
    /// slowly, and the split tests write millions of events).
    public mutating func line(_ type: StaticString, envelope: Envelope?, _ body: (inout JSONWriter) -> Void) -> String {
        writer.reset()
        writer.beginObject()
        writer.field("event_type", type)
        if let envelope {
            writer.field("timestamp", Int(envelope.stamp.packetNanos))
            writer.field("pcap_cnt", envelope.stamp.pcapCount)
            if envelope.txID >= 0 { writer.field("tx_id", Int(envelope.txID)) }
            if let d = envelope.direction { writer.field("direction", d == .toServer ? "to_server" : "to_client") }
        }
        writer.beginObject(type)
        body(&writer)
        writer.endObject()
        writer.endObject()
        return writer.bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }
}

/// A `DissectorSink` that records every call a session makes, in order, one line each: events
/// and anomalies as JSON lines (with the envelope members a session decides, `EventLines.Envelope`;
/// anomalies named as the engine names them), observations with their transaction and
/// app-layer object, operation classes (`operation NAME`), PDUs counted (`pdu`), and marks the
/// driver makes (`mark TEXT`). What the split-invariance verifier compares; tests read it back.
public final class SinkRecorder: DissectorSink {
    /// Engine time and the packet being delivered (set by the driver).
    public var timestampNanos: Int64 = 1_000_000_000
    public var stamp = PacketStamp(packetNanos: 1_000_000_000, pcapCount: 1)
    /// Off: events are not recorded (as the engine writes none), anomalies by name only.
    public var eventsEnabled: Bool
    public var observing: Bool
    public private(set) var records: [String] = []
    var writer = EventLines()
    var scratch = JSONWriter(capacity: 1024)

    public init(observing: Bool = true, eventsEnabled: Bool = true) {
        self.observing = observing
        self.eventsEnabled = eventsEnabled
    }

    /// Stamps what follows with delivery `index` (0 up): its time 1 ms after the previous
    /// delivery's, its packet number `index + 1`.
    public func at(delivery index: Int) {
        timestampNanos = 1_000_000_000 + Int64(index) * 1_000_000
        stamp = PacketStamp(packetNanos: timestampNanos, pcapCount: UInt64(index + 1))
    }

    public func mark(_ text: String) { records.append("mark " + text) }

    public func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        emit(type, txID: -1, direction: nil, stamp: nil, body)
    }

    public func emit(_ type: StaticString, txID: Int64, direction: Direction?, _ body: (inout JSONWriter) -> Void) {
        emit(type, txID: txID, direction: direction, stamp: nil, body)
    }

    public func emit(_ type: StaticString, txID: Int64, direction: Direction?, stamp: PacketStamp?,
                     _ body: (inout JSONWriter) -> Void) {
        guard eventsEnabled else { return }
        records.append(writer.line(type, envelope: .init(stamp: stamp ?? self.stamp, txID: txID, direction: direction), body))
    }

    public func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        guard eventsEnabled else { return records.append("anomaly \(name)") }
        records.append(writer.line("anomaly", envelope: .init(stamp: stamp)) { w in
            w.writeAnomalyNames(name)
            details(&w)
        })
    }

    public func countPDU() { records.append("pdu") }
    public func markOperation(_ operation: OperationClass) { records.append("operation \(operation.name)") }
    public func observe(_ observation: Observation) { records.append("observation " + Self.text(observation)) }

    public func observe(_ observation: Observation, txID: Int64, direction: Direction?,
                        appObject: (inout JSONWriter) -> Void) {
        scratch.reset()
        scratch.beginObject()
        appObject(&scratch)
        scratch.endObject()
        let app = scratch.bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        records.append("observation \(Self.text(observation)) tx_id=\(txID) direction=\(direction.map { "\($0)" } ?? "-") app=\(app)")
    }

    /// An observation as text, every field of it. (Not a switch: the enum grows, and a new
    /// case is still recorded, by its description.)
    public static func text(_ o: Observation) -> String {
        if case .role(let side, let name) = o { return "role \(side) \(name)" }
        if case .identity(let side, let key, let value) = o { return "identity \(side) \(key)=\(value)" }
        if case .child(let side, let kind, let id) = o { return "child \(side) \(kind) \(id)" }
        if case .childIdentity(let side, let kind, let id, let key, let value) = o {
            return "child_identity \(side) \(kind) \(id) \(key)=\(value)"
        }
        if case .command(let c) = o {
            return "command \(c.issuer) \(c.operation.name) \(c.function) \(c.name) unit=\(c.unit) "
                + "address=\(c.addressStart)+\(c.addressCount) sub=\(c.subfunction) detail=\(c.detail ?? "-") target=\(c.target ?? "-")"
        }
        if case .outcome(let side, let name, let success, let code) = o { return "outcome \(side) \(name) \(success) \(code)" }
        if case .anomaly(let name) = o { return "anomaly \(name)" }
        return String(describing: o)
    }

    /// The event and anomaly lines, in order.
    public var lines: [String] { records.filter { $0.hasPrefix("{") } }
    public var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
    /// The objects of the events of one type (`"modbus"`: each event's `modbus` object).
    public func objects(_ type: String) -> [[String: Any]] {
        events.compactMap { $0["event_type"] as? String == type ? $0[type] as? [String: Any] : nil }
    }
    /// The anomalies' full names ("modbus.invalid_length"), in order.
    public var anomalies: [String] {
        records.compactMap { r in
            if r.hasPrefix("anomaly ") { return String(r.dropFirst(8)) }
            guard r.hasPrefix("{\"event_type\":\"anomaly\"") else { return nil }
            let o = (try? JSONSerialization.jsonObject(with: Data(r.utf8))) as? [String: Any]
            return (o?["anomaly"] as? [String: Any])?["name"] as? String
        }
    }
    /// The observations as `text(_:)` writes them (with their transaction when given).
    public var observations: [String] { records.compactMap { $0.hasPrefix("observation ") ? String($0.dropFirst(12)) : nil } }
    public var operations: [String] { records.compactMap { $0.hasPrefix("operation ") ? String($0.dropFirst(10)) : nil } }
    public var pdus: Int { records.lazy.filter { $0 == "pdu" }.count }
}

/// The deliveries the engine makes to each flow a dissector's probe claims, in order (both
/// directions interleaved, gaps included), recorded from a capture: real traffic to replay
/// into a session (split invariance, hostile mutations). TCP flows only: a datagram is not a
/// stream to cut.
public final class DeliveryRecorder: @unchecked Sendable {
    public private(set) var flows: [[Delivery]] = []

    public init() {}

    /// `entry` as the engine knows it (name, ports, probe), with a session that records.
    public func entry(like entry: DissectorEntry) -> DissectorEntry {
        DissectorEntry(name: entry.name, transports: entry.transports.intersection(.tcp), hintPorts: entry.hintPorts,
                       module: entry.module, probe: entry.probe,
                       makeSession: { _ in
                           self.flows.append([])
                           return Session(self, self.flows.count - 1)
                       })
    }

    final class Session: DissectorSession {
        let r: DeliveryRecorder
        let index: Int
        init(_ r: DeliveryRecorder, _ index: Int) {
            self.r = r
            self.index = index
        }
        override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
            r.flows[index].append(Delivery(direction: direction, bytes: bytes.array))
        }
        override func gap(_ length: Int, direction: Direction, context: inout DissectContext) {
            r.flows[index].append(Delivery(direction: direction, bytes: [], gap: length))
        }
    }

    /// The TCP flows of `fixtures/NAME` that `entry`'s probe claims, each as its deliveries
    /// (skips the test when the fixture is absent).
    public static func flows(_ fixture: String, entry: DissectorEntry) throws -> [[Delivery]] {
        let url = TestPaths.fixtures.appendingPathComponent(fixture)
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("fixtures/\(fixture) absent") }
        let r = DeliveryRecorder()
        _ = try CaptureRunner.run(url, dissectors: [r.entry(like: entry)])
        return r.flows
    }
}

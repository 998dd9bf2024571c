import Foundation
import SpanSightEngine
@testable import SpanSightHL7
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Records what a session emits, one line per event: the event type, a space, and the JSON
/// object the session wrote (for anomalies `{"event": name, ...details}`); plus the
/// observations and operation classes it reports.
final class HL7RecordingSink: DissectorSink {
    var timestampNanos: Int64 = 1_000_000_000
    var eventsEnabled = true
    var observing = false
    var lines: [String] = []
    var observations: [Observation] = []
    var operations: [OperationClass] = []
    var pdus = 0
    var writer = JSONWriter(capacity: 4096)

    func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        guard eventsEnabled else { return }
        writer.reset()
        writer.beginObject()
        body(&writer)
        writer.endObject()
        lines.append("\(type) " + String(decoding: writer.bytes, as: UTF8.self))
    }

    func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        emit("anomaly") { w in
            w.writeAnomalyNames(name)
            details(&w)
        }
    }

    func countPDU() { pdus += 1 }
    func observe(_ observation: Observation) { observations.append(observation) }
    func markOperation(_ operation: OperationClass) { operations.append(operation) }

    /// Each line as {"event_type": type, type: object}.
    var events: [[String: Any]] {
        lines.compactMap { line in
            let (type, json) = (String(line.prefix { $0 != " " }), line.drop { $0 != " " }.dropFirst())
            guard let o = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return nil }
            return ["event_type": type, type: o]
        }
    }
    var anomalies: [String] {
        events.compactMap { ($0["anomaly"] as? [String: Any])?["name"] as? String }
    }
    var transactions: [[String: Any]] { events.compactMap { $0["hl7"] as? [String: Any] } }
}

/// One MLLP frame around an HL7 message given with `\r` segment ends.
func mllp(_ message: String) -> [UInt8] {
    [0x0B] + Array(message.utf8) + [0x1C, 0x0D]
}

/// A stream of one direction, delivered as one piece (or split by the runner): the shared
/// delivery.
typealias HL7Delivery = Delivery

/// The session's entry points as the split-invariance verifier drives them (a gap loses the
/// partial frame: `lost`).
extension HL7Session: SinkDrivenSession {
    public func receive<S: DissectorSink>(_ bytes: ByteView, direction: Direction, sink: inout S) { feed(bytes, direction, &sink) }
    public func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S) { lost(direction) }
    public func finish<S: DissectorSink>(sink: inout S) { end(&sink) }
}

/// Runs deliveries through a fresh session (each delivery cut into pieces of `chunk` bytes)
/// and returns everything recorded, after the flow's end. Time advances 1 ms per delivery.
func runHL7(_ deliveries: [HL7Delivery], chunk: Int? = nil, config: HL7Configuration = HL7Configuration(),
            pseudonymizer: HL7Pseudonymizer? = nil, observing: Bool = false, eventsEnabled: Bool = true,
            finish: Bool = true) -> HL7RecordingSink {
    let recorder = HL7RecordingSink()
    recorder.observing = observing
    recorder.eventsEnabled = eventsEnabled
    var sink = recorder
    HL7Session(config: config, pseudonymizer: pseudonymizer).drive(deliveries, chunk: chunk, finish: finish, sink: &sink) {
        recorder.timestampNanos = 1_000_000_000 + Int64($0) * 1_000_000
    }
    return recorder
}

extension Dictionary where Key == String, Value == Any {
    func int(_ k: String) -> Int? { self[k] as? Int }
    func obj(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func str(_ k: String) -> String? { self[k] as? String }
}

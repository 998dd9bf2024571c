import Foundation
import SpanSightEngine
@testable import SpanSightHL7
import SpanSightWire
import XCTest

/// Records what a session emits, one JSON line per event: {"event_type":..., TYPE: {...}} for
/// `hl7` events and {"event_type":"anomaly","anomaly":{"event":...}} for anomalies, plus the
/// observations and operation classes it reports.
final class HL7RecordingSink: HL7EventSink {
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
        record(type, body)
    }

    func anomaly(_ name: StaticString, _ details: ((inout JSONWriter) -> Void)?) {
        guard eventsEnabled else { return }
        record("anomaly") { w in
            w.field("event", name)
            details?(&w)
        }
    }

    private func record(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        writer.reset()
        writer.beginObject()
        writer.field("event_type", type)
        writer.beginObject(type)
        body(&writer)
        writer.endObject()
        writer.endObject()
        lines.append(String(decoding: writer.bytes, as: UTF8.self))
    }

    func countPDU() { pdus += 1 }
    func observe(_ observation: Observation) { observations.append(observation) }
    func markOperation(_ operation: OperationClass) { operations.append(operation) }

    var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
    var anomalies: [String] {
        events.compactMap { ($0["anomaly"] as? [String: Any])?["event"] as? String }
    }
    var transactions: [[String: Any]] { events.compactMap { $0["hl7"] as? [String: Any] } }
}

/// One MLLP frame around an HL7 message given with `\r` segment ends.
func mllp(_ message: String) -> [UInt8] {
    [0x0B] + Array(message.utf8) + [0x1C, 0x0D]
}

/// A stream of one direction, delivered as one piece (or split by the runner).
struct HL7Delivery {
    var direction: Direction
    var bytes: [UInt8]
    var gap = 0
}

/// Runs deliveries through a fresh session (each delivery cut into pieces of `chunk` bytes)
/// and returns everything recorded, after `finish`. Timestamps advance 1 ms per delivery.
func runHL7(_ deliveries: [HL7Delivery], chunk: Int? = nil, config: HL7Configuration = HL7Configuration(),
            pseudonymizer: HL7Pseudonymizer? = nil, observing: Bool = false, eventsEnabled: Bool = true,
            finish: Bool = true) -> HL7RecordingSink {
    let session = HL7Session(config: config, pseudonymizer: pseudonymizer)
    let sink = HL7RecordingSink()
    sink.observing = observing
    sink.eventsEnabled = eventsEnabled
    var s = sink
    for (i, d) in deliveries.enumerated() {
        sink.timestampNanos = 1_000_000_000 + Int64(i) * 1_000_000
        if d.gap > 0 { session.gap(d.gap, direction: d.direction, sink: &s); continue }
        let step = max(1, chunk ?? d.bytes.count)
        var off = 0
        while off < d.bytes.count {
            let end = min(d.bytes.count, off + step)
            ByteView.with(Array(d.bytes[off..<end])) { session.receive($0, direction: d.direction, sink: &s) }
            off = end
        }
    }
    if finish { session.finish(sink: &s) }
    return sink
}

extension Dictionary where Key == String, Value == Any {
    func int(_ k: String) -> Int? { self[k] as? Int }
    func obj(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func str(_ k: String) -> String? { self[k] as? String }
}

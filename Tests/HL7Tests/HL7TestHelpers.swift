import Foundation
import SpanSightEngine
@testable import SpanSightHL7
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

/// A stream of one direction, delivered as one piece (or split by the runner).
struct HL7Delivery {
    var direction: Direction
    var bytes: [UInt8]
    var gap = 0
}

/// `bytes` cut into pieces of `chunk` bytes (one piece when nil).
func pieces(_ bytes: [UInt8], _ chunk: Int?) -> [[UInt8]] {
    let step = max(1, chunk ?? bytes.count)
    return stride(from: 0, to: bytes.count, by: step).map { Array(bytes[$0..<min(bytes.count, $0 + step)]) }
}

/// Runs deliveries through a fresh session (each delivery cut into pieces of `chunk` bytes)
/// and returns everything recorded, after the flow's end. Time advances 1 ms per delivery.
func runHL7(_ deliveries: [HL7Delivery], chunk: Int? = nil, config: HL7Configuration = HL7Configuration(),
            pseudonymizer: HL7Pseudonymizer? = nil, observing: Bool = false, eventsEnabled: Bool = true,
            finish: Bool = true) -> HL7RecordingSink {
    let session = HL7Session(config: config, pseudonymizer: pseudonymizer)
    var sink = HL7RecordingSink()
    sink.observing = observing
    sink.eventsEnabled = eventsEnabled
    for (i, d) in deliveries.enumerated() {
        sink.timestampNanos = 1_000_000_000 + Int64(i) * 1_000_000
        guard d.gap == 0 else { session.lost(d.direction); continue }
        for piece in pieces(d.bytes, chunk) {
            ByteView.with(piece) { session.feed($0, d.direction, &sink) }
        }
    }
    if finish { session.end(&sink) }
    return sink
}

/// The conversation with one delivery cut in two at `cut` (delivery `index`).
func split(_ deliveries: [HL7Delivery], _ index: Int, at cut: Int) -> [HL7Delivery] {
    var out = deliveries
    let d = deliveries[index]
    out[index].bytes = Array(d.bytes[..<cut])
    out.insert(HL7Delivery(direction: d.direction, bytes: Array(d.bytes[cut...])), at: index + 1)
    return out
}

extension Dictionary where Key == String, Value == Any {
    func int(_ k: String) -> Int? { self[k] as? Int }
    func obj(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func str(_ k: String) -> String? { self[k] as? String }
}

import Foundation
import SpanSightEngine
@testable import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Records what a session emits, one JSON line per event: {"event_type":..., TYPE: {...}} for
/// transactions and {"event_type":"anomaly","anomaly":{"event":...}} for anomalies.
final class RecordingSink: ModbusEventSink {
    var timestampNanos: Int64 = 1_000_000_000
    var recorded = EventLines()
    var lines: [String] { recorded.lines }

    func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        recorded.event(type, body)
    }

    func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        recorded.anomaly(name, details)
    }

    var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
    var anomalies: [String] {
        events.compactMap { ($0["anomaly"] as? [String: Any])?["event"] as? String }
    }
    var transactions: [[String: Any]] { events.compactMap { $0["modbus"] as? [String: Any] } }
}

/// Wraps a PDU into an MBAP ADU (protocol id 0 unless given).
func adu(_ tid: UInt16, unit: UInt8 = 1, _ pdu: [UInt8], protocolID: UInt16 = 0) -> [UInt8] {
    let len = UInt16(pdu.count + 1)
    return [UInt8(tid >> 8), UInt8(tid & 0xFF), UInt8(protocolID >> 8), UInt8(protocolID & 0xFF),
            UInt8(len >> 8), UInt8(len & 0xFF), unit] + pdu
}

/// A stream of one direction cut into deliveries.
struct Delivery {
    var direction: Direction
    var bytes: [UInt8]
    var gap = 0
}

/// Runs deliveries through a fresh session (each delivery split into pieces of `chunk` bytes,
/// or at `splits` offsets) and returns everything recorded, after `finish`.
func runSession(_ deliveries: [Delivery], udp: Bool = false, chunk: Int? = nil, maxOpen: Int = 1024,
         finish: Bool = true) -> RecordingSink {
    let session = ModbusSession(udp: udp, maxOpenRequests: maxOpen)
    let sink = RecordingSink()
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

import Foundation
import SpanSightEngine
@testable import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Records what a session emits, one JSON line per event: {"event_type":..., TYPE: {...}} for
/// transactions and {"event_type":"anomaly","anomaly":{"event":...,"name":...}} for anomalies.
final class RecordingSink: DissectorSink {
    var timestampNanos: Int64 = 1_000_000_000
    var recorded = EventLines()
    var lines: [String] { recorded.lines }

    /// The envelope's `tx_id` of each transaction event, in order (-1: emitted without one).
    var txIDs: [Int64] = []
    /// The envelope's `direction` of each transaction event.
    var directions: [Direction?] = []

    func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        txIDs.append(-1)
        directions.append(nil)
        recorded.event(type, body)
    }

    func emit(_ type: StaticString, txID: Int64, direction: Direction?, _ body: (inout JSONWriter) -> Void) {
        txIDs.append(txID)
        directions.append(direction)
        recorded.event(type, body)
    }

    /// As the engine writes it: Suricata's bare `event`, `layer`, and our full `name`.
    func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        recorded.event("anomaly") { w in
            w.writeAnomalyNames(name)
            details(&w)
        }
    }

    var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
    var anomalies: [String] {
        events.compactMap { ($0["anomaly"] as? [String: Any])?["name"] as? String }
    }
    var transactions: [[String: Any]] { events.compactMap { $0["modbus"] as? [String: Any] } }
}

/// Wraps a PDU into an MBAP ADU (protocol id 0 unless given).
func adu(_ tid: UInt16, unit: UInt8 = 1, _ pdu: [UInt8], protocolID: UInt16 = 0) -> [UInt8] {
    let len = UInt16(pdu.count + 1)
    return [UInt8(tid >> 8), UInt8(tid & 0xFF), UInt8(protocolID >> 8), UInt8(protocolID & 0xFF),
            UInt8(len >> 8), UInt8(len & 0xFF), unit] + pdu
}

/// A delivery to a session (the shared one, named here for the files that do not import the
/// test support).
typealias Delivery = SpanSightTestSupport.Delivery

/// The session's generic entry points are those the split-invariance verifier drives.
extension ModbusSession: SinkDrivenSession {}

/// Runs deliveries through a fresh session (each delivery split into pieces of `chunk` bytes)
/// and returns everything recorded, after `finish`.
func runSession(_ deliveries: [Delivery], udp: Bool = false, chunk: Int? = nil, maxOpen: Int = 1024,
         finish: Bool = true) -> RecordingSink {
    let sink = RecordingSink()
    var s = sink
    ModbusSession(udp: udp, maxOpenRequests: maxOpen).drive(deliveries, chunk: chunk, finish: finish, sink: &s) {
        sink.timestampNanos = 1_000_000_000 + Int64($0) * 1_000_000
    }
    return sink
}

extension Dictionary where Key == String, Value == Any {
    func int(_ k: String) -> Int? { self[k] as? Int }
    func obj(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func str(_ k: String) -> String? { self[k] as? String }
}

/// Suricata's EVE schema (../shared/suricata/schema.json, copied from OISF/suricata) read the
/// way a SIEM needs it: every field Suricata defines must have Suricata's type in its place;
/// fields Suricata does not define are ours and allowed (`additionalProperties` relaxed).
enum SuricataSchema {
    static let url = TestPaths.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/suricata/schema.json")

    /// `properties.modbus`; nil when the schema is absent.
    nonisolated(unsafe) static let modbus: [String: Any]? = {
        guard let d = try? Data(contentsOf: url), let s = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { return nil }
        return (s["properties"] as? [String: Any])?["modbus"] as? [String: Any]
    }()

    /// Where `value` disagrees with `schema` (type of every field the schema defines, recursively).
    static func typeErrors(_ value: Any, _ schema: [String: Any], path: String = "modbus") -> [String] {
        if let t = schema["type"] {
            let types = (t as? [String]) ?? [(t as? String) ?? ""]
            if !types.contains(where: { matches(value, $0) }) { return ["\(path): \(type(of: value)) where Suricata has \(types)"] }
        }
        var errors: [String] = []
        if let props = schema["properties"] as? [String: Any], let obj = value as? [String: Any] {
            for (k, v) in obj.sorted(by: { $0.key < $1.key }) {
                if let sub = props[k] as? [String: Any] { errors += typeErrors(v, sub, path: path + "." + k) }
            }
        }
        if let items = schema["items"] as? [String: Any], let array = value as? [Any] {
            for (i, v) in array.enumerated() { errors += typeErrors(v, items, path: "\(path)[\(i)]") }
        }
        return errors
    }

    static func matches(_ v: Any, _ type: String) -> Bool {
        switch type {
        case "string": return v is String
        case "object": return v is [String: Any]
        case "array": return v is [Any]
        case "boolean": return isBool(v)
        case "integer": return v is Int && !isBool(v)
        case "number": return (v is Int || v is Double) && !isBool(v)
        case "null": return v is NSNull
        default: return false
        }
    }

    /// JSON true/false (Foundation's numbers 0 and 1 also pass `is Bool`: the boolean kind is
    /// told by its type encoding).
    static func isBool(_ v: Any) -> Bool {
        guard let n = v as? NSNumber else { return v is Bool }
        return String(cString: n.objCType) == "c"
    }
}

import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Records what a session emits, one JSON line per event: {"event_type":..., TYPE: {...}} for
/// transactions and {"event_type":"anomaly","anomaly":{"event":...,"name":...}} for anomalies;
/// observations too, when `observing`.
final class RecordingSink: DissectorSink {
    var timestampNanos: Int64 = 1_000_000_000
    private(set) var lines: [String] = []
    private var writer = EventLines()
    var txIDs: [Int64] = []
    var directions: [Direction?] = []
    var observing = false
    var observations: [Observation] = []
    var operations: [OperationClass] = []

    func event(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        lines.append(writer.line(type, envelope: nil, body))
    }

    func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        txIDs.append(-1)
        directions.append(nil)
        event(type, body)
    }

    func emit(_ type: StaticString, txID: Int64, direction: Direction?, _ body: (inout JSONWriter) -> Void) {
        txIDs.append(txID)
        directions.append(direction)
        event(type, body)
    }

    func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        event("anomaly") { w in
            w.writeAnomalyNames(name)
            details(&w)
        }
    }

    func observe(_ observation: Observation) { observations.append(observation) }
    func markOperation(_ operation: OperationClass) { operations.append(operation) }

    var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
    var anomalies: [String] {
        events.compactMap { ($0["anomaly"] as? [String: Any])?["name"] as? String }
    }
    var transactions: [[String: Any]] { events.compactMap { $0["s7comm"] as? [String: Any] } }

    var identities: [String] {
        observations.compactMap {
            if case .identity(_, let key, let value) = $0 { return "\(key)=\(value)" }
            return nil
        }
    }
    var roles: [String] {
        observations.compactMap { if case .role(let side, let name) = $0 { return "\(side) \(name)" } else { return nil } }
    }
    var outcomes: [String] {
        observations.compactMap {
            if case .outcome(let side, let name, let ok, let code) = $0 { return "\(side) \(name) \(ok) \(code)" }
            return nil
        }
    }
    var commands: [Command] {
        observations.compactMap { if case .command(let c) = $0 { return c } else { return nil } }
    }
}

/// A delivery to a session (the shared one, named here for the files that do not import the
/// test support).
typealias Delivery = SpanSightTestSupport.Delivery

/// The session's generic entry points are those the split-invariance verifier drives.
extension S7commSession: SinkDrivenSession {}

/// Runs deliveries through a fresh session (each delivery split into pieces of `chunk` bytes)
/// and returns everything recorded, after `finish`.
func runSession(_ deliveries: [Delivery], chunk: Int? = nil, maxOpen: Int = S7commSession.defaultMaxOpenRequests,
                observing: Bool = false, finish: Bool = true) -> RecordingSink {
    let sink = RecordingSink()
    sink.observing = observing
    var s = sink
    S7commSession(maxOpenRequests: maxOpen).drive(deliveries, chunk: chunk, finish: finish, sink: &s) {
        sink.timestampNanos = 1_000_000_000 + Int64($0) * 1_000_000
    }
    return sink
}

/// Byte builders: every vector says which bytes it makes (RFC 1006, ISO 8073, S7comm layouts).
enum S7Bytes {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// A TPKT around a TPDU.
    static func tpkt(_ tpdu: [UInt8]) -> [UInt8] { [3, 0] + be16(tpdu.count + 4) + tpdu }

    /// A class 0 DT TPDU (02 F0 80|nr) in a TPKT; `eot` false for a TPDU that a later one continues.
    static func dt(_ data: [UInt8], eot: Bool = true) -> [UInt8] { tpkt([0x02, 0xF0, eot ? 0x80 : 0x00] + data) }

    /// A CR (or CC) with a TPDU size (code 0x0A: 1024) and two TSAPs, as snap7 sends them.
    static func connect(cc: Bool = false, calling: [UInt8] = [0x01, 0x00], called: [UInt8] = [0x01, 0x02],
                        tpduSizeCode: UInt8 = 0x0A) -> [UInt8] {
        let params: [UInt8] = [0xC0, 1, tpduSizeCode, 0xC1, UInt8(calling.count)] + calling + [0xC2, UInt8(called.count)] + called
        let fixed: [UInt8] = [cc ? 0xD0 : 0xE0, 0x00, cc ? 0x01 : 0x00, 0x00, 0x01, 0x00]
        return tpkt([UInt8(fixed.count + params.count)] + fixed + params)
    }

    /// An S7 PDU: header (12 bytes for ack/ack_data), parameter, data.
    static func s7(_ rosctr: UInt8, ref: Int, param: [UInt8], data: [UInt8] = [], error: (UInt8, UInt8)? = nil) -> [UInt8] {
        var h: [UInt8] = [0x32, rosctr, 0, 0] + be16(ref) + be16(param.count) + be16(data.count)
        if rosctr == 2 || rosctr == 3 { h += [error?.0 ?? 0, error?.1 ?? 0] }
        return h + param + data
    }

    static func setup(pdu: Int = 480) -> [UInt8] { [0xF0, 0x00, 0x00, 0x01, 0x00, 0x01] + be16(pdu) }

    /// An S7ANY item: transport size, count, DB, area, address (byte * 8 + bit).
    static func item(ts: UInt8 = 0x02, count: Int, db: Int = 0, area: UInt8, byte: Int, bit: Int = 0) -> [UInt8] {
        let a = byte * 8 + bit
        return [0x12, 0x0A, 0x10, ts] + be16(count) + be16(db) + [area, UInt8(a >> 16 & 0xFF), UInt8(a >> 8 & 0xFF), UInt8(a & 0xFF)]
    }

    static func readVar(_ items: [[UInt8]]) -> [UInt8] { [0x04, UInt8(items.count)] + items.flatMap { $0 } }

    /// A data item (return code, transport size 4 = bits, value), with its fill byte when odd and not last.
    static func dataItem(_ rc: UInt8 = 0xFF, _ value: [UInt8], last: Bool = true) -> [UInt8] {
        let ts: UInt8 = rc == 0xFF || rc == 0 ? 0x04 : 0x00
        var b = [rc, ts] + be16(ts == 0x04 ? value.count * 8 : 0) + value
        if value.count % 2 == 1 && !last { b.append(0) }
        return b
    }

    /// Userdata: parameter head 00 01 12, length, method, type << 4 | group, subfunction, sequence.
    static func userdataParam(type: UInt8, group: UInt8, sub: UInt8, seq: UInt8 = 0, ext: (UInt8, UInt8, UInt16)? = nil) -> [UInt8] {
        var p: [UInt8] = [0x00, 0x01, 0x12, ext == nil ? 4 : 8, type == 4 ? 0x11 : 0x12, type << 4 | group, sub, seq]
        if let e = ext { p += [e.0, e.1] + be16(Int(e.2)) }
        return p
    }

    static func userdataData(_ payload: [UInt8], rc: UInt8 = 0xFF, ts: UInt8 = 0x09) -> [UInt8] {
        [rc, ts] + be16(payload.count) + payload
    }

    static func szlRequest(ref: Int, id: Int, index: Int) -> [UInt8] {
        dt(s7(7, ref: ref, param: userdataParam(type: 4, group: 4, sub: 1), data: userdataData(be16(id) + be16(index))))
    }
}

extension Dictionary where Key == String, Value == Any {
    func int(_ k: String) -> Int? { self[k] as? Int }
    func obj(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func str(_ k: String) -> String? { self[k] as? String }
    func arr(_ k: String) -> [[String: Any]]? { self[k] as? [[String: Any]] }
}

import Foundation
@testable import SpanSightDICOM
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Records what a session emits, one JSON line per event: {"event_type":..., TYPE: {...}} for
/// associations and {"event_type":"anomaly","anomaly":{"event":...}} for anomalies; and the
/// observations as text.
final class RecordingSink: DissectorSink {
    var timestampNanos: Int64 = 1_000_000_000
    var eventsEnabled = true
    var observing = false
    var recorded = EventLines()
    var lines: [String] { recorded.lines }
    var observations: [String] = []
    var operations: [OperationClass] = []
    var pdus = 0

    func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) {
        guard eventsEnabled else { return }
        recorded.event(type, body)
    }

    func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) {
        recorded.anomaly(name, details)
    }

    /// Not an exhaustive switch: the observation enum grows (main adds cases) and these tests
    /// only look at the cases DICOM produces.
    func observe(_ o: Observation) {
        if case .role(let s, let r) = o {
            observations.append("role \(s) \(r)")
        } else if case .identity(let s, let k, let v) = o {
            observations.append("identity \(s) \(k)=\(v)")
        } else if case .command(let c) = o {
            observations.append("command \(c.issuer) \(c.operation.name) \(c.function) \(c.name) \(c.detail ?? "-") \(c.target ?? "-")")
        } else if case .outcome(let s, let n, let ok, let code) = o {
            observations.append("outcome \(s) \(n) \(ok) \(code)")
        } else {
            observations.append("other \(o)")
        }
    }

    func markOperation(_ operation: OperationClass) { operations.append(operation) }
    func countPDU() { pdus += 1 }

    var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
    var anomalies: [String] {
        events.compactMap { ($0["anomaly"] as? [String: Any])?["event"] as? String }
    }
    var associations: [[String: Any]] { events.compactMap { $0["dicom"] as? [String: Any] } }
}

/// A delivery to a session (the shared one, named here for the files that do not import the
/// test support).
typealias Delivery = SpanSightTestSupport.Delivery

/// The session's generic entry points are those the split-invariance verifier drives.
extension DICOMSession: SinkDrivenSession {}

/// Runs deliveries through a fresh session (each delivery split into pieces of `chunk` bytes)
/// and returns everything recorded, after `finish`. The clock advances per delivery, not per
/// piece, so chunking alone never changes latencies.
func runSession(_ deliveries: [Delivery], chunk: Int? = nil, limits: DICOMLimits = DICOMLimits(),
                events: Bool = true, observing: Bool = false, finish: Bool = true) -> RecordingSink {
    let sink = RecordingSink()
    sink.eventsEnabled = events
    sink.observing = observing
    var s = sink
    DICOMSession(limits: limits).drive(deliveries, chunk: chunk, finish: finish, sink: &s) {
        sink.timestampNanos = 1_000_000_000 + Int64($0) * 1_000_000
    }
    return sink
}

/// Builders of upper-layer PDUs and DIMSE command sets, byte for byte as PS3.8 section 9.3 and
/// PS3.7 section 6.3.1 (Implicit VR Little Endian) lay them out.
enum Wire {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    static func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }

    /// PDU: type, reserved, 32-bit length, body.
    static func pdu(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type, 0] + be32(body.count) + body }
    /// Item or sub-item: type, reserved, 16-bit length, value.
    static func item(_ type: UInt8, _ value: [UInt8]) -> [UInt8] { [type, 0] + be16(value.count) + value }
    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }
    /// An AE title field: 16 bytes, space padded.
    static func ae(_ s: String) -> [UInt8] { Array((text(s) + [UInt8](repeating: 0x20, count: 16)).prefix(16)) }

    static let appContext = "1.2.840.10008.3.1.1.1"
    static let implicitLE = "1.2.840.10008.1.2"
    static let explicitLE = "1.2.840.10008.1.2.1"

    static func userInfo(max: Int = 16384, uid: String = "1.2.3.4.5", version: String? = "SPANSIGHT_1", extra: [UInt8] = []) -> [UInt8] {
        var v = item(0x51, be32(max)) + item(0x52, text(uid))
        if let version { v += item(0x55, text(version)) }
        return item(0x50, v + extra)
    }

    static func associateRQ(called: String = "STORESCP", calling: String = "STORESCU", version: Int = 1,
                            contexts: [(UInt8, String, [String])], userInfo: [UInt8] = userInfo(),
                            calledField: [UInt8]? = nil, callingField: [UInt8]? = nil) -> [UInt8] {
        var body = be16(version) + [0, 0] + (calledField ?? ae(called)) + (callingField ?? ae(calling)) + [UInt8](repeating: 0, count: 32)
        body += item(0x10, text(appContext))
        for (id, abstract, ts) in contexts {
            var v: [UInt8] = [id, 0, 0, 0] + item(0x30, text(abstract))
            for t in ts { v += item(0x40, text(t)) }
            body += item(0x20, v)
        }
        return pdu(1, body + userInfo)
    }

    static func associateAC(called: String = "STORESCP", calling: String = "STORESCU",
                            contexts: [(UInt8, UInt8, String)], userInfo: [UInt8] = userInfo(max: 32768, uid: "9.8.7", version: "SCP_2")) -> [UInt8] {
        var body = be16(1) + [0, 0] + ae(called) + ae(calling) + [UInt8](repeating: 0, count: 32)
        body += item(0x10, text(appContext))
        for (id, result, ts) in contexts { body += item(0x21, [id, 0, result, 0] + item(0x40, text(ts))) }
        return pdu(2, body + userInfo)
    }

    static func reject(result: UInt8, source: UInt8, reason: UInt8) -> [UInt8] { pdu(3, [0, result, source, reason]) }
    static let releaseRQ = pdu(5, [0, 0, 0, 0])
    static let releaseRP = pdu(6, [0, 0, 0, 0])
    static func abort(source: UInt8, reason: UInt8) -> [UInt8] { pdu(7, [0, 0, source, reason]) }

    /// PDV item: 32-bit length, context id, message control header, fragment.
    static func pdv(_ ctx: UInt8, command: Bool, last: Bool = true, _ fragment: [UInt8]) -> [UInt8] {
        be32(fragment.count + 2) + [ctx, (command ? 1 : 0) | (last ? 2 : 0)] + fragment
    }
    static func pdata(_ pdvs: [UInt8]...) -> [UInt8] { pdu(4, pdvs.flatMap { $0 }) }

    /// Command set element values.
    enum Value { case us(Int), ui(String), ae(String) }

    /// Implicit VR Little Endian command set with its group length (0000,0000) first.
    static func commandSet(_ elements: [(Int, Value)]) -> [UInt8] {
        var body: [UInt8] = []
        for (tag, value) in elements.sorted(by: { $0.0 < $1.0 }) {
            var v: [UInt8]
            switch value {
            case .us(let x): v = le16(x)
            case .ui(let s): v = text(s); if v.count % 2 == 1 { v.append(0) }
            case .ae(let s): v = text(s); if v.count % 2 == 1 { v.append(0x20) }
            }
            body += le16(0) + le16(tag) + le32(v.count) + v
        }
        return le16(0) + le16(0) + le32(4) + le32(body.count) + body
    }
}

extension Dictionary where Key == String, Value == Any {
    func int(_ k: String) -> Int? { self[k] as? Int }
    func obj(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func str(_ k: String) -> String? { self[k] as? String }
    func arr(_ k: String) -> [[String: Any]] { self[k] as? [[String: Any]] ?? [] }
}

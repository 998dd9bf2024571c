import SpanSightEngine
@testable import SpanSightModbus
import SpanSightWire
import XCTest

/// Framing, resynchronisation, pairing and caps, driven through a session with a recording sink.
final class ModbusStreamTests: XCTestCase {
    /// A conversation of the spec vectors: all requests pipelined in one direction, all
    /// responses in the other, plus an exception and an unanswered request.
    static func conversation() -> [Delivery] {
        var reqs: [UInt8] = [], rsps: [UInt8] = []
        for (i, v) in ModbusVectorTests.vectors.enumerated() {
            reqs += adu(UInt16(i), v.request)
            rsps += adu(UInt16(i), v.response)
        }
        reqs += adu(999, [0x03, 0, 0, 0, 1])   // never answered
        return [Delivery(direction: .toServer, bytes: reqs), Delivery(direction: .toClient, bytes: rsps)]
    }

    /// NIO's ByteToMessageDecoderVerifier idea: whole, one byte at a time, and split at every
    /// offset give the same events.
    func testSameEventsWholeByteAtATimeAndEverySplit() {
        let conv = Self.conversation()
        let whole = runSession(conv).lines
        XCTAssertEqual(whole.filter { $0.contains("\"status\":\"complete\"") }.count, ModbusVectorTests.vectors.count)
        XCTAssertEqual(whole.filter { $0.contains("\"status\":\"unanswered\"") }.count, 1)
        XCTAssertEqual(runSession(conv, chunk: 1).lines, whole)
        for d in 0..<2 {
            let bytes = conv[d].bytes
            for cut in 1..<bytes.count {
                var split = conv
                split[d] = Delivery(direction: conv[d].direction, bytes: Array(bytes[0..<cut]))
                split.insert(Delivery(direction: conv[d].direction, bytes: Array(bytes[cut...])), at: d + 1)
                // Timestamps advance per delivery: compare without latency.
                XCTAssertEqual(runSession(split).lines.map(stripLatency), whole.map(stripLatency), "direction \(d) cut \(cut)")
            }
        }
    }

    func stripLatency(_ s: String) -> String {
        s.replacingOccurrences(of: #""latency_ms":[0-9.]+,"#, with: "", options: .regularExpression)
    }

    func testResyncAfterGarbageAndGap() {
        let a = adu(1, [0x03, 0, 0, 0, 1]), b = adu(2, [0x03, 0, 1, 0, 1])
        // Garbage in sync: a length of 0 is invalid -> invalid_length, then resync on `b`.
        let garbage: [UInt8] = [0xAA, 0xAA, 0xAA, 0xAA, 0x00, 0x00, 0xAA, 0xAA, 0xAA]
        let s = runSession([Delivery(direction: .toServer, bytes: a + garbage + b)])
        XCTAssertEqual(s.anomalies, ["modbus.invalid_length", "modbus.resync", "modbus.unanswered_request"])
        XCTAssertEqual(s.transactions.compactMap { $0.obj("request")?.int("transaction_id") }, [1, 2])
        // After a gap the stream restarts mid-ADU: the 3 bytes of `a` held when the gap came
        // are an incomplete message, the tail of `a` is skipped, `b` is found.
        let g = runSession([Delivery(direction: .toServer, bytes: Array(a[0..<3])),
                     Delivery(direction: .toServer, bytes: [], gap: 5),
                     Delivery(direction: .toServer, bytes: Array(a[8...]) + b)], finish: false)
        XCTAssertEqual(g.anomalies, ["modbus.incomplete_message", "modbus.resync"])
        XCTAssertEqual(g.events.first?.obj("anomaly")?.int("pending_bytes"), 3)
        XCTAssertEqual(g.events.count, 2)
    }

    /// A non-zero protocol id on an in-sync stream: decoded and paired, reported as an anomaly
    /// (tshark 4.0 does not dissect such frames at all; see the corpus test).
    func testNonZeroProtocolIDIsDecodedAndReported() {
        let s = runSession([Delivery(direction: .toServer, bytes: adu(1, [0x03, 0, 0, 0, 1])),
                     Delivery(direction: .toClient, bytes: adu(1, [0x83, 0x02], protocolID: 0x0200))])
        XCTAssertEqual(s.anomalies, ["modbus.invalid_protocol_id"])
        XCTAssertEqual(s.transactions.first?.obj("response")?.int("protocol_id"), 0x200)
    }

    func testUnmatchedUnitMismatchAndDuplicate() {
        let s = runSession([Delivery(direction: .toClient, bytes: adu(5, [0x03, 0x02, 0, 1])),
                     Delivery(direction: .toServer, bytes: adu(6, unit: 1, [0x03, 0, 0, 0, 1])),
                     Delivery(direction: .toClient, bytes: adu(6, unit: 2, [0x03, 0x02, 0, 1])),
                     Delivery(direction: .toServer, bytes: adu(7, [0x06, 0, 0, 0, 1])),
                     Delivery(direction: .toServer, bytes: adu(7, [0x06, 0, 0, 0, 2]))])
        XCTAssertEqual(s.anomalies, ["modbus.unsolicited_response", "modbus.unit_id_mismatch",
                                     "modbus.unanswered_request", "modbus.unanswered_request"])
        XCTAssertEqual(s.transactions.map { $0.str("status") ?? "" },
                       ["unmatched_response", "complete", "unanswered", "unanswered"])
    }

    func testOpenRequestCap() {
        var reqs: [UInt8] = []
        for t in 0..<10 { reqs += adu(UInt16(t), [0x03, 0, 0, 0, 1]) }
        let s = runSession([Delivery(direction: .toServer, bytes: reqs)], maxOpen: 4, finish: false)
        XCTAssertEqual(s.anomalies, ["modbus.too_many_transactions"])
        // The six oldest were evicted as unanswered, in order.
        XCTAssertEqual(s.transactions.compactMap { $0.obj("request")?.int("transaction_id") }, [0, 1, 2, 3, 4, 5])
    }

    func testValuesAreCapped() {
        let regs = [UInt8](repeating: 0, count: 2 * 100)
        let s = runSession([Delivery(direction: .toServer, bytes: adu(1, [0x03, 0, 0, 0, 100])),
                     Delivery(direction: .toClient, bytes: adu(1, [0x03, 200] + regs))])
        let r = s.transactions.first?.obj("response")
        XCTAssertEqual((r?["values"] as? [Int])?.count, ModbusJSON.maxValues)
        XCTAssertEqual(r?.int("values_truncated"), 100 - ModbusJSON.maxValues)
    }

    func testUDPSeveralADUsPerDatagram() {
        let s = runSession([Delivery(direction: .toServer, bytes: adu(1, [0x03, 0, 0, 0, 1]) + adu(2, [0x04, 0, 0, 0, 1])),
                     Delivery(direction: .toClient, bytes: adu(2, [0x04, 0x02, 0, 9])),
                     Delivery(direction: .toClient, bytes: adu(1, [0x03, 0x02, 0, 8]))], udp: true)
        XCTAssertEqual(s.anomalies, [String]())
        XCTAssertEqual(s.transactions.compactMap { $0.obj("response")?["values"] as? [Int] }, [[9], [8]])
    }

    func testProbe() {
        let info = true, other = false   // on port 502 or not
        func probe(_ b: [UInt8], _ port502: Bool) -> ProbeResult { ByteView.with(b) { Modbus.probe($0, onModbusPort: port502) } }
        XCTAssertEqual(probe(adu(1, [0x03, 0, 0, 0, 1]), other), .match)
        XCTAssertEqual(probe(Array(adu(1, [0x03, 0, 0, 0, 1])[0..<6]), info), .needMore)
        XCTAssertEqual(probe(Array("GET / HTTP/1.1\r\n".utf8), info), .noMatch)
        XCTAssertEqual(probe([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC], info), .noMatch)
        XCTAssertEqual(probe(adu(1, [0x00, 0, 0, 0, 0]), info), .match)      // FC 0 sweep on 502
        XCTAssertEqual(probe(adu(1, [0x00, 0, 0, 0, 0]), other), .noMatch)
        XCTAssertEqual(probe(adu(1, [0x03, 0, 0, 0, 1]) + [0, 1, 0, 9, 0xFF, 0xFF, 1, 3], info), .noMatch)
    }
}

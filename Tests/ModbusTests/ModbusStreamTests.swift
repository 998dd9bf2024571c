import SpanSightEngine
@testable import SpanSightModbus
import SpanSightTestSupport
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

    /// Same sink calls whole, a byte at a time, cut at every offset and in random pieces
    /// (`SplitInvariance`), observing.
    func testSameEventsWholeByteAtATimeAndEverySplit() {
        let whole = SplitInvariance.verify(Self.conversation()) { ModbusSession(udp: false, maxOpenRequests: 1024) }
        XCTAssertEqual(whole.lines.filter { $0.contains("\"status\":\"complete\"") }.count, ModbusVectorTests.vectors.count)
        XCTAssertEqual(whole.lines.filter { $0.contains("\"status\":\"unanswered\"") }.count, 1)
        XCTAssertFalse(whole.observations.isEmpty, "observations compared too")
    }

    /// The same on the TCP flows of the pymodbus fixture, as the engine delivered them.
    func testFixtureFlowsAtEverySplit() throws {
        XCTAssertFalse(try SplitInvariance.verifyFixtureFlows(["modbus-pymodbus.pcap"], entry: Modbus.entry) { ModbusSession(udp: false) }.isEmpty)
    }

    /// Through the engine: the conversation in TCP segments cut every way gives the same events.
    func testThroughTheEngineAtEverySplit() {
        let lines = SplitInvariance.verifyThroughEngine(Modbus.entry, Self.conversation(), serverPort: Modbus.modbusPort,
                                                        splits: .init(pieceSizes: [1, 7], everyOffset: false, randomRounds: 3))
        XCTAssertEqual(lines.filter { $0.contains("\"status\":\"complete\"") }.count, ModbusVectorTests.vectors.count)
    }

    /// The verifier is no rubber stamp: a session that lets the cuts show (an anomaly when a
    /// call brings `pieceLength` bytes) is caught at the first cut that shows, which the failure
    /// names with the first record that differs; and deliveries that give nothing fail rather
    /// than compare nothing.
    func testVerifierCatchesASessionThatSeesTheCuts() {
        final class SeesCuts: SinkDrivenSession {
            let inner = ModbusSession(udp: false)
            let pieceLength: Int
            init(_ pieceLength: Int) { self.pieceLength = pieceLength }
            func receive<S: DissectorSink>(_ bytes: ByteView, direction: Direction, sink: inout S) {
                if bytes.count == pieceLength { sink.anomaly("modbus.sees_cut") }
                inner.receive(bytes, direction: direction, sink: &sink)
            }
            func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S) {
                inner.gap(length, direction: direction, sink: &sink)
            }
            func finish<S: DissectorSink>(sink: inout S) { inner.finish(sink: &sink) }
        }
        let conv = Self.conversation()
        let bytewise = SplitInvariance.check(conv) { SeesCuts(1) }.failure ?? ""
        XCTAssertTrue(bytewise.hasPrefix("a byte at a time differs from the whole deliveries at record 0 "), bytewise)
        XCTAssertTrue(bytewise.contains("\n  cut:   {\"event_type\":\"anomaly\",\"timestamp\":1000000000,\"pcap_cnt\":1,\"anomaly\":{"
                                        + "\"event\":\"sees_cut\",\"layer\":\"proto_parser\",\"name\":\"modbus.sees_cut\"}}"), bytewise)
        let cut = SplitInvariance.check(conv, splits: .init(pieceSizes: [], randomRounds: 0)) { SeesCuts(5) }.failure ?? ""
        XCTAssertTrue(cut.hasPrefix("delivery 0 (toServer, \(conv[0].bytes.count) bytes) cut at 5 differs"), cut)
        let random = SplitInvariance.check(conv, splits: .init(pieceSizes: [], everyOffset: false, maxRandomPiece: 5)) { SeesCuts(5) }
        XCTAssertTrue(random.failure?.hasPrefix("random pieces of 1 to 5 bytes (seed 7, round 0) differs") ?? false,
                      "\(String(describing: random.failure))")
        XCTAssertEqual(SplitInvariance.check([Delivery(direction: .toServer, bytes: [])]) { SeesCuts(1) }.failure,
                       "the whole deliveries gave nothing to compare")
        XCTAssertNil(SplitInvariance.check(conv) { SeesCuts(1000) }.failure)
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

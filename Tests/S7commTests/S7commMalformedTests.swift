import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Malformed and hostile S7comm is never invisible and never traps: every anomaly of the
/// catalogue from the bytes that cause it, every prefix of the fixture streams, and random
/// mutations of them (every event valid JSON).
final class S7commMalformedTests: XCTestCase {
    typealias B = S7Bytes
    typealias A = S7comm.Anomalies

    func names(_ list: [Anomaly]) -> [String] { list.map { "\($0.name)" } }

    func run(_ d: [Delivery], maxOpen: Int = S7commSession.defaultMaxOpenRequests, finish: Bool = true) -> RecordingSink {
        runSession(d, maxOpen: maxOpen, observing: true, finish: finish)
    }
    func toServer(_ b: [UInt8]) -> Delivery { Delivery(direction: .toServer, bytes: b) }
    func toClient(_ b: [UInt8]) -> Delivery { Delivery(direction: .toClient, bytes: b) }

    static let read = B.dt(B.s7(1, ref: 1, param: B.readVar([B.item(count: 2, area: 0x83, byte: 0)])))
    static let readAck = B.dt(B.s7(3, ref: 1, param: [0x04, 0x01], data: B.dataItem(0xFF, [1, 2])))

    func testTPKTFraming() {
        // Version 4: not framed; the parser skips to the next TPKT (resync), then decodes it.
        var bad = Self.read
        bad[0] = 4
        let s = run([toServer(bad + Self.read)])
        XCTAssertEqual(s.anomalies, names([A.invalidTPKTVersion, A.resync, A.unansweredRequest]))
        XCTAssertEqual(s.events.first?.obj("anomaly")?.int("version"), 4)
        XCTAssertEqual(s.events[1].obj("anomaly")?.int("skipped_bytes"), bad.count)
        // A length under 7.
        let short = run([toServer([3, 0, 0, 5, 0xAA] + Self.read)])
        XCTAssertEqual(short.anomalies, names([A.invalidTPKTLength, A.resync, A.unansweredRequest]))
        // The reserved byte set: reported, decoded all the same.
        var reserved = Self.read
        reserved[1] = 1
        XCTAssertEqual(run([toServer(reserved), toClient(Self.readAck)]).anomalies, names([A.invalidTPKTReserved]))
        // Garbage out of sync at the end: skipped bytes.
        let tail = run([toServer(bad)])
        XCTAssertEqual(tail.anomalies, names([A.invalidTPKTVersion, A.skippedBytes]))
    }

    func testCOTP() {
        func reason(_ tpdu: [UInt8]) -> String? {
            let s = run([toServer(B.tpkt(tpdu))])
            XCTAssertEqual(s.anomalies, names([A.badCOTP]), "\(tpdu)")
            return s.events.first?.obj("anomaly")?.str("reason")
        }
        XCTAssertEqual(reason([0x00, 0xF0, 0x80]), "length_indicator")
        XCTAssertEqual(reason([0x09, 0xF0, 0x80]), "header_overrun")
        XCTAssertEqual(reason([0x02, 0x30, 0x80]), "unknown_type")
        XCTAssertEqual(reason([0x08, 0xE0, 0, 0, 0, 1, 0, 0xC1, 4, 1]), "parameter_overrun")
        XCTAssertEqual(reason([0x09, 0xE0, 0, 0, 0, 1, 0, 0xC0, 1, 0x0E]), "invalid_tpdu_size")
        XCTAssertEqual(reason([0x04, 0x10, 0, 1, 0x80]), "unexpected_tpdu_type")
        // A DT larger than the negotiated TPDU size (128): once per flow.
        let big = B.dt(B.s7(1, ref: 2, param: B.readVar(Array(repeating: B.item(count: 1, area: 0x83, byte: 0), count: 12))))
        let s = run([toServer(B.connect(tpduSizeCode: 7)), toClient(B.connect(cc: true, tpduSizeCode: 7)), toServer(big + big)])
        XCTAssertEqual(s.anomalies.filter { $0 == "\(A.tpduSizeExceeded.name)" }.count, 1)
    }

    func testS7Header() {
        let plus = run([toServer(B.dt([0x72, 0x01, 0x00, 0x1E, 0x31]))])
        XCTAssertEqual(plus.anomalies, names([A.invalidProtocolID]))
        XCTAssertEqual(plus.events.first?.obj("anomaly")?.int("protocol_id"), 0x72)
        XCTAssertEqual(run([toServer(B.dt([0x32, 0x05, 0, 0, 0, 1, 0, 0, 0, 0]))]).anomalies, names([A.unknownROSCTR]))
        XCTAssertEqual(run([toServer(B.dt([0x32, 0x01, 0, 0, 0]))]).anomalies, names([A.malformedPDU]))
        // Parameter and data lengths past the PDU: reported, logged with what the header says.
        let long = run([toServer(B.dt([0x32, 0x01, 0, 0, 0, 9, 0, 20, 0, 0, 0x04, 0x01]))])
        XCTAssertEqual(long.anomalies, names([A.invalidPDULength, A.unansweredRequest]))
        XCTAssertEqual(long.transactions.first?.obj("request")?.int("pdu_bytes"), 12)
        // Bytes after the declared PDU.
        XCTAssertEqual(run([toServer(B.dt(B.s7(1, ref: 1, param: B.readVar([B.item(count: 2, area: 0x83, byte: 0)])) + [0, 0])),
                            toClient(Self.readAck)]).anomalies, names([A.trailingBytes]))
        // A PDU larger than the negotiated PDU size (240).
        let items = B.readVar(Array(repeating: B.item(count: 1, area: 0x83, byte: 0), count: 20))
        let s = run([toServer(B.dt(B.s7(1, ref: 0, param: B.setup(pdu: 480)))), toClient(B.dt(B.s7(3, ref: 0, param: B.setup(pdu: 240)))),
                     toServer(B.dt(B.s7(1, ref: 5, param: items)))], finish: false)
        XCTAssertEqual(s.anomalies, names([A.pduSizeExceeded]))
        XCTAssertEqual(s.events.compactMap { $0.obj("anomaly") }.first?.int("negotiated"), 240)
    }

    func testParametersAndItems() {
        XCTAssertEqual(run([toServer(B.dt(B.s7(1, ref: 1, param: [0x99])))]).anomalies, names([A.unknownFunction, A.unansweredRequest]))
        XCTAssertEqual(run([toServer(B.dt(B.s7(1, ref: 1, param: [])))]).anomalies, names([A.malformedPDU, A.unansweredRequest]))
        // Three items announced, two there.
        let two = [0x04, 0x03] + B.item(count: 1, area: 0x83, byte: 0) + B.item(count: 1, area: 0x83, byte: 1)
        XCTAssertEqual(run([toServer(B.dt(B.s7(1, ref: 1, param: two)))]).anomalies, names([A.itemCountMismatch, A.unansweredRequest]))
        // A variable specification that is not 0x12.
        var spec = B.readVar([B.item(count: 1, area: 0x83, byte: 0)])
        spec[2] = 0x13
        XCTAssertEqual(run([toServer(B.dt(B.s7(1, ref: 1, param: spec)))]).anomalies, names([A.malformedPDU, A.unansweredRequest]))
        // A write job with fewer data items than variable specifications.
        let write = B.dt(B.s7(1, ref: 1, param: [0x05, 0x02] + B.item(count: 1, area: 0x83, byte: 0) + B.item(count: 1, area: 0x83, byte: 1),
                              data: B.dataItem(0x00, [7])))
        XCTAssertEqual(run([toServer(write)]).anomalies, names([A.itemCountMismatch, A.unansweredRequest]))
        // A userdata parameter whose head is not 00 01 12; a userdata data length past its part.
        var head = B.userdataParam(type: 4, group: 4, sub: 1)
        head[2] = 0x13
        XCTAssertEqual(run([toServer(B.dt(B.s7(7, ref: 1, param: head, data: B.userdataData([0, 0x11, 0, 0]))))]).anomalies,
                       names([A.malformedPDU, A.unansweredRequest]))
        XCTAssertEqual(run([toServer(B.dt(B.s7(7, ref: 1, param: B.userdataParam(type: 4, group: 4, sub: 1), data: [0xFF, 9, 0, 40, 0])))]).anomalies,
                       names([A.malformedPDU, A.unansweredRequest]))
        // An unknown function group.
        XCTAssertEqual(run([toServer(B.dt(B.s7(7, ref: 1, param: B.userdataParam(type: 4, group: 9, sub: 1))))]).anomalies,
                       names([A.unknownFunction, A.unansweredRequest]))
    }

    func testTransactions() {
        // A response without a request; a request answered by another function; a response
        // with another item count; a reference used again while open; requests left open.
        let s = run([
            toClient(Self.readAck),
            toServer(Self.read), toClient(B.dt(B.s7(3, ref: 1, param: [0x05, 0x01], data: [0xFF]))),
            toServer(Self.read), toClient(B.dt(B.s7(3, ref: 1, param: [0x04, 0x02], data: B.dataItem(0xFF, [1, 2]) + B.dataItem(0xFF, [3])))),
            toServer(Self.read), toServer(Self.read),
        ])
        XCTAssertEqual(s.anomalies, names([A.unsolicitedResponse, A.functionMismatch, A.itemCountMismatch,
                                           A.unansweredRequest, A.unansweredRequest]))
        XCTAssertEqual(s.transactions.map { $0.str("status") ?? "" }, ["unmatched_response", "complete", "complete", "unanswered", "unanswered"])
        // The open-request cap: reported once, the oldest logged unanswered to make room.
        var reqs: [UInt8] = []
        for r in 0..<10 { reqs += B.dt(B.s7(1, ref: r, param: B.readVar([B.item(count: 1, area: 0x83, byte: 0)]))) }
        let capped = run([toServer(reqs)], maxOpen: 4, finish: false)
        XCTAssertEqual(capped.anomalies, names([A.tooManyTransactions]))
        XCTAssertEqual(capped.transactions.compactMap { $0.obj("request")?.int("pdu_ref") }, [0, 1, 2, 3, 4, 5])
        // The same reference from each side is two transactions (the PLC's jobs of a download).
        let both = run([toServer(Self.read), toClient(B.dt(B.s7(1, ref: 1, param: [0x1B, 0, 0, 0, 0, 0, 0, 0, 1, 0x5F]))),
                        toClient(Self.readAck), toServer(B.dt(B.s7(3, ref: 1, param: [0x1B, 0])))])
        XCTAssertEqual(both.anomalies, [])
        XCTAssertEqual(both.transactions.map { $0.str("status") ?? "" }, ["complete", "complete"])
    }

    func testGapsAndFragments() {
        // A gap inside a TPKT: what was held is incomplete; the stream resynchronises after it.
        let g = run([toServer(Array(Self.read[0..<10])), Delivery(direction: .toServer, bytes: [], gap: 5),
                     toServer(Array(Self.read[15...]) + Self.read)], finish: false)
        XCTAssertEqual(g.anomalies, names([A.incompleteMessage, A.resync]))
        XCTAssertEqual(g.events.first?.obj("anomaly")?.str("kind"), "tpkt")
        XCTAssertEqual(g.events.first?.obj("anomaly")?.int("pending_bytes"), 10)
        // A gap inside a multi-TPDU PDU.
        let pdu = B.s7(1, ref: 3, param: B.readVar([B.item(count: 2, area: 0x83, byte: 0)]))
        let f = run([toServer(B.dt(Array(pdu[0..<8]), eot: false)), Delivery(direction: .toServer, bytes: [], gap: 9),
                     toServer(Self.read)], finish: false)
        XCTAssertEqual(f.anomalies, names([A.incompleteMessage]))
        XCTAssertEqual(f.events.first?.obj("anomaly")?.str("kind"), "tsdu")
        // A TSDU past 16 KiB: dropped up to its last TPDU, the next PDU decoded.
        let chunk = B.dt([UInt8](repeating: 0x32, count: 1000), eot: false)
        let o = run([toServer(Array(repeating: chunk, count: 20).flatMap { $0 } + B.dt([1, 2, 3]) + Self.read)], finish: false)
        XCTAssertEqual(o.anomalies, names([A.fragmentOverflow]))
        XCTAssertEqual(o.transactions.count, 0)
        XCTAssertEqual(run([toServer(Array(repeating: chunk, count: 20).flatMap { $0 } + B.dt([1, 2, 3]) + Self.read), toClient(Self.readAck)])
                        .transactions.map { $0.str("status") ?? "" }, ["complete"])
    }

    // MARK: hostile input

    static func fixtureFlows() throws -> [[Delivery]] {
        try DeliveryRecorder.flows("s7comm-snap7.pcap") + DeliveryRecorder.flows("s7comm-snap7-port1102.pcap")
    }

    static func valid(_ s: RecordingSink) -> Bool {
        s.lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }
    }

    /// Every prefix of every direction's stream of the first flow, then the flow's end: no
    /// trap, valid events, whatever is cut.
    func testEveryPrefixOfTheFixtureStreams() throws {
        let flow = try XCTUnwrap(try Self.fixtureFlows().first)
        for dir in [Direction.toServer, .toClient] {
            let stream = flow.filter { $0.direction == dir }.flatMap(\.bytes)
            let other = flow.filter { $0.direction != dir }.flatMap(\.bytes)
            for n in stride(from: 0, through: stream.count, by: 1) {
                let s = runSession([Delivery(direction: dir, bytes: Array(stream[..<n])), Delivery(direction: dir.reversed, bytes: other)],
                                   observing: true)
                if !Self.valid(s) { XCTFail("\(dir) prefix \(n): invalid JSON"); return }
            }
        }
    }

    /// Random mutations of the fixture flows (byte flips, insertions, deletions, cuts, gaps):
    /// no trap, valid JSON, and state bounded (the table never passes its cap).
    func testRandomMutationsNeverTrap() throws {
        let flows = try Self.fixtureFlows()
        var rng = SplitMix(seed: 0x57C0)
        var anomalies = Set<String>()
        for round in 0..<1500 {
            var flow = flows[round % flows.count]
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let i = Int.random(in: 0..<flow.count, using: &rng)
                var b = flow[i].bytes
                guard !b.isEmpty else { continue }
                let at = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: b[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: b[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                case 2: b.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
                case 3: b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...16, using: &rng)))
                case 4: b = Array(b[..<at])
                default: flow.insert(Delivery(direction: flow[i].direction, bytes: [], gap: Int.random(in: 1...100, using: &rng)), at: i)
                }
                if i < flow.count { flow[i].bytes = b }
            }
            let s = runSession(flow, chunk: round % 3 == 0 ? Int.random(in: 1...64, using: &rng) : nil, maxOpen: 8, observing: true)
            if !Self.valid(s) { XCTFail("round \(round): invalid JSON"); return }
            anomalies.formUnion(s.anomalies)
        }
        print("s7comm mutation anomalies: \(anomalies.sorted())")
        XCTAssertGreaterThan(anomalies.count, 8)
    }

    /// Random bytes after a valid connect and setup: no trap.
    func testRandomPDUsAfterASetup() {
        var rng = SplitMix(seed: 7)
        for _ in 0..<3000 {
            let n = Int.random(in: 0...80, using: &rng)
            var body = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n > 2 && Bool.random(using: &rng) { body[0] = 0x32; body[1] = [1, 2, 3, 7][Int.random(in: 0...3, using: &rng)] }
            let s = runSession([toServer(B.connect()), toClient(B.connect(cc: true)), toServer(B.dt(body)), toClient(B.dt(body))], observing: true)
            if !Self.valid(s) { XCTFail("invalid JSON for \(body)"); return }
        }
    }
}

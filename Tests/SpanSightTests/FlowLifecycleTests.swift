import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// When a flow ends and the next begins on the same addresses and ports: TCP port reuse, idle
/// timeouts, packet times that go backwards.
final class FlowLifecycleTests: XCTestCase {
    let c = "10.0.0.1", s = "10.0.0.2"
    let cp: UInt16 = 40000, sp: UInt16 = 502

    func client(_ seq: UInt32, _ text: String = "", ack: UInt32 = 0, flags: UInt8 = 0x18) -> [UInt8] {
        PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: seq, ack: ack, flags: flags, payload: Array(text.utf8))
    }

    func server(_ seq: UInt32, _ text: String = "", ack: UInt32 = 0, flags: UInt8 = 0x18) -> [UInt8] {
        PacketBuilder.tcp(src: s, sport: sp, dst: c, dport: cp, seq: seq, ack: ack, flags: flags, payload: Array(text.utf8))
    }

    /// SYN, SYN+ACK, ACK, one request each way.
    func connection(_ h: EngineHarness, isn: UInt32, serverISN: UInt32, request: String, reply: String) {
        h.feed(client(isn, flags: PacketBuilder.syn))
        h.feed(server(serverISN, ack: isn &+ 1, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        h.feed(client(isn &+ 1, ack: serverISN &+ 1, flags: PacketBuilder.ackFlag))
        h.feed(client(isn &+ 1, request, ack: serverISN &+ 1))
        h.feed(server(serverISN &+ 1, reply, ack: isn &+ 1 &+ UInt32(request.utf8.count)))
    }

    func close(_ h: EngineHarness, clientSeq: UInt32, serverSeq: UInt32, reset: Bool = false) {
        if reset {
            h.feed(client(clientSeq, ack: serverSeq, flags: PacketBuilder.rst | PacketBuilder.ackFlag))
            return
        }
        h.feed(client(clientSeq, ack: serverSeq, flags: PacketBuilder.fin | PacketBuilder.ackFlag))
        h.feed(server(serverSeq, ack: clientSeq &+ 1, flags: PacketBuilder.fin | PacketBuilder.ackFlag))
        h.feed(client(clientSeq &+ 1, ack: serverSeq &+ 1, flags: PacketBuilder.ackFlag))
    }

    func flowEvents(_ lines: [String]) -> [String] { lines.filter { $0.contains("\"event_type\":\"flow\"") } }

    /// A connection closed by FIN or RST, then a new one on the same ports with a lower or a
    /// higher initial sequence number: two flows, each stream whole, no gap (tshark: "a new
    /// tcp session is started with the same ports").
    func testNewSYNAfterCloseStartsANewFlow() {
        for (reset, secondISN) in [(false, UInt32(500)), (false, UInt32(0x7000_0000)), (true, UInt32(10))] {
            let r = StreamRecorder()
            let h = EngineHarness(dissectors: [r.entry()])
            connection(h, isn: 90_000, serverISN: 7_000, request: "first?", reply: "first!")
            close(h, clientSeq: 90_007, serverSeq: 7_007, reset: reset)
            connection(h, isn: secondISN, serverISN: 3_000_000, request: "second?", reply: "second!")
            let lines = h.finish()
            let flows = flowEvents(lines)
            XCTAssertEqual(flows.count, 2, "reset \(reset), ISN \(secondISN): \(flows)")
            XCTAssertEqual(flows.filter { $0.contains("\"reason\":\"tcp_reuse\"") }.count, 1, flows.joined(separator: "\n"))
            XCTAssertEqual(r.sessions, 2)
            XCTAssertEqual(r.gaps(.toServer), [], "no gap across the reuse")
            XCTAssertEqual(r.gaps(.toClient), [])
            XCTAssertEqual(String(decoding: r.stream(.toServer), as: UTF8.self), "first?second?")
            XCTAssertEqual(String(decoding: r.stream(.toClient), as: UTF8.self), "first!second!")
            XCTAssertEqual(h.engine.counters.flowsReused, 1)
            XCTAssertEqual(h.engine.counters.reassemblyGapBytes, 0)
        }
    }

    /// A retransmitted SYN (same sequence number) is the same connection.
    func testRetransmittedSYNIsTheSameFlow() {
        let h = EngineHarness(dissectors: [])
        h.feed(client(1000, flags: PacketBuilder.syn))
        h.feed(client(1000, flags: PacketBuilder.syn), advanceMicros: 1_000_000)
        h.feed(server(5000, ack: 1001, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        h.feed(client(1001, "abc", ack: 5001))
        h.feed(client(1000, flags: PacketBuilder.syn))                // a late copy after data
        XCTAssertEqual(flowEvents(h.finish()).count, 1)
        XCTAssertEqual(h.engine.counters.flowsReused, 0)
    }

    /// An established connection that gets a SYN with another sequence number: the old one
    /// was closed unseen (or lost to the capture); a new flow starts.
    func testSYNWithAnotherSequenceNumberOnAnOpenFlowStartsANewFlow() {
        let h = EngineHarness(dissectors: [])
        connection(h, isn: 1000, serverISN: 5000, request: "abc", reply: "def")
        h.feed(client(88_888, flags: PacketBuilder.syn))
        XCTAssertEqual(flowEvents(h.finish()).count, 2)
        XCTAssertEqual(h.engine.counters.flowsReused, 1)
    }

    /// Picked up mid-stream: a SYN whose sequence number lies within the bytes already seen
    /// is a reordered copy; one outside them opens a new connection.
    func testMidStreamFlowSplitsOnlyOnAForeignSYN() {
        let h = EngineHarness(dissectors: [])
        h.feed(client(20_000, "hello"))
        h.feed(client(20_005, "world"))
        h.feed(client(19_999, flags: PacketBuilder.syn))              // seq + 1 = first byte seen
        XCTAssertEqual(h.engine.counters.flowsReused, 0)
        h.feed(client(70_000, flags: PacketBuilder.syn))
        XCTAssertEqual(h.engine.counters.flowsReused, 1)
        XCTAssertEqual(flowEvents(h.finish()).count, 2)
    }

    /// A refused connection retried with the same SYN (SYN, RST, SYN, RST, ...): one attempt,
    /// one flow (as tshark counts it; seen in the corpus).
    func testSYNRetriedAfterARefusalIsTheSameFlow() {
        let h = EngineHarness(dissectors: [])
        for _ in 0..<3 {
            h.feed(client(2_157_023_231, flags: PacketBuilder.syn), advanceMicros: 500_000)
            h.feed(server(0, ack: 2_157_023_232, flags: PacketBuilder.rst | PacketBuilder.ackFlag))
        }
        XCTAssertEqual(flowEvents(h.finish()).count, 1)
        XCTAssertEqual(h.engine.counters.flowsReused, 0)
    }

    // MARK: idle timeouts and the clock

    func udp(_ host: Int, reply: Bool = false, size: Int = 1) -> [UInt8] {
        reply
            ? PacketBuilder.udp(src: "10.0.0.1", sport: 20000, dst: "10.9.0.\(host)", dport: 40000, payload: [UInt8](repeating: 7, count: size))
            : PacketBuilder.udp(src: "10.9.0.\(host)", sport: 40000, dst: "10.0.0.1", dport: 20000, payload: [UInt8](repeating: 7, count: size))
    }

    func field(_ line: String, _ name: String) -> String? {
        guard let r = line.range(of: "\"\(name)\":") else { return nil }
        let rest = line[r.upperBound...]
        let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
        return String(rest[..<end]).replacingOccurrences(of: "\"", with: "")
    }

    /// A flow idle past its timeout ends when its next packet comes, which starts a new flow,
    /// even when the expiry scan would have reached it only later (t=100, 108, another flow
    /// at 111, then 120: 12 s idle against 10).
    func testAPacketAfterTheTimeoutStartsANewFlow() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 10_000_000_000 }
        h.feed(udp(1))
        h.feed(udp(1), advanceMicros: 8_000_000)
        h.feed(udp(2), advanceMicros: 3_000_000)
        h.feed(udp(1), advanceMicros: 9_000_000)
        let flows = flowEvents(h.finish()).filter { $0.contains("10.9.0.1") }
        XCTAssertEqual(flows.count, 2, flows.joined(separator: "\n"))
        XCTAssertEqual(flows.first.flatMap { field($0, "pkts_toserver") }, "2")
        XCTAssertEqual(flows.first.flatMap { field($0, "reason") }, "timeout")
        // Exactly at the timeout the flow is still open.
        let g = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 10_000_000_000 }
        g.feed(udp(1)); g.feed(udp(1), advanceMicros: 10_000_000)
        XCTAssertEqual(flowEvents(g.finish()).count, 1)
    }

    /// Packet time that steps back (a clock set back, files given out of order) neither splits
    /// flows nor stamps events with the wrong time; idle timeouts resume once packet time is
    /// past where it was.
    func testPacketTimeSteppingBackKeepsFlowsAndTheirTimes() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 30_000_000_000 }
        h.feed(udp(1))
        h.feed(udp(1, reply: true), advanceMicros: 1_000_000)
        h.feed(udp(1), advanceMicros: -3_600_000_000)          // an hour back
        for _ in 0..<3 { h.feed(udp(1, reply: true), advanceMicros: 1_000_000) }
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0, "a step back is not idleness")
        XCTAssertEqual(h.engine.packetNanos, h.clockMicros * 1000)
        // 100 s after the step, packet time is still an hour behind: nothing is idle yet.
        h.feed(udp(2), advanceMicros: 100_000_000)
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        // Past the old time by 100 s: flows 1 and 2 (last active at the old time, in engine
        // time) are idle past 30 s.
        h.feed(udp(3), advanceMicros: 3_600_000_000)
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 2)
        let flows = flowEvents(h.finish())
        XCTAssertEqual(flows.count, 3)
        let first = flows[0]
        XCTAssertEqual(field(first, "reason"), "timeout")
        XCTAssertEqual(field(first, "pkts_toserver"), "2")
        XCTAssertEqual(field(first, "pkts_toclient"), "4")
        // Times are the packets' own: the flow's last packet came after the step.
        let t0 = 1_764_158_400 + 0.001
        XCTAssertEqual(field(first, "start"), JSONTime.string(seconds: t0))
        XCTAssertEqual(field(first, "end_toclient"), JSONTime.string(seconds: t0 + 1 - 3600 + 3))
        XCTAssertEqual(field(first, "end_toserver"), JSONTime.string(seconds: t0 + 1 - 3600))
        XCTAssertEqual(field(first, "start_toclient"), JSONTime.string(seconds: t0 + 1))
    }

    /// Several files in one run, the later capture given first: one flow per conversation.
    func testFilesOutOfOrderDoNotSplitFlows() {
        let h = EngineHarness(dissectors: [])
        for _ in 0..<5 { h.feed(udp(3), advanceMicros: 1_000_000) }
        h.feed(udp(3), advanceMicros: -86_400_000_000)         // the earlier file, a day before
        for _ in 0..<4 { h.feed(udp(3), advanceMicros: 1_000_000) }
        XCTAssertEqual(flowEvents(h.finish()).count, 1)
    }

    /// Flow bytes are the frames' bytes as on the wire (Suricata's `bytes_toserver`, tshark's
    /// conversation bytes), per direction, with each direction's first and last packet time.
    func testFlowBytesAreWireBytesAndDirectionsHaveTheirTimes() {
        let h = EngineHarness(dissectors: [])
        let q = udp(4, size: 10), a = udp(4, reply: true, size: 30)
        h.feed(q); h.feed(a, advanceMicros: 2_000); h.feed(q, advanceMicros: 500_000)
        h.feed(a, advanceMicros: 2_000, wireLength: a.count + 4)   // with an FCS on the wire
        let flow = flowEvents(h.finish())[0]
        XCTAssertEqual(field(flow, "bytes_toserver"), "\(2 * q.count)")
        XCTAssertEqual(field(flow, "bytes_toclient"), "\(2 * a.count + 4)")
        let t0 = 1_764_158_400 + 0.001
        XCTAssertEqual(field(flow, "start_toserver"), JSONTime.string(seconds: t0))
        XCTAssertEqual(field(flow, "end_toserver"), JSONTime.string(seconds: t0 + 0.502))
        XCTAssertEqual(field(flow, "start_toclient"), JSONTime.string(seconds: t0 + 0.002))
        XCTAssertEqual(field(flow, "end_toclient"), JSONTime.string(seconds: t0 + 0.504))
        XCTAssertEqual(field(flow, "end"), field(flow, "end_toclient"))
    }

    /// A live capture on an idle link moves engine time with the wall clock: idle flows end
    /// without a packet to drive the clock; it never moves back.
    func testAdvancingTheClockWithoutPacketsEndsIdleFlows() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 30_000_000_000 }
        h.feed(udp(1))
        let t = h.clockMicros * 1000
        h.engine.advanceClock(toNanos: t + 20_000_000_000)
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        h.engine.advanceClock(toNanos: t - 100_000_000_000)
        XCTAssertEqual(h.engine.nowNanos, t + 20_000_000_000, "never back")
        h.engine.advanceClock(toNanos: t + 70_000_000_000)     // past the expiry scan's due time
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 1)
        XCTAssertEqual(flowEvents(h.finish()).count, 1)
    }

    /// One packet stamped an hour early in the middle of traffic (a bogus timestamp): no flow
    /// ends, no flow splits when the packets come back to their time.
    func testOneBogusEarlyTimestampSplitsNothing() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 30_000_000_000 }
        for _ in 0..<5 { h.feed(udp(1), advanceMicros: 1_000_000); h.feed(udp(2), advanceMicros: 1_000) }
        h.feed(udp(3), advanceMicros: -3_600_000_000)
        h.feed(udp(1), advanceMicros: 3_600_000_000 + 1_000_000)
        for _ in 0..<5 { h.feed(udp(1), advanceMicros: 1_000_000); h.feed(udp(2), advanceMicros: 1_000) }
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        XCTAssertEqual(flowEvents(h.finish()).count, 3)
    }

    /// Two captures merged, one clock 5 s behind the other: a flow on each, a packet every
    /// 5 s for 10 minutes against a 30 s timeout. One flow each, however the clocks alternate.
    func testMergedCapturesWithSkewedClocksKeepTheirFlows() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 30_000_000_000 }
        for _ in 0..<120 {
            h.feed(udp(1), advanceMicros: 5_000_000)           // the clock ahead
            h.feed(udp(2), advanceMicros: -5_000_000 + 1_000)  // the clock 5 s behind
            h.feed(udp(2, reply: true), advanceMicros: 1_000)
            h.feed(udp(1, reply: true), advanceMicros: 5_000_000 - 2_000)
            h.clockMicros -= 5_000_000
        }
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        XCTAssertEqual(flowEvents(h.finish()).count, 2)
    }

    /// Timestamps at the ends of the range (a hostile file) neither trap nor end every flow.
    func testTimestampsAtTheEndsOfTheRangeEndNoFlow() {
        let h = EngineHarness(dissectors: [])
        h.clockMicros = Int64.max / 1000 - 10_000_000           // 10 s before the end of the range
        for _ in 0..<20 { h.feed(udp(1), advanceMicros: 100_000) }
        h.feed(udp(1), advanceMicros: -(Int64.max / 1000))      // then about 0
        for _ in 0..<20 { h.feed(udp(1), advanceMicros: 100_000) }
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        XCTAssertEqual(flowEvents(h.finish()).count, 1)
    }

    /// What a flow delivers as it ends (queued segments flushed at expiry) carries the flow's
    /// last packet time, not the time of the packet that made it expire.
    func testDataFlushedAtExpiryCarriesTheFlowsTime() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()]) { $0.tcpEstablishedTimeoutNanos = 60_000_000_000 }
        h.feed(client(1000, flags: PacketBuilder.syn))
        h.feed(server(5000, ack: 1001, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        h.feed(client(1001, ack: 5001, flags: PacketBuilder.ackFlag))
        h.feed(client(1001, "ab", ack: 5001))
        h.feed(client(1007, "gh", ack: 5001))                   // 1003..1006 never captured
        let last = h.clockMicros * 1000
        h.feed(udp(9), advanceMicros: 200_000_000)               // 200 s later: the flow expires
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 1)
        // (The recorder also takes the UDP flow: its datagram comes after.)
        XCTAssertEqual(Array(r.items[0].prefix(3)), [.data(Array("ab".utf8)), .gap(4), .data(Array("gh".utf8))])
        XCTAssertEqual(r.times(.toServer).dropFirst().first, last, "the flushed segment is stamped with the flow's last packet")
        _ = h.finish()
    }

    /// Picked up mid-stream, then a late copy of the connection's own SYN (twice): the stream
    /// keeps its place (no gap, nothing delivered twice) and stays one flow.
    func testLateSYNOnAMidStreamFlowKeepsTheStream() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()])
        h.feed(client(20_000, "hello"))
        h.feed(client(19_999, flags: PacketBuilder.syn))
        h.feed(client(20_005, "world"))
        h.feed(client(19_999, flags: PacketBuilder.syn))
        h.feed(client(20_010, "!"))
        XCTAssertEqual(flowEvents(h.finish()).count, 1)
        XCTAssertEqual(h.engine.counters.flowsReused, 0)
        XCTAssertEqual(String(decoding: r.stream(.toServer), as: UTF8.self), "helloworld!")
        XCTAssertEqual(r.gaps(.toServer), [])
    }
}

/// Event timestamps as the writer prints them, from seconds (microsecond precision).
enum JSONTime {
    static func string(seconds: Double) -> String {
        let micros = Int64((seconds * 1_000_000).rounded())
        return Timestamp.string(nanos: micros * 1000)
    }
}

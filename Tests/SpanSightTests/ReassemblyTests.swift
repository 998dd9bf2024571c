import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// TCP reassembly: reordered, duplicated, overlapping, wrapped and missing segments.
final class ReassemblyTests: XCTestCase {
    let c = "10.0.0.1", s = "10.0.0.2"
    let cp: UInt16 = 40000, sp: UInt16 = 502

    func seg(_ seq: UInt32, _ text: String, ack: UInt32 = 0, fromClient: Bool = true, flags: UInt8 = 0x18) -> [UInt8] {
        fromClient
            ? PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: seq, ack: ack, flags: flags, payload: Array(text.utf8))
            : PacketBuilder.tcp(src: s, sport: sp, dst: c, dport: cp, seq: seq, ack: ack, flags: flags, payload: Array(text.utf8))
    }

    func handshake(_ h: EngineHarness, isn: UInt32, serverISN: UInt32 = 5000) {
        h.feed(PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: isn, ack: 0, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: s, sport: sp, dst: c, dport: cp, seq: serverISN, ack: isn &+ 1, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        h.feed(PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: isn &+ 1, ack: serverISN &+ 1, flags: PacketBuilder.ackFlag))
    }

    func run(isn: UInt32 = 1000, _ segments: [(UInt32, String)], configure: (inout EngineConfig) -> Void = { _ in }) -> StreamRecorder {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()], configure: configure)
        handshake(h, isn: isn)
        for (off, text) in segments { h.feed(seg(isn &+ 1 &+ off, text)) }
        _ = h.finish()
        return r
    }

    func text(_ r: StreamRecorder, _ d: Direction = .toServer) -> String { String(decoding: r.stream(d), as: UTF8.self) }

    func testInOrderIsDeliveredAsIs() {
        let r = run([(0, "abc"), (3, "def"), (6, "ghi")])
        XCTAssertEqual(text(r), "abcdefghi")
        XCTAssertEqual(r.items[0].count, 3, "each in-order segment is handed over directly")
        XCTAssertEqual(r.finished, 1)
    }

    func testReorderedSegmentsAreQueuedAndReleased() {
        let r = run([(3, "def"), (6, "ghi"), (0, "abc")])
        XCTAssertEqual(text(r), "abcdefghi")
        XCTAssertEqual(r.gaps(.toServer), [])
    }

    func testDuplicatesAreDeliveredOnce() {
        let r = run([(0, "abc"), (0, "abc"), (3, "def"), (3, "def"), (0, "abcdef")])
        XCTAssertEqual(text(r), "abcdef")
    }

    func testOverlapsDeliverEachByteOnceFirstCopyWins() {
        // In-order overlap: the new bytes past nextSeq only.
        XCTAssertEqual(text(run([(0, "abcdef"), (3, "DEFghi")])), "abcdefghi")
        // Out-of-order overlaps between queued segments: the first queued copy wins.
        XCTAssertEqual(text(run([(6, "ghi"), (4, "EFGHIjk"), (0, "abcd")])), "abcdEFghijk")
        // A queued segment inside another: no byte twice.
        XCTAssertEqual(text(run([(2, "cdefgh"), (4, "EF"), (0, "ab")])), "abcdefgh")
    }

    func testSequenceWrapAround() {
        let isn: UInt32 = 0xFFFF_FFF8
        // 0xFFFFFFF9 + 4 crosses 2^32.
        let r = run(isn: isn, [(4, "efgh"), (0, "abcd"), (8, "ijkl"), (16, "qrst"), (12, "mnop")])
        XCTAssertEqual(text(r), "abcdefghijklmnopqrst")
    }

    func testMissingSegmentBecomesAGapWhenTheReceiverAcksPastIt() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()])
        handshake(h, isn: 1000)
        h.feed(seg(1001, "abc"))
        h.feed(seg(1007, "ghi"))            // "def" (1004..1006) never captured
        XCTAssertEqual(text(r), "abc", "nothing past the hole yet")
        h.feed(seg(5001, "", ack: 1010, fromClient: false, flags: PacketBuilder.ackFlag))
        XCTAssertEqual(r.gaps(.toServer), [3])
        XCTAssertEqual(text(r), "abc***ghi")
        _ = h.finish()
        XCTAssertEqual(h.engine.counters.reassemblyGaps, 1)
        XCTAssertEqual(h.engine.counters.reassemblyGapBytes, 3)
    }

    func testHoleAtFlowEndIsReportedNotPapered() {
        let r = run([(0, "abc"), (10, "klm")])
        XCTAssertEqual(r.gaps(.toServer), [7])
        XCTAssertEqual(text(r), "abc*******klm")
    }

    func testPerFlowCapDeclaresAGap() {
        let r = run([(0, "ab"), (4, "efgh"), (8, "ijkl"), (12, "mnop")]) { $0.reassemblyPerFlowBytes = 6; $0.pageSize = 4 }
        // "efgh" queued (a 4-byte page), "ijkl" would pass 6: the hole at 2..3 is given up.
        XCTAssertEqual(r.gaps(.toServer), [2])
        XCTAssertEqual(text(r), "ab**efghijklmnop")
    }

    /// The per-flow cap bounds memory, not payload: a hole followed by a thousand one-byte
    /// segments (each would take a page) never holds more than the cap.
    func testPerFlowCapBoundsMemoryWhateverTheSegmentSize() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()]) { $0.reassemblyPerFlowBytes = 8192; $0.pageSize = 2048 }
        handshake(h, isn: 1000)
        var peak = 0
        for i in 0..<1000 {
            h.feed(seg(1002 &+ UInt32(i), "x"))     // byte 1001 never comes
            peak = max(peak, h.engine.reassemblyBytesInUse)
        }
        XCTAssertLessThanOrEqual(peak, 8192)
        XCTAssertGreaterThan(h.engine.counters.reassemblyCapHits, 0)
        _ = h.finish()
        XCTAssertEqual(r.stream(.toServer), [UInt8](repeating: UInt8(ascii: "x"), count: 1000), "every byte after the hole, once")
        XCTAssertEqual(h.engine.counters.reassemblyGapBytes, 1)
    }

    func testGlobalCapBoundsMemory() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()]) { $0.reassemblyTotalBytes = 4096; $0.pageSize = 2048 }
        handshake(h, isn: 1000)
        let big = String(repeating: "x", count: 1500)
        for i in 1...10 { h.feed(seg(1001 &+ UInt32(i * 1500), big)) }   // never the first 1500
        XCTAssertLessThanOrEqual(h.engine.reassemblyBytesInUse, 4096)
        _ = h.finish()
        XCTAssertGreaterThan(h.engine.counters.reassemblyCapHits, 0)
        // The first 1500 bytes were never seen: a gap before the flow was classified (so no
        // session hears of it), then every later byte exactly once.
        XCTAssertEqual(h.engine.counters.reassemblyGapBytes, 1500)
        XCTAssertEqual(r.stream(.toServer), [UInt8](repeating: UInt8(ascii: "x"), count: 1500 * 10))
    }

    /// After a forced gap (the per-flow cap), segments that fall in the hole given up are late,
    /// not retransmissions: a retransmission's bytes were delivered, a late segment's never were.
    func testLateSegmentsAfterAForcedGapAreNotRetransmissions() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()]) { $0.reassemblyPerFlowBytes = 8192; $0.pageSize = 2048 }
        handshake(h, isn: 1000)
        h.feed(seg(1001, "abcd"))
        h.feed(seg(1001, "abcd"))                   // a retransmission
        // "efgh" (1005..1008) is lost; four segments behind it take the cap's four pages.
        for (i, t) in ["ijkl", "mnop", "qrst", "uvwx"].enumerated() { h.feed(seg(1009 &+ UInt32(4 * i), t)) }
        XCTAssertEqual(h.engine.counters.reassemblyCapHits, 0)
        h.feed(seg(1025, "yz"))                     // the cap: the hole is given up
        XCTAssertEqual(h.engine.counters.reassemblyCapHits, 1)
        XCTAssertEqual(text(r), "abcd****ijklmnopqrstuvwxyz")
        h.feed(seg(1005, "efgh"))                   // late: the hole's bytes
        h.feed(seg(1007, "gh"))                     // late: part of the hole
        h.feed(seg(1003, "cdef"))                   // late: delivered bytes and the hole's
        h.feed(seg(1001, "abcd"))                   // retransmissions: delivered before the hole,
        h.feed(seg(1009, "ijkl"))                   // and after it (from the queue)
        h.feed(seg(1025, "yz"))                     // and the segment that hit the cap
        _ = h.finish()
        XCTAssertEqual(text(r), "abcd****ijklmnopqrstuvwxyz", "nothing late is delivered")
        XCTAssertEqual(h.engine.counters.tcpSegmentsLate, 3)
        XCTAssertEqual(h.engine.counters.tcpRetransmissions, 4)
        XCTAssertEqual(h.engine.counters.reassemblyGapBytes, 4)
    }

    /// A stream sent backwards (the reassembly bomb's worst order): the cap gives up the hole
    /// before the segment that hit it, which is delivered in its place with what was queued;
    /// every segment after that is late. Before: 1,871 "retransmissions" of 2,000 segments,
    /// the segment that hit the cap dropped uncounted and made part of the gap.
    func testBackwardsStreamCountsLateSegments() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()])
        handshake(h, isn: 1000)
        let n = 2000, size = 100
        for i in (0..<n).reversed() {
            h.feed(PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: 1001 &+ UInt32(i * size), ack: 0, flags: 0x18,
                                     payload: [UInt8](repeating: UInt8(i % 256), count: size)))
        }
        _ = h.finish()
        let k = h.engine.counters
        // The per-flow cap's pages, one a segment, less the page kept for the probe buffer (the
        // direction is not classified before its first bytes are delivered).
        let queued = 256 * 1024 / 2048 - 1
        XCTAssertEqual(k.reassemblyCapHits, 1)
        XCTAssertEqual(k.tcpSegmentsLate, UInt64(n - queued - 1))
        XCTAssertEqual(k.tcpRetransmissions, 0)
        XCTAssertEqual(k.reassemblyGapBytes, UInt64((n - queued - 1) * size))
        let first = n - queued - 1
        let delivered = r.stream(.toServer)
        // The gap came before the flow was classified (no session hears of it).
        XCTAssertEqual(delivered.count, (queued + 1) * size, "every segment from the one that hit the cap")
        XCTAssertTrue(delivered.suffix((queued + 1) * size).elementsEqual((first..<n).flatMap { [UInt8](repeating: UInt8($0 % 256), count: size) }))
    }

    /// A probe that wants 8 bytes: the first bytes past a hole are buffered for it in a page.
    func probingRecorder(_ r: StreamRecorder) -> DissectorEntry {
        let e = r.entry()
        return DissectorEntry(name: "probing", transports: [.tcp], hintPorts: [],
                              probe: { b, _, _ in b.count >= 8 ? .match : .needMore }, makeSession: e.makeSession)
    }

    /// The pool's peak never passes either cap, also when the first bytes after a forced gap
    /// need a probe buffer (that page took the direction one page over its cap; under the
    /// total cap it could not be had, and the flow was never classified).
    func testPeakStaysWithinThePerFlowAndTotalCaps() {
        for total in [false, true] {
            let r = StreamRecorder()
            let cap = 8192
            let h = EngineHarness(dissectors: [probingRecorder(r)]) {
                if total { $0.reassemblyTotalBytes = cap } else { $0.reassemblyPerFlowBytes = cap }
                $0.pageSize = 2048
            }
            handshake(h, isn: 1000)
            var peak = 0
            for i in 1...12 {                       // bytes 1001..1004 never come
                h.feed(seg(1001 &+ UInt32(4 * i), "\(i % 10)\(i % 10)\(i % 10)\(i % 10)"))
                peak = max(peak, h.engine.reassemblyBytesInUse)
            }
            _ = h.finish()
            let k = h.engine.counters
            XCTAssertGreaterThan(k.reassemblyCapHits, 0, "total \(total)")
            XCTAssertLessThanOrEqual(peak, cap, "total \(total)")
            XCTAssertLessThanOrEqual(Int(k.reassemblyMemoryPeak), cap, "total \(total)")
            XCTAssertEqual(r.sessions, 1, "the flow is classified (total \(total))")
            XCTAssertEqual(r.stream(.toServer), Array("111122223333444455556666777788889999000011112222".utf8),
                           "every byte after the hole, once (total \(total))")
        }
    }

    /// A total cap that is not a whole number of pages holds the whole pages in it, and none
    /// when it is smaller than one page (it held one page).
    func testPoolHoldsOnlyWholePagesWithinItsCap() {
        XCTAssertEqual(PagePool(pageSize: 2048, maxBytes: 1000).maxPages, 0)
        XCTAssertNil(PagePool(pageSize: 2048, maxBytes: 1000).take(1))
        let pool = PagePool(pageSize: 2048, maxBytes: 5 * 2048 + 100)
        XCTAssertEqual(pool.maxPages, 5)
        XCTAssertNotNil(pool.take(5))
        XCTAssertNil(pool.take(1))
        XCTAssertEqual(pool.pagesAllocated, 5, "the memory allocated stays within the cap too")
        XCTAssertLessThanOrEqual(pool.peakPagesInUse * pool.pageSize, 5 * 2048 + 100)
    }

    func testMidStreamPickupWithoutSYN() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()])
        h.feed(seg(777_000, "hello "))
        h.feed(seg(9_000, "ok", ack: 777_006, fromClient: false))
        h.feed(seg(777_006, "world"))
        let lines = h.finish()
        XCTAssertEqual(text(r), "hello world")
        XCTAssertEqual(text(r, .toClient), "ok")
        XCTAssertTrue(lines.contains { $0.contains("\"client_by\":\"port\"") })
    }

    func testSnaplenCutSegmentIsAGap() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()])
        handshake(h, isn: 1000)
        var frame = seg(1001, "abcdefgh")
        frame.removeLast(4)                 // captured 4 of 8 payload bytes
        h.feed(frame, wireLength: frame.count + 4)
        h.feed(seg(1009, "ij"))
        _ = h.finish()
        XCTAssertEqual(text(r), "abcd****ij")
        XCTAssertEqual(h.engine.counters.snaplenCut, 1)
    }

    /// The wire length also counts what is not IP (a trailing FCS, Ethernet padding): the
    /// bytes lost to the cut are the IP total length less the bytes captured, not the frame's.
    func testSnaplenCutGapIsMeasuredByTheIPLengthNotTheFrame() {
        for trailer in [4, 18] {                // an FCS; padding plus an FCS
            let r = StreamRecorder()
            let h = EngineHarness(dissectors: [r.entry()])
            handshake(h, isn: 1000)
            var frame = seg(1001, "abcdefgh")
            frame.removeLast(4)
            h.feed(frame, wireLength: frame.count + 4 + trailer)
            h.feed(seg(1009, "ijkl"))
            _ = h.finish()
            XCTAssertEqual(text(r), "abcd****ijkl", "trailer \(trailer)")
            XCTAssertEqual(r.gaps(.toServer), [4])
            XCTAssertEqual(h.engine.counters.tcpOverlaps, 0, "nothing of the next segment is taken for an overlap")
        }
    }

    /// A cut frame whose IP total length lies (claims far more than the frame lost): the gap
    /// is bounded by what the frame lost, and the next segment arrives whole.
    func testSnaplenCutGapIsBoundedByTheFrameWhenTheIPLengthLies() {
        let r = StreamRecorder()
        let h = EngineHarness(dissectors: [r.entry()])
        handshake(h, isn: 1000)
        var frame = seg(1001, "abcdefgh")
        frame.removeLast(4)
        frame[16] = 0xEA; frame[17] = 0x60                 // IPv4 total length 60,000
        h.feed(frame, wireLength: frame.count + 4)
        h.feed(seg(1009, "ijkl"))
        _ = h.finish()
        XCTAssertEqual(r.gaps(.toServer), [4])
        XCTAssertEqual(text(r), "abcd****ijkl")
    }

    func testSameStreamWhateverTheSegmentation() {
        // The same 40 bytes cut at every offset into two segments, delivered in both orders.
        let bytes = Array("0123456789abcdefghijklmnopqrstuvwxyzABCD".utf8)
        for cut in 1..<bytes.count {
            for reversed in [false, true] {
                let a = String(decoding: bytes[..<cut], as: UTF8.self)
                let b = String(decoding: bytes[cut...], as: UTF8.self)
                let segs: [(UInt32, String)] = reversed ? [(UInt32(cut), b), (UInt32(0), a)] : [(UInt32(0), a), (UInt32(cut), b)]
                XCTAssertEqual(text(run(segs)), String(decoding: bytes, as: UTF8.self), "cut \(cut) reversed \(reversed)")
            }
        }
    }
}

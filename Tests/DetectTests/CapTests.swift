import Foundation
@testable import SpanSightDetect
import SpanSightEngine
import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Memory stays bounded whatever the traffic: caps hold and what they drop is counted.
final class CapTests: XCTestCase {
    /// 100k (unit id, address) combinations in one flow: the unit sweep alerts once (aggregated),
    /// the window of the pair holds at most 256 values, per-flow state is released at flow end.
    func testSweepOf100kUnitAddressCombinationsStaysBounded() throws {
        var config = DetectConfig()
        config.maxTrackedKeys = 64
        // No events are built (the dissector's 100k unanswered-request events would dominate the time).
        let h = EngineHarness(dissectors: [Modbus.entry]) { $0.flowEvents = false }
        let detector = Detector(config: config, output: EventOutput.disabled())
        h.engine.observer = detector
        let c = "10.9.0.1", s = "10.9.0.2"
        h.feed(PacketBuilder.tcp(src: c, sport: 40000, dst: s, dport: 502, seq: 0, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: s, sport: 502, dst: c, dport: 40000, seq: 0, ack: 1, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        var seq: UInt32 = 1
        var segment: [UInt8] = []
        for i in 0..<100_000 {
            let unit = UInt8(i % 256), address = UInt16(i / 256)
            segment += PacketBuilder.be16(UInt16(truncatingIfNeeded: i)) + [0, 0, 0, 6, unit, 3]
                + PacketBuilder.be16(address) + [0, 1]
            // 100 requests per segment: the cost measured is the detector's, not frame building.
            if segment.count >= 1200 || i == 99_999 {
                h.feed(PacketBuilder.tcp(src: c, sport: 40000, dst: s, dport: 502, seq: seq, ack: 1,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: segment), advanceMicros: 1000)
                seq &+= UInt32(segment.count)
                segment.removeAll(keepingCapacity: true)
            }
        }
        _ = h.finish()
        detector.finish()
        XCTAssertEqual(detector.stats.alerts[3001], 1)
        XCTAssertLessThanOrEqual(detector.trackedWindowKeys, 64)
        XCTAssertEqual(detector.stats.occurrences[3001], 1, "one alert per window, then silence")
        XCTAssertEqual(detector.drops.first { $0.0 == "flows" }?.1, 0)
    }

    /// 100k distinct client addresses probing one server: the window table stays at its cap
    /// and the keys it could not hold are counted.
    func testWindowTableKeepsItsCapAndCountsDrops() {
        var w = SlidingWindows(maxKeys: 1_000, maxValues: 16, window: 60_000_000_000)
        let server = IPAddress(v4: 0x0A00_0001)
        for i in 0..<100_000 {
            _ = w.add(PairKey(a: IPAddress(v4: 0x0B00_0000 | UInt32(i)), b: server, rule: 3001), value: UInt64(i % 7), now: Int64(i) * 1_000)
        }
        XCTAssertEqual(w.count, 1_000)
        XCTAssertEqual(w.droppedKeys, 99_000)
        // A window later, stale keys are pruned and new ones fit again.
        XCTAssertNotNil(w.add(PairKey(a: .zero, b: server, rule: 3001), value: 1, now: 200_000_000_000))
        XCTAssertEqual(w.count, 1)
    }

    func testRangeSetMergesOverlapsAndNeighbours() {
        var r = RangeSet()
        r.insert(10...19)
        r.insert(30...39)
        r.insert(20...29)
        r.insert(100...100)
        XCTAssertEqual(r.ranges, [10...39, 100...100])
        XCTAssertTrue(r.contains(12...39))
        XCTAssertFalse(r.contains(35...40))
        r.insert(0...UInt32.max)
        XCTAssertEqual(r.ranges, [0...UInt32.max])
    }
}

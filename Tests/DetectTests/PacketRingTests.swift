import SpanSightDetect
import XCTest

/// The live evidence ring: what it holds is always the newest packets, whole and in order,
/// within its byte arena and record table, whatever the mix of sizes.
final class PacketRingTests: XCTestCase {
    /// Packet `i`: `size(i)` bytes, each byte `i & 0xFF`, time `i`.
    func size(_ i: Int) -> Int { [60, 1514, 64, 300, 9000, 0, 1200][i % 7] + (i * 37) % 200 }

    func packet(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size(i)) }

    func held(_ ring: PacketRing) -> [(Int64, [UInt8], Int)] {
        var out: [(Int64, [UInt8], Int)] = []
        ring.forEach { bytes, wire, nanos in out.append((nanos, Array(bytes), wire)) }
        return out
    }

    func testHoldsTheNewestPacketsWholeAndInOrder() {
        for (arena, table) in [(64 << 10, 1000), (20_000, 8), (1 << 20, 16), (9_500, 64)] {
            let ring = PacketRing(bytes: arena, packets: table)
            for i in 0..<5000 {
                packet(i).withUnsafeBytes { ring.append($0, wireLength: size(i) + 4, nanos: Int64(i)) }
                if i % 97 == 0 || i == 4999 {
                    let h = held(ring)
                    XCTAssertEqual(h.count, ring.count)
                    XCTAssertFalse(h.isEmpty, "\(arena)/\(table) after \(i)")
                    // A run of consecutive packets ending with the last one (none skipped).
                    XCTAssertEqual(h.last?.0, Int64(i))
                    for (k, (nanos, bytes, wire)) in h.enumerated() {
                        let n = Int(nanos)
                        XCTAssertEqual(n, i - (h.count - 1 - k), "\(arena)/\(table): consecutive")
                        XCTAssertEqual(bytes, packet(n), "packet \(n) intact (\(arena)/\(table))")
                        XCTAssertEqual(wire, size(n) + 4)
                    }
                    XCTAssertLessThanOrEqual(h.count, table)
                    XCTAssertLessThanOrEqual(h.reduce(0) { $0 + $1.1.count }, max(arena, 2048))
                }
            }
            XCTAssertGreaterThan(ring.evicted, 0)
        }
    }

    /// Empty captures, often and in every position: none kept, the ring stays whole.
    func testEmptyPacketsLeaveTheRingWhole() {
        let ring = PacketRing(bytes: 4096, packets: 64)
        var kept: [Int] = []
        for i in 0..<3000 {
            let n = i % 3 == 0 ? 0 : 100 + (i * 13) % 700
            [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: n).withUnsafeBytes { ring.append($0, wireLength: n, nanos: Int64(i)) }
            if n > 0 { kept.append(i) }
            let h = held(ring)
            XCTAssertEqual(h.map { Int($0.0) }, Array(kept.suffix(h.count)), "the newest non-empty packets, in order")
            for (nanos, bytes, _) in h { XCTAssertTrue(bytes.allSatisfy { $0 == UInt8(truncatingIfNeeded: nanos) }, "packet \(nanos) intact") }
        }
    }

    func testAPacketLargerThanTheArenaIsCountedNotKept() {
        let ring = PacketRing(bytes: 4096, packets: 16)
        [UInt8](repeating: 1, count: 100).withUnsafeBytes { ring.append($0, wireLength: 100, nanos: 1) }
        [UInt8](repeating: 2, count: 5000).withUnsafeBytes { ring.append($0, wireLength: 5000, nanos: 2) }
        XCTAssertEqual(ring.tooLarge, 1)
        XCTAssertEqual(held(ring).map(\.0), [1])
    }
}

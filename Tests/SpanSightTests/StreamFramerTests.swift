import SpanSightEngine
import SpanSightWire
import XCTest

/// The framer against a toy length-prefixed protocol: [len][len bytes], with 0xFF as garbage
/// that must be skipped. Whatever the split, the same PDUs come out.
final class StreamFramerTests: XCTestCase {
    func parse(_ v: ByteView, into out: inout [[UInt8]]) -> FrameStep {
        guard let len = v.u8(at: 0) else { return .needMore(total: nil) }
        if len == 0xFF { return .skip(1) }
        let total = 1 + Int(len)
        guard let pdu = v.slice(1, Int(len)) else { return .needMore(total: total) }
        out.append(pdu.array)
        return .consumed(total)
    }

    func frames(_ chunks: [[UInt8]], maxPDU: Int = 300, unknownSize: Bool = false) -> [[UInt8]] {
        var f = StreamFramer(maxPDU: maxPDU)
        var out: [[UInt8]] = []
        for c in chunks {
            c.withUnsafeBytes { b in
                f.feed(ByteView(b)) { v in
                    let step = parse(v, into: &out)
                    if unknownSize, case .needMore = step { return .needMore(total: nil) }
                    return step
                }
            }
        }
        return out
    }

    let stream: [UInt8] = [3, 1, 2, 3, 0xFF, 0xFF, 0, 5, 9, 9, 9, 9, 9, 1, 7, 2, 8, 8]
    let expected: [[UInt8]] = [[1, 2, 3], [], [9, 9, 9, 9, 9], [7], [8, 8]]

    func testWholeByteByByteAndEverySplit() {
        XCTAssertEqual(frames([stream]), expected)
        XCTAssertEqual(frames(stream.map { [$0] }), expected)
        XCTAssertEqual(frames(stream.map { [$0] }, unknownSize: true), expected)
        for cut in 1..<stream.count {
            XCTAssertEqual(frames([Array(stream[..<cut]), Array(stream[cut...])]), expected, "cut at \(cut)")
            XCTAssertEqual(frames([Array(stream[..<cut]), Array(stream[cut...])], unknownSize: true), expected, "cut at \(cut), size unknown")
        }
    }

    func testOversizePDUIsDroppedNotBuffered() {
        var f = StreamFramer(maxPDU: 10)
        var out: [[UInt8]] = []
        let big: [UInt8] = [200] + [UInt8](repeating: 1, count: 50)
        let ok = big.withUnsafeBytes { b in f.feed(ByteView(b)) { parse($0, into: &out) } }
        XCTAssertFalse(ok)
        XCTAssertFalse(f.hasPending)
        XCTAssertGreaterThan(f.oversizeDrops, 0)
        XCTAssertLessThanOrEqual(f.pending.count, 10)
    }
}

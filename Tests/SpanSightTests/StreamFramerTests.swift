@testable import SpanSightEngine
import SpanSightWire
import Foundation
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

/// JSON output stays valid whatever values the wire carries.
final class JSONWriterTests: XCTestCase {
    func render(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter(capacity: 64)
        body(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    func testDoublesOfAnySize() throws {
        for d in [0.0, 1.5, -2.25, 1e-9, 9.3e12, -1.7976931348623157e308, 3.4028234663852886e38, .nan, .infinity] {
            let s = render { $0.beginObject(); $0.field("v", d); $0.endObject() }
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(s.utf8)), s)
        }
        XCTAssertEqual(render { $0.beginObject(); $0.field("v", 1.5); $0.endObject() }, #"{"v":1.5}"#)
    }

    func testWireBytesAreEscaped() throws {
        let s = render { w in
            w.beginObject()
            w.key("s"); w.value(bytes: [0x41, 0x22, 0x5C, 0x0A, 0x00, 0xFF, 0xC3, 0xA9, 0xE2, 0x82])
            w.endObject()
        }
        let obj = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: String]
        XCTAssertEqual(obj?["s"], "A\"\\\n\u{0}\u{FF}é\u{E2}\u{82}")
    }

    /// Numbers two digits at a time: every digit count, both sides of each power of ten.
    func testUnsignedNumbersMatchTheirDecimalText() {
        var values: [UInt64] = [0, 1, 9, UInt64.max, UInt64.max - 1, UInt64(Int64.max)]
        var p: UInt64 = 10
        for _ in 1...19 {
            values += [p - 1, p, p + 1]
            if p > UInt64.max / 10 { break }
            p *= 10
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)) }
        for v in values {
            XCTAssertEqual(render { w in w.value(v) }, String(v))
            XCTAssertEqual(JSONWriter.digitCount(v), String(v).count, "\(v)")
        }
        for v in [-1, -9, -10, -99, -100, Int.min, Int.max] { XCTAssertEqual(render { w in w.value(v) }, String(v)) }
    }

    /// Event timestamps reuse the date and time of the previous one within the same second; a
    /// new second (forward, backward, before 1970) writes it afresh.
    func testTimestampValuesAcrossSeconds() {
        let times: [Int64] = [1_764_158_400_000_123_456, 1_764_158_400_999_999_999, 1_764_158_401_000_000_000,
                              1_764_158_400_500_000_000, 86_399_999_999_999, 86_400_000_000_000, 0, -1, -1_000_000_001,
                              951_782_400_999_999_999, 1_764_158_401_000_001_000, Int64.min, Int64.min + 999_999_999,
                              Int64.max]
        let s = render { w in
            w.beginArray()
            for t in times { w.timestampValue(nanos: t) }
            w.endArray()
        }
        XCTAssertEqual(s, "[" + times.map { "\"" + Timestamp.string(nanos: $0) + "\"" }.joined(separator: ",") + "]")
    }

    /// The eight-at-a-time scan for bytes JSON must escape, against a byte-by-byte one: random
    /// buffers of near misses (0x1F/0x20, 0x21/0x23 around the quote, 0x5B/0x5D around the
    /// backslash, 0x7F/0x80) with special bytes planted, from every offset.
    func testEscapeScanMatchesNaiveScan() {
        var rng = SystemRandomNumberGenerator()
        let plain: [UInt8] = [0x20, 0x21, 0x23, 0x41, 0x5B, 0x5D, 0x7E, 0x7F, 0x30]
        let special: [UInt8] = [0x00, 0x0A, 0x1F, 0x22, 0x5C, 0x80, 0xC3, 0xFF]
        for _ in 0..<400 {
            let n = Int.random(in: 0...40, using: &rng)
            var bytes = (0..<n).map { _ in plain.randomElement(using: &rng)! }
            for _ in 0..<Int.random(in: 0...3, using: &rng) where n > 0 {
                bytes[Int.random(in: 0..<n, using: &rng)] = special.randomElement(using: &rng)!
            }
            bytes.withUnsafeBufferPointer { u in
                for from in 0...n {
                    let expected = bytes[from...].firstIndex { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C } ?? n
                    XCTAssertEqual(JSONWriter.firstSpecial(u, from: from), expected, "from \(from) in \(bytes)")
                }
            }
        }
    }

    func testTimestampFormat() {
        XCTAssertEqual(Timestamp.string(nanos: 1_764_158_400_000_123_456), "2025-11-26T12:00:00.000123+0000")
        XCTAssertEqual(Timestamp.string(nanos: 0), "1970-01-01T00:00:00.000000+0000")
        XCTAssertEqual(Timestamp.string(nanos: 951_782_400_999_999_999), "2000-02-29T00:00:00.999999+0000")
    }
}

import XCTest
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
@testable import SpanSightDNP3

final class DNP3LinkTests: XCTestCase {
    /// CRC-16/DNP check value from the reveng CRC catalogue ("123456789" -> 0xEA82; width 16,
    /// poly 0x3D65, reflected, init 0, xorout 0xFFFF), the parameters of IEEE 1815-2012 9.2.4.2.
    func testCRCCatalogueCheckValue() {
        XCTAssertEQ(DNP3CRC.crc(Array("123456789".utf8)), 0xEA82)
    }

    /// The slicing-by-8 CRC against the bit-at-a-time definition (polynomial 0x3D65 reflected
    /// as 0xA6BC), for every length from 0 to 40 (the 8-octet steps and every tail) and at
    /// every start offset inside a buffer.
    /// One pass over a frame's blocks: true for a good frame of any length, false when any
    /// block's CRC is wrong or the frame is shorter than its blocks.
    func testBlockCheckFindsEveryBadBlock() {
        for n in [0, 1, 15, 16, 17, 32, 33, 249] {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            let f = DNP3Build.frame(dst: 10, src: 1, control: 0xC4, userData: data)
            XCTAssertTrue(ByteView.with(f) { DNP3CRC.checkBlocks($0, userData: n) }, "n \(n)")
            if n > 0 {
                XCTAssertFalse(ByteView.with(Array(f.dropLast())) { DNP3CRC.checkBlocks($0, userData: n) }, "short, n \(n)")
            }
            var block = 0
            while block * 16 < n {
                var bad = f
                bad[10 + block * 18] ^= 0x01            // first octet of the block
                XCTAssertFalse(ByteView.with(bad) { DNP3CRC.checkBlocks($0, userData: n) }, "block \(block), n \(n)")
                block += 1
            }
        }
    }

    func testSlicedCRCMatchesBitwiseDefinition() {
        func bitwise(_ b: ArraySlice<UInt8>) -> UInt16 {
            var crc: UInt16 = 0
            for x in b {
                crc ^= UInt16(x)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xA6BC : crc >> 1 }
            }
            return ~crc
        }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
        ByteView.with(bytes) { v in
            for offset in 0..<8 {
                for count in 0...40 {
                    XCTAssertEQ(DNP3CRC.crc(v, offset, count), bitwise(bytes[offset..<offset + count]),
                                "offset \(offset) count \(count) bytes \(bytes)")
                }
            }
            XCTAssertNil(DNP3CRC.crc(v, 60, 5))
        }
    }

    /// Frames from the public corpus (real stacks), checked byte for byte:
    /// sv-dnp3-flood.pcap frame 1 header and first block; iti-opendnp3-conf-6.6.2.4.pcap
    /// frames 6 (valid, CRC cf 7b) and 4 (CRC d0 7b, bad: tshark leaves it undissected).
    func testCRCCorpusVectors() {
        let header: [UInt8] = [0x05, 0x64, 0x1a, 0xc4, 0x02, 0x00, 0x03, 0x00]
        XCTAssertEQ(DNP3CRC.crc(header), 0xF240)
        let block: [UInt8] = [0xc0, 0xc0, 0x03, 0x0c, 0x01, 0x28, 0x01, 0x00, 0x01, 0x00, 0x03, 0x01, 0x64, 0x00, 0x00, 0x00]
        XCTAssertEQ(DNP3CRC.crc(block), 0x7DEF)
        let good: [UInt8] = [0x05, 0x64, 0x05, 0xc4, 0x00, 0x04, 0x01, 0x00, 0xcf, 0x7b]
        let bad: [UInt8] = [0x05, 0x64, 0x05, 0xc4, 0x00, 0x04, 0x01, 0x00, 0xd0, 0x7b]
        ByteView.with(good) { XCTAssertTrue(DNP3LinkHeader($0)?.crcValid ?? false) }
        ByteView.with(bad) { XCTAssertFalse(DNP3LinkHeader($0)?.crcValid ?? true) }
    }

    func testFrameSize() {
        XCTAssertEQ(DNP3LinkHeader.frameSize(length: 5), 10)
        XCTAssertEQ(DNP3LinkHeader.frameSize(length: 6), 13)
        XCTAssertEQ(DNP3LinkHeader.frameSize(length: 21), 28)
        XCTAssertEQ(DNP3LinkHeader.frameSize(length: 22), 31)
        XCTAssertEQ(DNP3LinkHeader.frameSize(length: 255), 292)
        // A frame built by the test builder has exactly that size.
        let f = DNP3Build.frame(dst: 1, src: 2, control: 0xC4, userData: Array(repeating: 0xAA, count: 250))
        XCTAssertEQ(f.count, 292)
    }

    static var vectors: [[UInt8]] {
        [
            DNP3Build.request([0xC0, 0x01, 0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06, 0x3C, 0x01, 0x06]),
            DNP3Build.response([0xC0, 0x81, 0x00, 0x00, 0x1E, 0x02, 0x00, 0x00, 0x01, 0x01, 0x10, 0x00, 0x01, 0x20, 0x00]),
            DNP3Build.frame(dst: 10, src: 1, control: 0xC9, userData: []),
            DNP3Build.request([0xC3, 0x05, 0x0C, 0x01, 0x17, 0x01, 0x03, 0x01, 0x01, 0x64, 0, 0, 0, 0x64, 0, 0, 0, 0]),
            DNP3Build.request(Array([0xC0, 0x02, 0x50, 0x01, 0x00, 0x07, 0x07]) + Array(repeating: 0, count: 300), segment: 100),
        ]
    }

    /// Every prefix of every vector scans as needMore (never a frame, never a trap).
    func testEveryPrefixNeedsMore() {
        for v in Self.vectors {
            for n in 0..<v.count {
                let first = ByteView.with(Array(v[0..<n])) { DNP3LinkScan.scan($0) }
                if n < DNP3LinkHeader.frameSize(length: v[2]) {
                    guard case .needMore = first else { return XCTFail("prefix \(n): \(first)") }
                }
            }
        }
    }

    /// Every prefix of every vector, as a UDP datagram and as the whole of a TCP stream,
    /// yields no event or only anomalies, never a trap.
    func testEveryPrefixThroughEngine() {
        for v in Self.vectors {
            for n in 1..<v.count {
                let p = Array(v[0..<n])
                for line in DNP3Run.udp([(true, p)]) + DNP3Run.tcp([(true, p)]) {
                    let isDNP3Event = line.contains("\"event_type\":\"dnp3\"")
                    // A whole earlier frame may complete a fragment (multi-frame vectors).
                    if isDNP3Event { XCTAssertGreaterThanOrEqual(n, DNP3LinkHeader.frameSize(length: v[2])) }
                }
            }
        }
    }

    /// A bad header CRC is reported and the framer resyncs one octet on: a frame inside the bad
    /// frame's claimed length is still found (its length is not trusted).
    func testBadHeaderCRCResyncsWithoutTrustingLength() {
        let good = DNP3Build.request([0xC1, 0x01, 0x3C, 0x01, 0x06])
        // A bad header claiming length 255 (292 octets), followed at once by a good frame.
        var bad: [UInt8] = [0x05, 0x64, 0xFF, 0xC4, 0x0A, 0x00, 0x01, 0x00, 0x00, 0x00]
        bad += good
        for lines in [DNP3Run.tcp([(true, bad)]), DNP3Run.udp([(true, bad)])] {
            XCTAssertEQ(DNP3Run.anomalies(lines), ["dnp3.bad_link_crc"])
            let events = DNP3Run.dnp3(lines)
            XCTAssertEQ(events.count, 1)
            let app = events.first?["application"] as? [String: Any]
            XCTAssertEQ(app?["function"] as? String, "read")
        }
    }

    func testLengthTooSmallAndBlockCRC() {
        let h: [UInt8] = [0x05, 0x64, 0x02, 0xC4, 0x0A, 0x00, 0x01, 0x00]
        let tooSmall = h + DNP3Build.crcBytes(h)
        var corrupt = DNP3Build.request([0xC1, 0x01, 0x3C, 0x01, 0x06])
        corrupt[12] ^= 0xFF
        let good = DNP3Build.request([0xC2, 0x01, 0x3C, 0x02, 0x06])
        let lines = DNP3Run.tcp([(true, tooSmall + corrupt + good)])
        XCTAssertEQ(DNP3Run.anomalies(lines), ["dnp3.len_too_small", "dnp3.bad_transport_crc"])
        XCTAssertEQ(DNP3Run.dnp3(lines).count, 1)
    }

    func testProbe() {
        let f = DNP3Build.request([0xC0, 0x01, 0x3C, 0x01, 0x06])
        for n in 0..<10 {
            XCTAssertEQ(ByteView.with(Array(f[0..<n])) { DNP3.probe($0) }, .needMore, "prefix \(n)")
        }
        XCTAssertEQ(ByteView.with(f) { DNP3.probe($0) }, .match)
        XCTAssertEQ(ByteView.with(Array("GET / HTTP/1.1\r\n".utf8)) { DNP3.probe($0) }, .noMatch)
        // Mid-stream start: a frame after some garbage.
        XCTAssertEQ(ByteView.with([0x11, 0x22, 0x33] + f) { DNP3.probe($0) }, .match)
    }
}

/// XCTAssertEqual with a short name.
func XCTAssertEQ<T: Equatable>(_ a: T, _ b: T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a, b, message, file: file, line: line)
}

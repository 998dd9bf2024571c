import Foundation
import SpanSightCapture
import XCTest

/// The one pcap writer, read back by libpcap itself: each precision keeps what it can of the
/// time, the captured bytes and the wire length; chunks reach the sink whole and in order.
final class PcapWriterTests: XCTestCase {
    func roundTrip(_ precision: PcapWriter.Precision, linkType: UInt32) throws -> (LoadedCapture, [UInt8]) {
        let packets: [(nanos: Int64, bytes: [UInt8], wireLength: Int)] = [
            (1_764_158_400_123_456_789, [0x01, 0x02, 0x03], 3),
            (1_764_158_401_000_000_001, [UInt8](repeating: 0xAB, count: 1500), 9000),  // cut by a snaplen
            (1_764_158_401_999_999_999, [], 60),
        ]
        let bytes = PcapWriter.data(linkType: linkType, precision: precision, packets: packets)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("writer-\(UUID().uuidString).pcap")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(bytes).write(to: url)
        return (try LoadedCapture.load(url.path), bytes)
    }

    func testLibpcapReadsWhatItWrites() throws {
        for (precision, times) in [(PcapWriter.Precision.nano, [Int64(1_764_158_400_123_456_789), 1_764_158_401_000_000_001, 1_764_158_401_999_999_999]),
                                   (.micro, [1_764_158_400_123_456_000, 1_764_158_401_000_000_000, 1_764_158_401_999_999_000])] {
            let (c, bytes) = try roundTrip(precision, linkType: 113)
            XCTAssertEqual(Array(bytes.prefix(4)), precision == .nano ? [0x4D, 0x3C, 0xB2, 0xA1] : [0xD4, 0xC3, 0xB2, 0xA1])
            XCTAssertEqual(bytes.count, 24 + 3 * 16 + 3 + 1500)
            XCTAssertEqual(c.linkType.rawValue, 113)
            XCTAssertEqual(c.count, 3)
            XCTAssertEqual(c.timestamps, times, "\(precision)")
            XCTAssertEqual(c.lengths, [3, 1500, 0])
            XCTAssertEqual(c.wireLengths, [3, 9000, 60])
            XCTAssertEqual(Array(c.storage.prefix(3)), [1, 2, 3])
        }
    }

    func testSinkGetsTheBufferedBytesInOrder() {
        var chunks: [[UInt8]] = []
        let w = PcapWriter(linkType: 1, precision: .micro, bufferBytes: 64) { chunks.append(Array($0)) }
        for i in 0..<10 { w.packet([UInt8](repeating: UInt8(i), count: 40), nanos: Int64(i) * 1_000) }
        w.flush()
        XCTAssertEqual(w.packets, 10)
        XCTAssertGreaterThan(chunks.count, 1, "flushed as the buffer filled")
        XCTAssertEqual(chunks.joined().count, 24 + 10 * (16 + 40))
        XCTAssertEqual(Array(chunks.joined()), PcapWriter.data(linkType: 1, precision: .micro,
                                                               packets: (0..<10).map { (Int64($0) * 1_000, [UInt8](repeating: UInt8($0), count: 40), 40) }))
    }
}

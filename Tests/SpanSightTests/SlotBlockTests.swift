import SpanSightEngine
import SpanSightWire
import XCTest

/// The dissectors' per-flow record block: records and their bytes survive growth, the block
/// never passes its capacity, stored bytes are cut at the slot's size.
final class SlotBlockTests: XCTestCase {
    struct Rec: Equatable { var id: Int; var flag: Bool }

    func testRecordsAndBytesSurviveGrowthUpToCapacity() {
        var block = SlotBlock<Rec>(capacity: 5, bytesPerSlot: 8)
        for i in 0..<5 {
            XCTAssertEqual(block.append(Rec(id: i, flag: i % 2 == 0)), i)
            let bytes: [UInt8] = (0..<UInt8(i + 6)).map { $0 &+ UInt8(i * 16) }
            let n = ByteView.with(bytes) { block.store(i, $0) }
            XCTAssertEqual(n, min(i + 6, 8), "cut at the slot's size")
        }
        XCTAssertTrue(block.isFull)
        XCTAssertNil(block.append(Rec(id: 9, flag: false)), "never past the capacity")
        for i in 0..<5 {
            XCTAssertEqual(block[i], Rec(id: i, flag: i % 2 == 0), "record \(i) after growth 1, 2, 4, 5")
            let stored = block.view(i, count: min(i + 6, 8)).array
            XCTAssertEqual(stored, (0..<UInt8(min(i + 6, 8))).map { $0 &+ UInt8(i * 16) }, "bytes \(i)")
            XCTAssertEqual(block.view(i, count: 99).count, 8, "a view never passes the slot")
        }
        block[2].id = 42
        block.record(3).pointee.flag = true
        XCTAssertEqual(block[2].id, 42)
        XCTAssertTrue(block[3].flag)
    }

    func testReserveMakesRoomOnce() {
        var block = SlotBlock<Rec>(capacity: 32, bytesPerSlot: 16)
        _ = block.append(Rec(id: 0, flag: true))
        block.reserve(1_000)
        for i in 1..<32 { XCTAssertEqual(block.append(Rec(id: i, flag: false)), i) }
        XCTAssertNil(block.append(Rec(id: 32, flag: false)))
        XCTAssertEqual(block[0], Rec(id: 0, flag: true))
        XCTAssertEqual(block[31].id, 31)
    }
}

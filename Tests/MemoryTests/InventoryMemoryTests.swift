import XCTest
import SpanSightDetect
import SpanSightEngine
import SpanSightInventory
import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire
import SpanSightProtocols

/// The inventory's and detection's shares of the memory budget: the per-entry costs they
/// charge are upper bounds of what the allocator really gives them, and a share is never
/// passed.
final class InventoryMemoryTests: XCTestCase {
    /// Clients that each talk Modbus to a few servers and poll a few unit ids: hosts with
    /// services, roles, peers, identities and map edges, as a busy plant makes them.
    func drive(_ t: MemoryBudgetTests.Traffic, clients: Int) {
        for f in 0..<clients {
            t.open(f, port: 502)
            for r in 0..<4 {
                t.send(f, port: 502, MemoryBudgetTests.modbusRequest(r))
                t.send(f, port: 502, fromClient: false, MemoryBudgetTests.modbusResponse(r))
            }
        }
    }

    func testInventoryCostsBoundTheHeap() {
        let t = MemoryBudgetTests.Traffic([Modbus.entry], budget: 512 << 20, events: false)
        let inventory = Inventory(config: InventoryConfig.registered, oui: OUIRegistry(entries: []), output: nil)
        t.engine.observer = inventory
        // Warm up: the engine's and the inventory's first allocations are not per host.
        drive(t, clients: 50)
        t.engine.finish()
        let heap0 = heapBytesInUse(), charged0 = inventory.chargedBytes
        t.engine.syncMemory()
        let table0 = t.engine.budget.used[MemoryKind.flows.rawValue]
        for f in 50..<3050 { t.seq[f] = nil }
        drive(t, clients: 3050)
        t.engine.finish()
        t.engine.syncMemory()
        let table = t.engine.budget.used[MemoryKind.flows.rawValue] - table0
        let held = heapBytesInUse() - heap0 - table
        let charged = inventory.chargedBytes - charged0
        XCTAssertGreaterThan(held, 0)
        XCTAssertGreaterThanOrEqual(charged, held, "the costs charged cover what the inventory holds (charged \(charged) B, heap \(held) B)")
        XCTAssertLessThanOrEqual(charged, held * 4, "and are not wildly pessimistic (charged \(charged) B, heap \(held) B)")
    }

    func testInventoryShareIsNeverPassed() {
        let t = MemoryBudgetTests.Traffic([Modbus.entry], budget: 512 << 20, events: false)
        var config = InventoryConfig.registered
        config.maxBytes = 200_000
        let inventory = Inventory(config: config, oui: OUIRegistry(entries: []), output: nil)
        t.engine.observer = inventory
        drive(t, clients: 2000)
        t.engine.finish()
        XCTAssertLessThanOrEqual(inventory.chargedBytes, 200_000)
        XCTAssertGreaterThan(inventory.hostsDropped + inventory.memoryDropped, 0)
        XCTAssertGreaterThan(inventory.hosts.count, 10, "what fitted was kept")
    }

    func testDetectionCapsFitTheirShare() {
        for share in [1 << 20, 8 << 20, 32 << 20, 1 << 30] {
            var c = DetectConfig()
            c.fit(bytes: share)
            XCTAssertLessThanOrEqual(c.worstCaseBytes, max(share, 16 * 4096), "share \(share): every table full fits")
        }
        var c = DetectConfig()
        c.fit(bytes: 1 << 40)
        XCTAssertEqual(c.maxTrackedKeys, DetectConfig().maxTrackedKeys, "a large share keeps the default caps")
    }

    /// Sweeps from many clients fill the sliding windows: the bytes detection reports holding
    /// cover what the allocator gave it.
    func testDetectionCostsBoundTheHeap() {
        let t = MemoryBudgetTests.Traffic([Modbus.entry], budget: 512 << 20, events: false)
        let detector = Detector(output: EventOutput.disabled())
        t.engine.observer = detector
        func sweep(_ range: Range<Int>) {
            for f in range {
                t.open(f, port: 502)
                for unit in 0..<12 {
                    var req = MemoryBudgetTests.modbusRequest(unit)
                    req[6] = UInt8(unit + 1)
                    t.send(f, port: 502, req)
                }
            }
        }
        func engineBytes() -> Int {
            t.engine.syncMemory()
            return t.engine.budget.appLayerUsed + t.engine.budget.used[MemoryKind.flows.rawValue]
        }
        sweep(0..<50)
        let heap0 = heapBytesInUse(), est0 = detector.estimatedBytes, engine0 = engineBytes()
        sweep(50..<2050)
        let held = heapBytesInUse() - heap0 - (engineBytes() - engine0), est = detector.estimatedBytes - est0
        XCTAssertGreaterThan(held, 0)
        XCTAssertGreaterThanOrEqual(est, held, "detection's estimate (\(est) B) covers what the allocator gave it (\(held) B)")
    }
}

extension InventoryConfig {
    /// The default configuration with the registered protocols (as the tool runs it).
    static var registered: InventoryConfig {
        var c = InventoryConfig()
        c.protocols = Registry.modules
        return c
    }
}

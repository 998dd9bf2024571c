import Foundation
import SpanSightTestSupport
import XCTest

/// The SQLite store from the command line (issue 21): runs that share one store at the same
/// time lose nothing of each other's and a reader beside them only ever sees whole saves; a
/// store written by the schema-1 version is migrated once and reads the same.
final class StoreTests: XCTestCase {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-store-tests-\(getpid())")

    override func setUpWithError() throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: work) }

    func spansight(_ args: [String]) throws -> ToolProcess.Result { try ToolProcess.run(args) }
    func start(_ args: [String], quiet: Bool = false) throws -> (process: Process, out: Pipe, err: Pipe) { try ToolProcess.start(args, quiet: quiet) }

    /// Packets per asset id in `assets --format json` output.
    func packets(_ json: Data) throws -> [String: Int] {
        XCTAssertNotNil(try? JSONSerialization.jsonObject(with: json), "not JSON")
        return ToolProcess.packets(json)
    }

    func fixture(_ name: String) -> String { TestPaths.fixtures.appendingPathComponent(name).path }

    /// Four `read --db` runs started together on one store (each loads it before any has
    /// saved: a whole-file rewrite would keep only the last), and `assets --db` reading it
    /// in a loop meanwhile. The store ends with every run's packets per asset, and every read
    /// shows the sum of whole runs: never a part of a save.
    func testConcurrentRunsAndAReaderShareOneStore() throws {
        let big = work.appendingPathComponent("big.pcap")
        XCTAssertEqual(try spansight(["synth", "--packets", "20000", big.path]).status, 0)
        let inputs = [[big.path, fixture("modbus-pymodbus.pcap")], [big.path, fixture("dnp3-opendnp3.pcap")],
                      [big.path, fixture("dicom-pynetdicom.pcap")], [big.path, fixture("hl7-mllp-python-hl7.pcap")]]
        // What each run contributes, alone.
        var alone: [[String: Int]] = []
        for (n, files) in inputs.enumerated() {
            let db = work.appendingPathComponent("alone-\(n).sqlite").path
            XCTAssertEqual(try spansight(["read", "-q", "--db", db] + files).status, 0)
            let r = try spansight(["assets", "--db", db, "--format", "json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            alone.append(try packets(r.stdout))
        }
        let shared = work.appendingPathComponent("shared.sqlite").path
        // An empty store first, so that the readers have a file to open from the start.
        XCTAssertEqual(try spansight(["read", "-q", "--db", shared, fixture("modbus-pymodbus.pcap")]).status, 0)
        let seed = try packets(try spansight(["assets", "--db", shared, "--format", "json"]).stdout)
        let runs = try inputs.map { try start(["read", "-q", "--db", shared] + $0, quiet: true) }
        var reads = 0
        var seen: Set<Int> = []
        while runs.contains(where: { $0.process.isRunning }) {
            let r = try spansight(["assets", "--db", shared, "--format", "json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            seen.insert(try packets(r.stdout).values.reduce(0, +))
            reads += 1
        }
        for r in runs {
            let err = String(decoding: r.err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            r.process.waitUntilExit()
            XCTAssertEqual(r.process.terminationStatus, 0, err)
        }
        var expected = seed
        for a in alone { expected.merge(a, uniquingKeysWith: +) }
        let final = try packets(try spansight(["assets", "--db", shared, "--format", "json"]).stdout)
        XCTAssertEqual(final, expected, "every run's packets, per asset")
        // Whole saves only: each total a reader saw is the seed plus some of the runs.
        let totals = alone.map { $0.values.reduce(0, +) }, base = seed.values.reduce(0, +)
        let whole = Set((0..<16).map { mask in base + (0..<4).filter { mask & (1 << $0) != 0 }.map { totals[$0] }.reduce(0, +) })
        XCTAssertTrue(seen.isSubset(of: whole), "a reader saw a partial save: \(seen.subtracting(whole))")
        XCTAssertGreaterThan(reads, 0)
    }

    /// A store of schema 1 (written by the version before the migration, see
    /// fixtures/README.md) opens with today's version, is migrated once (one warning) and
    /// reports exactly what that version reported; the committed file is never touched.
    func testASchemaOneStoreIsMigratedOnceAndReadsTheSame() throws {
        let original = TestPaths.fixtures.appendingPathComponent("store/inventory-schema1.sqlite")
        let before = try Data(contentsOf: original)
        let copy = work.appendingPathComponent("old.sqlite")
        try FileManager.default.copyItem(at: original, to: copy)
        let first = try spansight(["assets", "--db", copy.path, "--format", "json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("inventory store of schema 1 migrated to schema 2"), first.stderr)
        let expected = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("store/inventory-schema1-assets.json"))
        XCTAssertEqual(String(decoding: first.stdout, as: UTF8.self), String(decoding: expected, as: UTF8.self))
        let second = try spansight(["assets", "--db", copy.path, "--format", "json"])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stderr.contains("migrated"), second.stderr)
        XCTAssertEqual(second.stdout, first.stdout)
        // The migrated store goes on accumulating: a run adds its packets to the migrated ones.
        XCTAssertEqual(try spansight(["read", "-q", "--db", copy.path, fixture("dnp3-opendnp3.pcap")]).status, 0)
        let after = try packets(try spansight(["assets", "--db", copy.path, "--format", "json"]).stdout)
        let dnp3 = work.appendingPathComponent("dnp3.sqlite").path
        XCTAssertEqual(try spansight(["read", "-q", "--db", dnp3, fixture("dnp3-opendnp3.pcap")]).status, 0)
        var sum = try packets(first.stdout)
        sum.merge(try packets(try spansight(["assets", "--db", dnp3, "--format", "json"]).stdout), uniquingKeysWith: +)
        XCTAssertEqual(after, sum)
        XCTAssertEqual(try Data(contentsOf: original), before, "the fixture is read through a copy")
    }
}

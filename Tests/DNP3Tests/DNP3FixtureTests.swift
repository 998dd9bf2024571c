import Foundation
import XCTest
import SpanSightEngine
import SpanSightTestSupport
@testable import SpanSightDNP3

/// fixtures/dnp3-*.pcap (opendnp3 master and outstation; fixtures/README.md), compared with
/// the committed tshark truth (fixtures/truth/<name>.tsv, fixtures/make-truth.sh; tshark run
/// now only for a fixture without one), and the corpus coverage line.
final class DNP3FixtureTests: XCTestCase {
    func testFixturesAgreeWithTshark() throws {
        let files = TestPaths.fixtureFiles(prefix: "dnp3")
        if files.isEmpty { throw XCTSkip("no fixtures/dnp3-*.pcap yet") }
        let fields = ["frame.number", "dnp3.src", "dnp3.dst", "dnp3.al.func", "dnp3.al.iin", "dnp3.al.obj"]
        for url in files {
            let committed = TestPaths.fixtures.appendingPathComponent("truth")
                .appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".tsv")
            let t: TSVTable
            if let table = TSVTable(url: committed) {
                t = table
            } else {
                guard TShark.path != nil else { throw XCTSkip("\(url.lastPathComponent): no committed truth and tshark not installed") }
                guard let out = TShark.run(url, ["-Y", "dnp3", "-T", "fields", "-E", "header=y", "-E", "occurrence=a", "-E", "aggregator=,"]
                                              + fields.flatMap { ["-e", $0] }) else { continue }
                let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("dnp3-fixture-\(UUID().uuidString).tsv")
                try out.write(to: tmp, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(at: tmp) }
                guard let table = TSVTable(url: tmp) else { XCTFail("tshark output"); continue }
                t = table
            }
            let run = try CaptureRunner.run(url, dissectors: [DNP3.entry])
            // Same pinned rule as the corpus: tshark lists no objects for FC 22 assign class.
            let name = url.lastPathComponent
            let truth = DNP3CorpusTests.truthFragments(t).map { DNP3CorpusTests.comparable($0, file: name, truth: true) }
            let ours = DNP3CorpusTests.spanSightFragments(run.events).map { DNP3CorpusTests.comparable($0, file: name, truth: false) }
            XCTAssertGreaterThan(truth.count, 0, url.lastPathComponent)
            XCTAssertEQ(DNP3CorpusTests.minus(truth, ours), [], url.lastPathComponent)
            XCTAssertEQ(DNP3CorpusTests.minus(ours, truth), [], url.lastPathComponent)
            let anomalies = run.events.compactMap(DNP3Run.anomalyName)
            XCTAssertEQ(anomalies, [String](), url.lastPathComponent)
        }
    }

    /// What the corpus exercises; docs/dnp3.md carries this line verbatim.
    func testCoverageLine() throws {
        let files = TestPaths.corpusFiles("dnp3")
        if files.isEmpty { throw XCTSkip("DNP3 corpus absent") }
        var fcs = Set<Int>(), groups = Set<Int>(), anomalies = Set<String>(), types = Set<String>()
        for url in files {
            let run = try CaptureRunner.run(url, dissectors: [DNP3.entry])
            for e in run.events {
                if let a = DNP3Run.anomalyName(e) { anomalies.insert(a) }
                guard let d = e["dnp3"] as? [String: Any] else { continue }
                if let t = d["type"] as? String { types.insert(t) }
                guard let app = d["application"] as? [String: Any] else { continue }
                if let fc = app["function_code"] as? Int { fcs.insert(fc) }
                for o in app["objects"] as? [[String: Any]] ?? [] { if let g = o["group"] as? Int { groups.insert(g) } }
            }
        }
        let line = "Coverage (corpus, \(files.count) captures): \(fcs.count) function codes "
            + "(\(fcs.sorted().map(String.init).joined(separator: " "))), \(groups.count) object groups "
            + "(\(groups.sorted().map(String.init).joined(separator: " "))), \(types.count) event types "
            + "(\(types.sorted().joined(separator: " "))), \(anomalies.count) anomaly types "
            + "(\(anomalies.sorted().joined(separator: " ")))."
        let doc = TestPaths.packageRoot.appendingPathComponent("docs/dnp3.md")
        let text = (try? String(contentsOf: doc, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains(line), "docs/dnp3.md should carry:\n\(line)")
    }
}

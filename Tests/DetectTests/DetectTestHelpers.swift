import Foundation
import SpanSightCapture
@testable import SpanSightDetect
import SpanSightDNP3
import SpanSightEngine
import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire
import XCTest

let detectDissectors = [Modbus.entry, DNP3.entry]

func fixture(_ name: String) -> URL { TestPaths.fixtures.appendingPathComponent(name) }

/// Packets of capture files in order (bytes copied; the fixtures are small).
func packets(_ urls: [URL]) throws -> [(nanos: Int64, bytes: [UInt8], wire: Int, dlt: Int32)] {
    var out: [(Int64, [UInt8], Int, Int32)] = []
    for u in urls {
        let h = try PcapHandle.openOffline(path: u.path)
        var p = CapturedPacket()
        while case .packet = h.next(&p) { out.append((p.timestampNanos, Array(p.bytes), p.wireLength, h.linkType.rawValue)) }
    }
    return out
}

/// Runs packets through an engine with `observer` (made from the run's output); events in memory.
func replay(_ list: ArraySlice<(nanos: Int64, bytes: [UInt8], wire: Int, dlt: Int32)>,
            _ makeObserver: (EventOutput) -> EngineObserver) -> (observer: EngineObserver, lines: [String]) {
    var config = EngineConfig()
    config.dissectors = detectDissectors
    config.flowEvents = false
    let out = EventOutput.inMemory()
    let engine = Engine(config: config, output: out)
    let observer = makeObserver(out)
    engine.observer = observer
    var dlt: Int32 = -1
    for p in list {
        if p.dlt != dlt { dlt = p.dlt; _ = engine.setLinkType(dlt: dlt) }
        p.bytes.withUnsafeBytes { engine.process($0, wireLength: p.wire, timestampNanos: p.nanos) }
    }
    engine.finish()
    (observer as? Detector)?.finish()
    return (observer, out.lines)
}

struct DetectRun {
    var detector: Detector
    var events: [[String: Any]]
    /// First emissions: `alert` events (not the end-of-flow `alert_summary` totals).
    var alerts: [[String: Any]] { events.filter { $0["event_type"] as? String == "alert" } }
    var aggregates: [[String: Any]] { events.filter { $0["event_type"] as? String == "alert_summary" } }
    /// Catalogue numbers of the alerts raised (the events' `signature_id` less 1,000,000).
    var signatureIDs: Set<Int> { Set(alerts.map { $0.catalogueID }) }
    func alerts(_ id: Int) -> [[String: Any]] { alerts.filter { $0.catalogueID == id } }
}

func detect(_ list: ArraySlice<(nanos: Int64, bytes: [UInt8], wire: Int, dlt: Int32)>, baseline: BaselineIndex? = nil,
            config: DetectConfig = DetectConfig()) -> DetectRun {
    let (o, lines) = replay(list) { Detector(config: config, baseline: baseline, output: $0) }
    let events = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        .filter { $0["event_type"] as? String == "alert" || $0["event_type"] as? String == "alert_summary" }
    return DetectRun(detector: o as! Detector, events: events)
}

func detect(_ names: [String], baseline: BaselineIndex? = nil, config: DetectConfig = DetectConfig()) throws -> DetectRun {
    detect(try packets(names.map(fixture))[...], baseline: baseline, config: config)
}

func learn(_ list: ArraySlice<(nanos: Int64, bytes: [UInt8], wire: Int, dlt: Int32)>, sources: [String] = ["test"]) -> BaselineIndex {
    let (o, _) = replay(list) { _ in Learner(rateWindowSeconds: 60) }
    let l = o as! Learner
    l.finish(sources: sources)
    return l.index
}

extension Dictionary where Key == String, Value == Any {
    /// The `alert` object (or an `alert_summary` event's).
    var alert: [String: Any] { self["alert"] as? [String: Any] ?? self["alert_summary"] as? [String: Any] ?? [:] }
    /// The catalogue number: Suricata's `signature_id` is 1,000,000 + it (the local range).
    var catalogueID: Int { (alert["signature_id"] as? Int).map { $0 - 1_000_000 } ?? -1 }
    /// `alert.target.ip`.
    var targetIP: String? { (alert["target"] as? [String: Any])?["ip"] as? String }
}

/// Runs the built tool (beside the test bundle or in .build/debug); standard output via a file.
func spansight(_ args: [String]) throws -> (status: Int32, stdout: String) {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("spansight")
    let tool = FileManager.default.isExecutableFile(atPath: beside.path) ? beside
        : TestPaths.packageRoot.appendingPathComponent(".build/debug/spansight")
    let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("detect-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outURL) }
    let p = Process()
    p.executableURL = tool
    p.arguments = args
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self))
}

func temporary(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("detect-\(getpid())-\(name)").path
}

import Foundation
import SpanSightCapture
import SpanSightEngine
import SpanSightWire

/// Paths and runners shared by the test targets.
public enum TestPaths {
    /// The package root (found from this file's location).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var fixtures: URL { packageRoot.appendingPathComponent("fixtures") }

    /// ../shared/corpus beside the package (or $SPANSIGHT_CORPUS); nil when absent.
    public static var corpus: URL? {
        if let env = ProcessInfo.processInfo.environment["SPANSIGHT_CORPUS"] {
            let u = URL(fileURLWithPath: env)
            return FileManager.default.fileExists(atPath: u.path) ? u : nil
        }
        let u = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        return FileManager.default.fileExists(atPath: u.appendingPathComponent("MANIFEST.md").path) ? u : nil
    }

    /// Captures under a corpus folder ("modbus", "dnp3", ...), sorted.
    public static func corpusFiles(_ folder: String) -> [URL] {
        guard let root = corpus else { return [] }
        let dir = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted().map { dir.appendingPathComponent($0) }
    }

    public static func fixtureFiles(prefix: String = "") -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []
        return names.filter { ($0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng")) && $0.hasPrefix(prefix) }
            .sorted().map { fixtures.appendingPathComponent($0) }
    }
}

/// Result of running the engine over a capture in memory.
public struct CaptureRun {
    public var lines: [String]
    public var events: [[String: Any]]
    public var counters: EngineCounters
    public var linkType: LinkType
    public var packets: Int

    public func events(ofType t: String) -> [[String: Any]] {
        events.filter { ($0["event_type"] as? String) == t }
    }
}

public enum CaptureRunner {
    /// Runs a capture file through a fresh engine with the given dissectors; events in memory.
    public static func run(_ url: URL, dissectors: [DissectorEntry] = [], configure: (inout EngineConfig) -> Void = { _ in },
                           prepare: (Engine, EventOutput) -> Void = { _, _ in }) throws -> CaptureRun {
        var config = EngineConfig()
        config.dissectors = dissectors
        configure(&config)
        let out = EventOutput.inMemory()
        let engine = Engine(config: config, output: out)
        prepare(engine, out)
        let h = try PcapHandle.openOffline(path: url.path)
        guard engine.setLinkType(dlt: h.linkType.rawValue) else {
            throw CaptureError(.unsupportedLinkType, "\(url.lastPathComponent): unsupported link type \(h.linkType)")
        }
        var p = CapturedPacket()
        var n = 0
        loop: while true {
            switch h.next(&p) {
            case .packet:
                n += 1
                engine.process(p.bytes, wireLength: p.wireLength, timestampNanos: p.timestampNanos)
            case .timeout: continue
            default: break loop
            }
        }
        engine.finish()
        engine.emitStats()
        let lines = out.lines
        let events = lines.compactMap { line -> [String: Any]? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        return CaptureRun(lines: lines, events: events, counters: engine.counters, linkType: h.linkType, packets: n)
    }
}

/// A tshark field dump (TSV with a header line), as in ../shared/corpus/truth and fixtures/truth.
public struct TSVTable {
    public var header: [String]
    public var rows: [[String]]

    public init?(url: URL) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first else { return nil }
        header = first.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        rows = lines.dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }

    /// The value of `name` in `row` ("" when absent).
    public func value(_ row: [String], _ name: String) -> String {
        guard let i = column(name), i < row.count else { return "" }
        return row[i]
    }
}

/// Runs tshark when it is installed (nil otherwise).
public enum TShark {
    public static var path: String? {
        for p in ["/usr/bin/tshark", "/usr/local/bin/tshark"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return nil
    }

    /// Output of `tshark -n -r FILE ARGS...` with an empty private configuration.
    public static func run(_ file: URL, _ args: [String]) -> String? {
        guard let tshark = path else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-tshark-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tshark)
        p.arguments = ["-n", "-r", file.path] + args
        var env = ProcessInfo.processInfo.environment
        env["WIRESHARK_CONFIG_DIR"] = dir.path
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A small deterministic generator (SplitMix64), for randomised tests that must repeat: a
/// failure shows its seed, and the same seed gives the same inputs.
public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Process {
    /// Waits for the process to end, at most `seconds`; past that it is killed (SIGKILL).
    /// True when it ended by itself.
    public func waitUntilExit(within seconds: Double) -> Bool {
        let limit = Date().addingTimeInterval(seconds)
        while isRunning && Date() < limit { usleep(20_000) }
        let ended = !isRunning
        if !ended { kill(processIdentifier, SIGKILL) }
        waitUntilExit()
        return ended
    }
}

import ArgumentParser
import Foundation
import SpanSightProtocols
import SpanSightCapture
import SpanSightDetect
import SpanSightInventory
import SpanSightEngine
import SpanSightWire

/// Thresholds of the rules over sliding windows (shared by `read`, `live` and `simulate`).
struct DetectThresholds: ParsableArguments {
    @Option(help: "Sliding window of the reconnaissance rules, in seconds of packet time.")
    var sweepWindow: Int = 60
    @Option(name: .customLong("threshold"),
            help: ArgumentHelp("A rule's threshold within the window, NAME=N (repeatable).",
                               discussion: "Names: " + DetectThresholds.names.joined(separator: ", ") + "."))
    var thresholds: [String] = []
    // The threshold options of earlier versions, kept: --unit-sweep-threshold N is --threshold unit-sweep=N.
    @Option(help: .hidden) var unitSweepThreshold: Int?
    @Option(help: .hidden) var functionSweepThreshold: Int?
    @Option(help: .hidden) var addressSweepThreshold: Int?
    @Option(help: .hidden) var aeProbeThreshold: Int?
    @Option(help: .hidden) var rejectThreshold: Int?
    @Option(help: .hidden) var nackThreshold: Int?

    /// The threshold names of the registered protocols' rules, with their defaults.
    static var names: [String] {
        Registry.modules.flatMap { m in
            m.sweeps.map { "\($0.thresholdName) (\($0.defaultThreshold))" } + m.outcomes.map { "\($0.thresholdName) (\($0.defaultThreshold))" }
        }
    }
    static var known: Set<String> {
        Set(Registry.modules.flatMap { m in m.sweeps.map { "\($0.thresholdName)" } + m.outcomes.map { "\($0.thresholdName)" } })
    }

    /// The user's thresholds by name (the legacy options, then --threshold).
    func parsedThresholds() throws -> [String: Int] {
        var t: [String: Int] = [:]
        for (name, v) in [("unit-sweep", unitSweepThreshold), ("function-sweep", functionSweepThreshold),
                          ("address-sweep", addressSweepThreshold), ("ae-probe", aeProbeThreshold),
                          ("reject", rejectThreshold), ("nack", nackThreshold)] {
            if let v { t[name] = v }
        }
        for item in thresholds {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, let v = Int(kv[1]) else {
                throw ValidationError("--threshold wants NAME=N, got \(PrintableText.escaped(item, keepingUnicode: true))")
            }
            t[kv[0]] = v
        }
        for (name, v) in t {
            guard DetectThresholds.known.contains(name) else {
                throw ValidationError("--threshold: no rule named \(PrintableText.escaped(name, keepingUnicode: true)) (known: \(DetectThresholds.known.sorted().joined(separator: ", ")))")
            }
            try OptionBounds.check("\(name)-threshold", v, 2...OptionBounds.maxSweepThreshold)
        }
        return t
    }
    @Option(help: "Rate alert when a pair's commands in a window exceed max(learned max x factor, learned max + slack).")
    var rateFactor: Double = 3
    @Option(help: "See --rate-factor.")
    var rateSlack: Int = 20

    func validate() throws {
        try OptionBounds.seconds("sweep-window", sweepWindow)
        _ = try parsedThresholds()
        guard rateFactor.isFinite, rateFactor >= 1, rateFactor <= 1000 else {
            throw ValidationError("--rate-factor must be from 1 to 1000, got \(rateFactor)")
        }
        try OptionBounds.check("rate-slack", rateSlack, 0...1_000_000_000, "commands")
    }

    var config: DetectConfig {
        var c = DetectConfig()
        c.windowNanos = Int64(sweepWindow) * 1_000_000_000
        c.thresholds = (try? parsedThresholds()) ?? [:]
        c.rateFactor = rateFactor
        c.rateSlack = rateSlack
        return c
    }
}

/// Detection options of `read` and `live`.
struct DetectOptions: ParsableArguments {
    @Flag(help: "Raise `alert` events (protocol anomalies, dangerous operations, reconnaissance).")
    var alerts = false

    @Option(help: "A baseline from `spansight learn`: also alert on what it does not allow (implies --alerts).")
    var baseline: String?

    @Option(help: ArgumentHelp("Write the packets of every alerted flow: `read`, to this pcap; `live`, to DIR/flow-<flow_id>.pcap for each alerted flow when it ends, from a ring of recent packets (--alert-ring-megabytes). Implies --alerts.", valueName: "path"))
    var alertPcap: String?

    @OptionGroup var thresholds: DetectThresholds

    var enabled: Bool { alerts || baseline != nil || alertPcap != nil }

    /// The baseline read, the evidence pcap written (`live`: a folder, checked apart).
    func addFiles(to files: inout RunFiles, alertPcapIsFile: Bool = true) {
        files.input("--baseline", baseline)
        if alertPcapIsFile { files.output("--alert-pcap", alertPcap) }
    }

    /// Attaches a detector to the analysis when detection is on; `inputs` are the files a
    /// `read` analyses (nil live). Returns the detector (the inventory takes it as its listener).
    @discardableResult
    func attach(to analysis: Analysis, inputs: [String]?) throws -> Detector? {
        guard enabled else { return nil }
        let index: BaselineIndex?
        do { index = try baseline.map { try BaselineIndex.load(path: $0) } } catch { throw fail("\(error)") }
        var config = thresholds.config
        config.fit(bytes: analysis.engine.budget.shares.detection)
        let detector = Detector(config: config, baseline: index, output: analysis.output)
        analysis.attach(detector)
        let pcap = alertPcap
        var written = 0
        analysis.onFinish.append {
            detector.finish()
            if let pcap, let inputs { written = try EvidenceSlicer.write(detector.evidence, from: inputs, to: pcap) }
        }
        analysis.summaryLines.append {
            var lines = DetectSummary.lines(detector)
            if let pcap, inputs != nil { lines.append("  alert evidence: \(written) packets of \(detector.evidence.count) flows in \(pcap)") }
            return lines
        }
        return detector
    }
}

enum DetectSummary {
    static func lines(_ d: Detector) -> [String] {
        let s = d.stats
        var lines = ["  alerts: \(s.totalAlerts) (\(s.occurrences.values.reduce(0, +)) occurrences)"]
        let top = s.alerts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(5)
        if !top.isEmpty {
            lines.append("    top: " + top.map { "\(Signatures.byID($0.key, in: Registry.modules).map { "\($0.name)" } ?? "\($0.key)") \($0.value)" }.joined(separator: ", "))
        }
        let drops = d.drops.filter { $0.1 > 0 }
        if !drops.isEmpty { lines.append("    detection caps dropped: " + drops.map { "\($0.0) \($0.1)" }.joined(separator: ", ")) }
        return lines
    }
}

/// Re-reads the inputs after a run and writes the packets of alerted flows.
enum EvidenceSlicer {
    static func write(_ flows: [EvidenceFlow], from inputs: [String], to path: String) throws -> Int {
        let matcher = EvidenceMatcher(flows)
        var writer: EvidencePcapWriter? = nil
        var linkType: Int32? = nil
        var packet = CapturedPacket()
        var decoded = DecodedPacket()
        for input in inputs where input != "-" {
            let h: PcapHandle
            do { h = try PcapHandle.openOffline(path: input) } catch { throw BaselineError(description: "evidence: \(error.description)") }
            let dlt = h.linkType.rawValue
            if linkType == nil {
                linkType = dlt
                writer = try EvidencePcapWriter(path: path, linkType: UInt32(bitPattern: dlt))
            }
            guard dlt == linkType, let link = LinkKind(dlt: dlt) else {
                Stderr.line("spansight: warning: \(input): link type differs from the first input; no evidence taken from it")
                continue
            }
            let decoder = PacketDecoder(link: link)
            loop: while true {
                switch h.next(&packet) {
                case .packet:
                    decoder.decode(ByteView(packet.bytes), wireLength: packet.wireLength, into: &decoded)
                    if matcher.matches(decoded, nanos: packet.timestampNanos) {
                        writer?.write(packet.bytes, wireLength: packet.wireLength, nanos: packet.timestampNanos)
                    }
                case .timeout: continue
                default: break loop
                }
            }
        }
        if writer == nil { writer = try EvidencePcapWriter(path: path, linkType: 1) }
        try writer?.close()
        return writer?.packets ?? 0
    }
}

/// An engine configuration for learning and simulating (no flow events).
private func quietEngineConfig() -> EngineConfig {
    var c = EngineConfig()
    c.dissectors = Registry.all
    c.flowEvents = false
    return c
}

struct Learn: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Learn a baseline (talkers, pairs, commands, rate envelopes) from captures, as reviewable JSON.")

    @Argument(help: "Capture files of normal traffic, read in order.")
    var files: [String]

    @Option(help: "Where to write the baseline (JSON).")
    var baseline: String

    @Option(help: "Length of the rate windows, in seconds.")
    var rateWindow: Int = 60

    @Option(help: "Only learn from packets matching this BPF expression.")
    var filter: String?

    @Flag(name: [.short, .long], help: "No summary on standard error.")
    var quiet = false

    func validate() throws {
        try OptionBounds.seconds("rate-window", rateWindow)
        try validateRunFiles()
    }

    var runFiles: RunFiles {
        var f = RunFiles()
        f.inputs("capture file", files)
        f.output("--baseline", baseline)
        return f
    }

    func run() throws {
        try runFiles.checkWritable()
        let analysis = Analysis(config: quietEngineConfig(), output: EventOutput.disabled())
        // Learning is detection state: its tables fit detection's share of the memory budget.
        let share = analysis.engine.budget.shares.detection
        let learner = Learner(rateWindowSeconds: rateWindow,
                              maxEntries: max(16, min(100_000, share / 2 / (DetectCost.windowKey + DetectCost.rateKey))),
                              maxFlows: max(16, min(65_536, share / 4 / DetectCost.flow)))
        analysis.attach(learner)
        let target = baseline
        let sources = files.map { URL(fileURLWithPath: $0).lastPathComponent }
        analysis.onFinish.append {
            learner.finish(sources: sources)
            try FileOutput.write(target, [UInt8](try learner.index.encoded()))
        }
        analysis.summaryLines.append {
            let f = learner.index.file
            let perApp = Registry.modules.map { m in "\(f.commands.filter { $0.app == "\(m.name)" }.count) \(m.name)" }.joined(separator: ", ")
            var l = ["  baseline: \(f.talkers.count) talkers, \(f.pairs.count) pairs, \(perApp) entries, \(f.rates.count) rate envelopes -> \(target)"]
            if f.droppedEntries > 0 { l.append("  baseline incomplete: \(f.droppedEntries) entries dropped by caps") }
            return l
        }
        let status = analysis.readFiles(files, filter: filter, progress: false)
        if !quiet { analysis.printSummary() }
        if status != 0 { throw ExitCode(status) }
    }
}

struct Simulate: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Show what a baseline would have flagged on captures (a table on standard output; no events).")

    @Option(help: "The baseline to try (from `spansight learn`).")
    var baseline: String

    @Argument(help: "Capture files to try it on.")
    var files: [String]

    @OptionGroup var thresholds: DetectThresholds

    var runFiles: RunFiles {
        var f = RunFiles()
        f.input("--baseline", baseline)
        f.inputs("capture file", files)
        f.writesStandardOutput = true
        return f
    }

    func validate() throws { try validateRunFiles() }

    func run() throws {
        let index: BaselineIndex
        do { index = try BaselineIndex.load(path: baseline) } catch { throw fail("\(error)") }
        let analysis = Analysis(config: quietEngineConfig(), output: EventOutput.disabled())
        // The same observers as `read --baseline`: the inventory (identity changes, target
        // classes for risk) before the detector.
        var inventoryConfig = InventoryConfig()
        inventoryConfig.protocols = Registry.modules
        inventoryConfig.events = false
        inventoryConfig.maxBytes = analysis.engine.budget.shares.inventory
        let inventory = Inventory(config: inventoryConfig, oui: OUIRegistry(), output: nil)
        analysis.attach(inventory)
        var config = thresholds.config
        config.fit(bytes: analysis.engine.budget.shares.detection)
        let detector = Detector(config: config, baseline: index, output: analysis.output)
        analysis.attach(detector)
        try Wiring.connect(inventory: inventory, detector: detector)
        analysis.onFinish.append { detector.finish() }
        let status = analysis.readFiles(files, filter: nil, progress: false)
        print(SimulationReport.table(detector, baseline: baseline, sources: index.sources, packets: analysis.engine.counters.packets))
        if status != 0 { throw ExitCode(status) }
    }
}

enum SimulationReport {
    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

    static func table(_ d: Detector, baseline: String, sources: [String], packets: UInt64) -> String {
        let s = d.stats
        var out = "simulate: baseline \(baseline) (learned from \(sources.joined(separator: ", "))) on \(packets) packets\n"
        out += pad("id", 6) + pad("signature", 40) + pad("severity", 10) + pad("alerts", 8) + "occurrences\n"
        for id in s.alerts.keys.sorted() {
            let sig = Signatures.byID(id, in: Registry.modules)
            out += pad(String(id), 6) + pad(sig.map { "\($0.name)" } ?? "?", 40) + pad(sig.map { "\($0.severityName)" } ?? "?", 10)
                + pad(String(s.alerts[id] ?? 0), 8) + String(s.occurrences[id] ?? 0) + "\n"
        }
        out += "per pair:\n"
        let pairs = s.byPair.keys.sorted { ($0.source, $0.destination, $0.signature) < ($1.source, $1.destination, $1.signature) }
        for p in pairs {
            let name = Signatures.byID(p.signature, in: Registry.modules).map { "\($0.name)" } ?? "?"
            out += "  " + pad("\(p.source.text) -> \(p.destination.text)", 38) + pad(name, 40) + String(s.byPair[p] ?? 0) + "\n"
        }
        out += "total: \(s.totalAlerts) alerts"
        return out
    }
}

struct Policy: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Export a baseline as a least-privilege segmentation policy (JSON or nftables rules) to review.")

    enum Format: String, ExpressibleByArgument { case json, nft }

    @Option(help: "The baseline (from `spansight learn`).")
    var baseline: String

    @Option(help: "json or nft.")
    var format: Format = .nft

    var runFiles: RunFiles {
        var f = RunFiles()
        f.input("--baseline", baseline)
        f.writesStandardOutput = true
        return f
    }

    func validate() throws { try validateRunFiles() }

    func run() throws {
        let index: BaselineIndex
        do { index = try BaselineIndex.load(path: baseline) } catch { throw fail("\(error)") }
        let policy = SegmentationPolicy(index.file, protocols: Registry.modules)
        // A value that no rule may carry rejects the baseline: nothing is printed.
        let text: String
        do {
            switch format {
            case .json: text = String(decoding: try policy.json(), as: UTF8.self)
            case .nft: text = try policy.nft()
            }
        } catch { throw fail("\(PrintableText.escaped(baseline, keepingUnicode: true)): \(error)") }
        print(text, terminator: "")
    }
}

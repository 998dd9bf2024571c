// UNSAFE: the in-memory replay hands the engine rebased views of the loaded capture's
// storage, one packet's range each.
import ArgumentParser
import CSpanSightAlloc
import SpanSightProtocols
import SpanSightCapture
import SpanSightEngine
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the pipeline on a capture against a bare libpcap read loop, in one run.",
        discussion: """
            Loads the capture into memory once and runs the whole pipeline over it several times \
            with event output built but discarded; in the same run times a bare libpcap read loop \
            (pcap_next_ex, touching every 8th byte) over the same file as the floor, and the full \
            read path (libpcap + pipeline, and libpcap + the foundation alone when dissectors run). Heap allocations are counted by the tool's malloc wrappers.
            """)

    @Argument(help: "A pcap or pcapng file.")
    var file: String

    @Option(help: "Timed iterations of each measurement (the fastest is reported).")
    var iterations: Int = 5

    @Option(help: "Most flows tracked at once.")
    var maxFlows: Int = 262_144

    @Option(help: ArgumentHelp("Dissectors to run, comma-separated (\(Registry.all.map { $0.name.description }.joined(separator: ","))), or none; default: all."))
    var dissectors: String?

    @Flag(help: "Only run the in-memory pipeline without output (for profilers such as perf).")
    var pipelineOnly = false

    @Flag(help: "With --pipeline-only: build every event (and drop it), to profile event building.")
    var events = false

    func validate() throws {
        try OptionBounds.check("iterations", iterations, 1...1000)
        try OptionBounds.check("max-flows", maxFlows, 1...OptionBounds.maxFlows)
        if events && !pipelineOnly { throw ValidationError("--events goes with --pipeline-only") }
        _ = try selectedDissectors()
        try validateRunFiles()
    }

    var runFiles: RunFiles {
        var f = RunFiles()
        f.input("capture file", file)
        f.writesStandardOutput = true
        return f
    }

    /// The dissectors `--dissectors` names (all by default, none for "none"); an unknown name
    /// is a usage error.
    func selectedDissectors() throws -> [DissectorEntry] {
        guard let list = dissectors else { return Registry.all }
        if list == "none" { return [] }
        let known = Registry.all.map { "\($0.name)" }
        let names = list.split(separator: ",").map(String.init)
        guard !names.isEmpty else { throw ValidationError("--dissectors: no dissector given (known: \(known.joined(separator: ", ")), or none)") }
        for name in names where !known.contains(name) {
            throw ValidationError("--dissectors: unknown dissector '\(PrintableText.escaped(name, keepingUnicode: true))' (known: \(known.joined(separator: ", ")), or none)")
        }
        return Registry.all.filter { names.contains("\($0.name)") }
    }

    func run() throws {
        let capture: LoadedCapture
        do { capture = try LoadedCapture.load(file) } catch {
            // Empty either way (a pcap without packets, a pcapng without an interface block).
            throw fail(error.kind == .empty ? "\(file): no packets" : error.description)
        }
        guard LinkKindCheck.supported(capture.linkType) else {
            throw fail("\(file): unsupported link type \(capture.linkType.name)")
        }
        let n = capture.count
        guard n > 0 else { throw fail("\(file): no packets") }
        let totalBytes = capture.wireLengths.reduce(0, +)

        var config = EngineConfig()
        config.maxFlows = maxFlows
        config.dissectors = try selectedDissectors()

        if pipelineOnly {
            let r = inMemory(capture, config, output: events ? EventOutput.discarding : EventOutput.disabled)
            let what = events ? "events built" : "no output"
            print("pipeline, in memory, \(what): \(fmt(r.seconds * 1e9 / Double(n), 1)) ns/pkt, best of \(iterations)")
            return
        }

        // 1. Floor: bare libpcap read loop over the file (pcaploop.c's loop).
        var sink: UInt64 = 0
        func floorRun() throws -> Double {
            let t0 = MonotonicClock.now()
            guard let h = try? PcapHandle.openOffline(path: file) else { throw fail("\(file): cannot reopen") }
            var p = CapturedPacket()
            while case .packet = h.next(&p) {
                var i = 0
                while i < p.bytes.count { sink &+= UInt64(p.bytes[i]); i += 8 }
            }
            return MonotonicClock.now() - t0
        }

        // 2. The full read path: libpcap from the file plus the pipeline.
        var noDissectors = config
        noDissectors.dissectors = []
        func fullRun(build: Bool, foundationOnly: Bool = false) throws -> Double {
            let engine = Engine(config: foundationOnly ? noDissectors : config, output: build ? .discarding() : .disabled())
            let t0 = MonotonicClock.now()
            guard let h = try? PcapHandle.openOffline(path: file) else { throw fail("\(file): cannot reopen") }
            _ = engine.setLinkType(dlt: h.linkType.rawValue)
            var p = CapturedPacket()
            while case .packet = h.next(&p) {
                engine.process(p.bytes, wireLength: p.wireLength, timestampNanos: p.timestampNanos)
            }
            engine.finish()
            return MonotonicClock.now() - t0
        }

        // 3. Floor and full path alternate, so that each pair shares the machine's state of the
        // moment (this machine is shared: load comes and goes); each pair gives a ratio.
        var floorBest = Double.infinity, fullBest = Double.infinity, fullBuiltBest = Double.infinity
        var ratios: [Double] = [], builtRatios: [Double] = []
        // With dissectors, a third pair: the foundation alone (decode, flows, reassembly,
        // probing) read the same way, so both ratios come from one run.
        let timeFoundation = !config.dissectors.isEmpty
        var foundationBest = Double.infinity, foundationRatios: [Double] = []
        for _ in 0..<iterations {
            let f = try floorRun()
            let q = try fullRun(build: false)
            let f2 = try floorRun()
            let e = try fullRun(build: true)
            floorBest = min(floorBest, f, f2)
            fullBest = min(fullBest, q)
            fullBuiltBest = min(fullBuiltBest, e)
            ratios.append(q / f)
            builtRatios.append(e / f2)
            if timeFoundation {
                let f3 = try floorRun()
                let g = try fullRun(build: false, foundationOnly: true)
                floorBest = min(floorBest, f3)
                foundationBest = min(foundationBest, g)
                foundationRatios.append(g / f3)
            }
        }

        // Pipeline over the packets in memory, without output and with events built.
        let quiet = inMemory(capture, config, output: EventOutput.disabled)
        let built = inMemory(capture, config, output: EventOutput.discarding)

        // 4. Per dissector: the pipeline with that dissector alone against none, per PDU.
        let base = inMemory(capture, noDissectors, output: EventOutput.disabled)

        func row(_ name: String, _ secs: Double) -> String {
            let pps = Double(n) / secs
            let gbps = Double(totalBytes) * 8 / secs / 1e9
            let ns = secs * 1e9 / Double(n)
            return "\(name + String(repeating: " ", count: max(0, 50 - name.count))) \(pad(Format.rate(pps), 9)) pkt/s  \(pad(fmt(gbps, 2), 7)) Gbit/s  \(pad(fmt(ns, 1), 8)) ns/pkt"
        }
        print("spansight bench: \(file): \(n) packets, \(totalBytes) bytes, best of \(iterations)")
        print(row("libpcap read loop (floor)", floorBest))
        print(row("pipeline, in memory, no output", quiet.seconds))
        print(row("pipeline, in memory, events built", built.seconds))
        print(row("libpcap + pipeline, no output", fullBest))
        print(row("libpcap + pipeline, events built", fullBuiltBest))
        if timeFoundation { print(row("libpcap + foundation (no dissectors), no output", foundationBest)) }
        print("ratio libpcap+pipeline (no output) / floor: \(fmt(fullBest / floorBest, 2))x best against best, \(fmt(median(ratios), 2))x median of \(iterations) adjacent pairs")
        print("ratio libpcap+pipeline (events built) / floor: \(fmt(fullBuiltBest / floorBest, 2))x best against best, \(fmt(median(builtRatios), 2))x median of \(iterations) adjacent pairs")
        if timeFoundation {
            print("ratio libpcap+foundation (no dissectors, no output) / floor: \(fmt(foundationBest / floorBest, 2))x best against best, \(fmt(median(foundationRatios), 2))x median of \(iterations) adjacent pairs")
        }
        if CSpanSightAlloc_available() != 0 {
            print("heap allocations per packet, no output: \(fmt(quiet.allocsPerPacket, 4)) overall, \(fmt(quiet.steadyAllocsPerPacket, 4)) in the second half (steady state)")
            print("heap allocations per packet, events built: \(fmt(built.allocsPerPacket, 4)) overall, \(fmt(built.steadyAllocsPerPacket, 4)) in the second half")
        } else {
            print("heap allocations per packet: not counted on this platform")
        }
        print("events built per run: \(built.events)")
        for (i, entry) in config.dissectors.enumerated() {
            var one = config
            one.dissectors = [entry]
            let r = inMemory(capture, one, output: EventOutput.disabled)
            let pdus = r.pdus.first ?? 0
            guard pdus > 0 else { print("dissector \(entry.name): no PDUs in this capture"); continue }
            let nsPerPDU = max(0, r.seconds - base.seconds) * 1e9 / Double(pdus)
            let allocsPerPDU = Double(max(0, Int64(r.allocs) - Int64(base.allocs))) / Double(pdus)
            print("dissector \(entry.name): \(pdus) PDUs, \(fmt(nsPerPDU, 1)) ns/PDU over the pipeline without it, \(fmt(allocsPerPDU, 4)) allocations/PDU")
            _ = i
        }
        if sink == 42 { print("") }
    }

    struct InMemoryResult {
        var seconds: Double
        var allocs: UInt64
        var allocsPerPacket: Double
        var steadyAllocsPerPacket: Double
        var events: UInt64
        var pdus: [UInt64]
    }

    /// Runs the pipeline over the packets held in memory `iterations` times; the fastest run's
    /// time, the first run's allocation counts.
    func inMemory(_ capture: LoadedCapture, _ config: EngineConfig, output: () -> EventOutput) -> InMemoryResult {
        let n = capture.count
        var result = InMemoryResult(seconds: .infinity, allocs: 0, allocsPerPacket: 0, steadyAllocsPerPacket: 0, events: 0, pdus: [])
        for it in 0..<iterations {
            let out = output()
            let engine = Engine(config: config, output: out)
            _ = engine.setLinkType(dlt: capture.linkType.rawValue)
            var aHalf: UInt64 = 0
            let a0 = CSpanSightAlloc_count()
            let t0 = MonotonicClock.now()
            capture.storage.withUnsafeBytes { store in
                for i in 0..<n {
                    if i == n / 2 { aHalf = CSpanSightAlloc_count() }
                    let b = UnsafeRawBufferPointer(rebasing: store[capture.offsets[i]..<(capture.offsets[i] + capture.lengths[i])])
                    engine.process(b, wireLength: capture.wireLengths[i], timestampNanos: capture.timestamps[i])
                }
            }
            let t1 = MonotonicClock.now()
            let a1 = CSpanSightAlloc_count()
            engine.finish()
            result.seconds = min(result.seconds, t1 - t0)
            if it == 0 {
                result.allocs = a1 - a0
                result.allocsPerPacket = Double(a1 - a0) / Double(n)
                result.steadyAllocsPerPacket = Double(a1 - aHalf) / Double(max(1, n - n / 2))
                result.events = out.eventCount
                result.pdus = Array(engine.counters.pdusByDissector.prefix(config.dissectors.count))
            }
        }
        return result
    }

    private func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    private func fmt(_ v: Double, _ digits: Int) -> String {
        var m = 1.0
        for _ in 0..<digits { m *= 10 }
        let r = (v * m).rounded() / m
        var s = "\(r)"
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        }
        return s
    }

    private func pad(_ s: String, _ w: Int) -> String {
        s.count >= w ? s : String(repeating: " ", count: w - s.count) + s
    }
}

enum LinkKindCheck {
    static func supported(_ t: LinkType) -> Bool {
        Engine(config: EngineConfig(), output: .discarding()).setLinkType(dlt: t.rawValue)
    }
}

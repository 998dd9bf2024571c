import ArgumentParser
import CSpanSightAlloc
import SpanSightCapture
import SpanSightEngine
#if canImport(Glibc)
import Glibc
#endif

/// A capture held in memory: every packet's bytes in one buffer, plus per-packet records.
struct LoadedCapture {
    var storage: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int] = []
    var wireLengths: [Int] = []
    var timestamps: [Int64] = []
    var linkType: LinkType = .ethernet
    var count: Int { offsets.count }

    static func load(_ path: String) throws(CaptureError) -> LoadedCapture {
        let h = try PcapHandle.openOffline(path: path)
        var c = LoadedCapture()
        c.linkType = h.linkType
        var p = CapturedPacket()
        loop: while true {
            switch h.next(&p) {
            case .packet:
                c.offsets.append(c.storage.count)
                c.lengths.append(p.bytes.count)
                c.wireLengths.append(p.wireLength)
                c.timestamps.append(p.timestampNanos)
                c.storage.append(contentsOf: p.bytes)
            case .end, .interrupted: break loop
            case .timeout: continue
            case .error(let m): throw CaptureError(.truncated, "\(path): \(m)")
            }
        }
        return c
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the pipeline on a capture against a bare libpcap read loop, in one run.",
        discussion: """
            Loads the capture into memory once and runs the whole pipeline over it several times \
            with event output built but discarded; in the same run times a bare libpcap read loop \
            (pcap_next_ex, touching every 8th byte) over the same file as the floor, and the full \
            read path (libpcap + pipeline). Heap allocations are counted by the tool's malloc wrappers.
            """)

    @Argument(help: "A pcap or pcapng file.")
    var file: String

    @Option(help: "Timed iterations of each measurement (the fastest is reported).")
    var iterations: Int = 5

    @Option(help: "Most flows tracked at once.")
    var maxFlows: Int = 262_144

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
    }

    func run() throws {
        let capture: LoadedCapture
        do { capture = try LoadedCapture.load(file) } catch { throw fail(error.description) }
        guard LinkKindCheck.supported(capture.linkType) else {
            throw fail("\(file): unsupported link type \(capture.linkType.name)")
        }
        let n = capture.count
        guard n > 0 else { throw fail("\(file): no packets") }
        let totalBytes = capture.wireLengths.reduce(0, +)

        var config = EngineConfig()
        config.maxFlows = maxFlows
        config.dissectors = Registry.all

        // 1. Floor: bare libpcap read loop over the file.
        var floorBest = Double.infinity
        var sink: UInt64 = 0
        for _ in 0..<iterations {
            let t0 = MonotonicClock.now()
            guard let h = try? PcapHandle.openOffline(path: file) else { throw fail("\(file): cannot reopen") }
            var p = CapturedPacket()
            while case .packet = h.next(&p) {
                var i = 0
                while i < p.bytes.count { sink &+= UInt64(p.bytes[i]); i += 8 }
            }
            floorBest = min(floorBest, MonotonicClock.now() - t0)
        }

        // 2. Pipeline over the packets in memory (no I/O), allocations counted.
        var pipeBest = Double.infinity
        var allocsPerPacket = 0.0
        var steadyAllocsPerPacket = 0.0
        var events: UInt64 = 0
        for it in 0..<iterations {
            let out = EventOutput.discarding()
            let engine = Engine(config: config, output: out)
            _ = engine.setLinkType(dlt: capture.linkType.rawValue)
            let a0 = CSpanSightAlloc_count()
            let t0 = MonotonicClock.now()
            var aHalf: UInt64 = 0
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
            events = out.eventCount
            pipeBest = min(pipeBest, t1 - t0)
            if it == 0 {
                allocsPerPacket = Double(a1 - a0) / Double(n)
                steadyAllocsPerPacket = Double(a1 - aHalf) / Double(n - n / 2)
            }
        }

        // 3. The full read path: libpcap from the file plus the pipeline.
        var fullBest = Double.infinity
        for _ in 0..<iterations {
            let out = EventOutput.discarding()
            let engine = Engine(config: config, output: out)
            let t0 = MonotonicClock.now()
            guard let h = try? PcapHandle.openOffline(path: file) else { throw fail("\(file): cannot reopen") }
            _ = engine.setLinkType(dlt: h.linkType.rawValue)
            var p = CapturedPacket()
            while case .packet = h.next(&p) {
                engine.process(p.bytes, wireLength: p.wireLength, timestampNanos: p.timestampNanos)
            }
            engine.finish()
            fullBest = min(fullBest, MonotonicClock.now() - t0)
        }

        func row(_ name: String, _ secs: Double) -> String {
            let pps = Double(n) / secs
            let gbps = Double(totalBytes) * 8 / secs / 1e9
            let ns = secs * 1e9 / Double(n)
            return "\(name + String(repeating: " ", count: max(0, 36 - name.count))) \(pad(Format.rate(pps), 9)) pkt/s  \(pad(fmt(gbps, 2), 7)) Gbit/s  \(pad(fmt(ns, 1), 8)) ns/pkt"
        }
        print("spansight bench: \(file): \(n) packets, \(totalBytes) bytes, best of \(iterations)")
        print(row("libpcap read loop (floor)", floorBest))
        print(row("pipeline, packets in memory", pipeBest))
        print(row("libpcap + pipeline (spansight read)", fullBest))
        print("ratio libpcap+pipeline / floor: \(fmt(fullBest / floorBest, 2))x")
        print("ratio pipeline-in-memory / floor: \(fmt(pipeBest / floorBest, 2))x")
        if CSpanSightAlloc_available() != 0 {
            print("heap allocations per packet: \(fmt(allocsPerPacket, 4)) overall, \(fmt(steadyAllocsPerPacket, 4)) in the second half (steady state)")
        } else {
            print("heap allocations per packet: not counted on this platform")
        }
        print("events built per run: \(events)")
        if sink == 42 { print("") }
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

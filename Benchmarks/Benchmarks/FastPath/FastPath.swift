// The fast path's allocation gate (issue 2): decode, flow lookup, in-order reassembly, the
// dissectors and event building make no heap allocation per packet in steady state. Each
// benchmark warms an engine up on a committed fixture's TCP conversations (flows created, tables
// grown, sessions set up), then measures packets of the same conversations going on
// (SteadyReplay). One iteration is 1,000 packets; `thresholds check` compares the p90 over the
// iterations of `mallocCountTotal` per iteration with Thresholds/*.p90.json (0, tolerance 0).
// Kept to small, explicitly typed statements: a benchmark closure made of big configuration
// literals once hung the type checker.
import Benchmark
import SpanSightDNP3
import SpanSightEngine
import SpanSightModbus

/// One benchmark: a fixture replayed through an engine set up one way.
struct FastPathCase {
    let name: String
    let fixture: String
    let dissectors: [DissectorEntry]
    let buildEvents: Bool

    /// The pcap in the repository's fixtures folder (this file is Benchmarks/Benchmarks/FastPath/).
    var path: String {
        var parts: [Substring] = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/") + "/fixtures/" + fixture
    }

    func makeReplay() throws -> SteadyReplay {
        var config = EngineConfig()
        config.dissectors = dissectors
        let output: EventOutput = buildEvents ? EventOutput.discarding() : EventOutput.disabled()
        let replay = try SteadyReplay(path: path, config: config, output: output, warmUpLaps: 3)
        if replay.disorderedSegments != 0 {
            throw ReplayError(description: "\(fixture): the warm-up laps were not in order")
        }
        return replay
    }

    func register(_ configuration: Benchmark.Configuration) {
        let setup: () throws -> SteadyReplay = makeReplay
        let measure: (Benchmark, SteadyReplay) -> Void = FastPathCase.measure
        Benchmark(name, configuration: configuration, closure: measure, setup: setup)
    }

    /// One iteration: `scalingFactor` packets, then a check that the replay stayed in order.
    static func measure(_ benchmark: Benchmark, _ replay: SteadyReplay) {
        let pdus: UInt64 = replay.pdus
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            replay.processNext()
        }
        benchmark.stopMeasurement()
        if replay.disorderedSegments != 0 {
            benchmark.error("\(benchmark.name): the replay went out of order, so this is not the steady state")
        }
        if !replay.engine.config.dissectors.isEmpty && replay.pdus == pdus {
            benchmark.error("\(benchmark.name): the dissectors parsed nothing")
        }
    }
}

enum FastPathBenchmarks {
    static let modbusCapture: String = "modbus-pymodbus.pcap"
    static let dnp3Capture: String = "dnp3-opendnp3.pcap"

    static func cases() -> [FastPathCase] {
        let none: [DissectorEntry] = []
        let ics: [DissectorEntry] = [Modbus.entry, DNP3.entry]
        var all: [FastPathCase] = []
        all.append(FastPathCase(name: "foundation-modbus", fixture: modbusCapture, dissectors: none, buildEvents: false))
        all.append(FastPathCase(name: "foundation-dnp3", fixture: dnp3Capture, dissectors: none, buildEvents: false))
        all.append(FastPathCase(name: "dissectors-modbus", fixture: modbusCapture, dissectors: ics, buildEvents: false))
        all.append(FastPathCase(name: "dissectors-dnp3", fixture: dnp3Capture, dissectors: ics, buildEvents: false))
        all.append(FastPathCase(name: "events-modbus", fixture: modbusCapture, dissectors: ics, buildEvents: true))
        all.append(FastPathCase(name: "events-dnp3", fixture: dnp3Capture, dissectors: ics, buildEvents: true))
        return all
    }

    /// Malloc count gated (tolerance 0 at p90); time and throughput reported, not gated.
    static func configuration() -> Benchmark.Configuration {
        let metrics: [BenchmarkMetric] = [.mallocCountTotal, .wallClock, .throughput]
        let exact = BenchmarkThresholds(absolute: [.p90: 0])
        var gates: [BenchmarkMetric: BenchmarkThresholds] = [:]
        gates[.mallocCountTotal] = exact
        var c = Benchmark.Configuration()
        c.metrics = metrics
        c.warmupIterations = 10
        c.scalingFactor = .kilo
        c.maxDuration = .seconds(2)
        c.maxIterations = 1_000
        c.thresholds = gates
        return c
    }
}

let benchmarks: @Sendable () -> Void = {
    let configuration: Benchmark.Configuration = FastPathBenchmarks.configuration()
    for c in FastPathBenchmarks.cases() {
        c.register(configuration)
    }
}

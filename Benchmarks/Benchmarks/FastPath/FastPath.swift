// The fast path's allocation gate (issue 2): decode, flow lookup, in-order reassembly, the
// dissectors and event building make no heap allocation per packet in steady state. Each
// benchmark warms an engine up on a committed fixture's TCP conversations (flows created, tables
// grown, sessions set up), then measures packets of the same conversations going on
// (SteadyReplay). One iteration is 1,000 packets; `thresholds check` compares the p90 over the
// iterations of `mallocCountTotal` per iteration with Thresholds/*.p90.json (tolerance 0): 0 for
// every benchmark but `events-hl7-pseudonyms` (Thresholds/README.md says why). A benchmark
// without its file there is not checked at all (the tool skips it silently).
// Kept to small, explicitly typed statements: a benchmark closure made of big configuration
// literals once hung the type checker.
import Benchmark
import SpanSightEngine
import SpanSightProtocols

/// One benchmark: a fixture replayed through an engine set up one way.
struct FastPathCase {
    let name: String
    let fixture: String
    let dissectors: [DissectorEntry]
    let buildEvents: Bool
    /// The dissector (`app_proto`) that must parse the fixture; nil: none (the foundation).
    var proto: String? = nil
    /// Anomalies each lap after the first raises about the lap before it (`LapWork.check`).
    var carriedOver: [String: UInt64] = [:]

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
        let replay = try SteadyReplay(path: path, config: config, output: output, warmUpLaps: 3, carriedOver: carriedOver)
        if replay.disorderedSegments != 0 {
            throw ReplayError(description: "\(fixture): the warm-up laps were not in order")
        }
        if let proto {
            guard let i = dissectors.firstIndex(where: { "\($0.name)" == proto }) else {
                throw ReplayError(description: "\(name): no dissector \(proto) among the registered ones")
            }
            if replay.engine.counters.pdusByDissector[i] == 0 {
                throw ReplayError(description: "\(name): the \(proto) dissector parsed nothing of \(fixture)")
            }
        }
        return replay
    }

    /// A replay that cannot measure the steady state stops the run: the framework reports a
    /// thrown setup error or `Benchmark.error` and goes on, and `thresholds check` then passes
    /// for want of a result; a crash of the benchmark process fails it.
    func register(_ configuration: Benchmark.Configuration) {
        let setup: () -> SteadyReplay = makeReplayOrStop
        let measure: (Benchmark, SteadyReplay) -> Void = FastPathCase.measure
        Benchmark(name, configuration: configuration, closure: measure, setup: setup)
    }

    func makeReplayOrStop() -> SteadyReplay {
        do {
            return try makeReplay()
        } catch {
            fatalError("\(name): \(error)")
        }
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
            fatalError("\(benchmark.name): the replay went out of order, so this is not the steady state")
        }
        if !replay.engine.config.dissectors.isEmpty && replay.pdus == pdus {
            fatalError("\(benchmark.name): the dissectors parsed nothing")
        }
    }
}

enum FastPathBenchmarks {
    /// One committed fixture per protocol, each of real traffic whose TCP data is in order, and
    /// the anomalies a lap raises about the lap before it.
    static let captures: [(proto: String, fixture: String, carriedOver: [String: UInt64])] = [
        ("modbus", "modbus-pymodbus.pcap", [:]),
        ("dnp3", "dnp3-opendnp3.pcap", [:]),
        ("hl7", "hl7-mllp-python-hl7.pcap", [:]),
        ("dicom", "dicom-pynetdicom.pcap", [:]),
        // The snap7 server answers the failed get-block-info (PDU reference 1024) with the
        // previous answer's reference (S7commFixtureTests.testSnap7Quirks): the request stays
        // open to the end of its lap and is logged unanswered when the next lap sends it again.
        ("s7comm", "s7comm-snap7.pcap", ["s7comm.unanswered_request": 1]),
    ]
    /// The protocols whose fixtures also measure the foundation alone.
    static let foundation: Set<String> = ["modbus", "dnp3"]

    static func cases() -> [FastPathCase] {
        let none: [DissectorEntry] = []
        let registered: [DissectorEntry] = Registry.all
        var all: [FastPathCase] = []
        for c in captures where foundation.contains(c.proto) {
            all.append(FastPathCase(name: "foundation-" + c.proto, fixture: c.fixture, dissectors: none, buildEvents: false))
        }
        for c in captures {
            all.append(FastPathCase(name: "dissectors-" + c.proto, fixture: c.fixture, dissectors: registered, buildEvents: false,
                                    proto: c.proto, carriedOver: c.carriedOver))
        }
        for c in captures {
            all.append(FastPathCase(name: "events-" + c.proto, fixture: c.fixture, dissectors: registered, buildEvents: true,
                                    proto: c.proto, carriedOver: c.carriedOver))
        }
        // `--pseudonym-key`: HL7's patient identifiers written as keyed pseudonyms (HMAC-SHA256).
        // Not 0: swift-crypto's SHA-256 allocates its state twice per pseudonym on Linux, 430 per
        // 1,000 packets of this fixture (Thresholds/README.md).
        let key: [UInt8] = Array("allocation-gate-pseudonym-key".utf8)
        let keyed: [DissectorEntry] = Registry.entries(DissectorOptions(pseudonymKey: key))
        all.append(FastPathCase(name: "events-hl7-pseudonyms", fixture: "hl7-mllp-python-hl7.pcap", dissectors: keyed,
                                buildEvents: true, proto: "hl7"))
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

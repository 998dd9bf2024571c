import ArgumentParser
import SpanSightCapture
import SpanSightEngine
import SpanSightProtocols
#if canImport(Glibc)
import Glibc
#endif

/// Writes large synthetic captures for benchmarks (never for correctness: fixtures come from
/// real implementations). Conversations are long-lived TCP connections with consistent
/// sequence numbers, so the pipeline's reassembly and dissectors see realistic streams.
struct Synth: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic ICS/IoMT benchmark capture (protocol mix and size as options).")

    @Argument(help: "Output pcap file.")
    var output: String

    @Option(help: "Number of packets to write.")
    var packets: Int = 1_000_000

    @Option(help: "Protocol mix as weights, NAME=WEIGHT,... (NAME a registered protocol or other).")
    var mix: String = Synth.defaultMix

    /// The registered protocols with synthetic traffic, by name (their order in captures).
    static var protocols: [ProtocolModule] {
        Registry.modules.filter { $0.synthetic != nil }.sorted { "\($0.name)" < "\($1.name)" }
    }
    /// Each protocol at its default weight, then other traffic (HTTP) at 5.
    static var defaultMix: String {
        (Registry.modules.compactMap { m in m.synthetic.map { "\(m.name)=\($0.defaultWeight)" } } + ["other=5"]).joined(separator: ",")
    }

    @Option(help: "TCP connections per protocol.")
    var connections: Int = 32

    @Option(help: "Random seed.")
    var seed: UInt64 = 7

    func validate() throws {
        // Packet times start in 2025 and advance by under a millisecond: a billion packets
        // keep them within the 32-bit seconds of classic pcap.
        try OptionBounds.check("packets", packets, 1...1_000_000_000)
        guard connections > 0 && connections < 60_000 else { throw ValidationError("--connections must be 1..59999") }
        _ = try parseMix()
        try validateRunFiles()
    }

    var runFiles: RunFiles {
        var f = RunFiles()
        f.output("output pcap", output)
        return f
    }

    func parseMix() throws -> [(String, Int)] {
        var out: [(String, Int)] = []
        let names = Synth.protocols.map { "\($0.name)" } + ["other"]
        for part in mix.split(separator: ",") {
            let kv = part.split(separator: "=")
            guard kv.count == 2, let w = Int(kv[1]), w >= 0, names.contains(String(kv[0])) else {
                throw ValidationError("bad --mix entry '\(PrintableText.escaped(String(part), keepingUnicode: true))': use NAME=WEIGHT with NAME in \(names.joined(separator: ", "))")
            }
            out.append((String(kv[0]), w))
        }
        guard out.contains(where: { $0.1 > 0 }) else { throw ValidationError("--mix has no positive weight") }
        return out
    }

    func run() throws {
        try runFiles.checkWritable()
        let weights = try parseMix()
        let file: CheckedFile
        do { file = try CheckedFile(path: output, label: "cannot write \(output)", mode: .replace) } catch { throw fail(error.description) }
        let w = PcapWriter(linkType: 1, precision: .micro) { file.write($0) }
        var gen = SynthGenerator(seed: seed, connections: connections, weights: weights)
        var written = 0
        while written < packets && file.failure == nil {
            let n = gen.next(into: w, limit: packets - written)
            if n == 0 { break }
            written += n
        }
        w.flush()
        do { try file.close() } catch { throw fail(error.description) }
        Stderr.line("spansight synth: wrote \(written) packets to \(output)")
    }
}

struct SynthGenerator {
    struct Conn {
        var proto: String
        var clientIP: UInt32
        var serverIP: UInt32
        var clientPort: UInt16
        var serverPort: UInt16
        var clientSeq: UInt32
        var serverSeq: UInt32
        var started = false
        var counter: UInt16 = 0
    }

    var rng: SynthRandom
    var conns: [Conn] = []
    var byProto: [String: [Int]] = [:]
    var weights: [(String, Int)]
    var totalWeight: Int
    var timeMicros: Int64 = 1_764_158_400_000_000

    init(seed: UInt64, connections: Int, weights: [(String, Int)]) {
        rng = SynthRandom(seed: seed)
        self.weights = weights.filter { $0.1 > 0 }
        totalWeight = self.weights.reduce(0) { $0 + $1.1 }
        let ports: [(String, UInt16)] = Synth.protocols.map { ("\($0.name)", $0.synthetic!.serverPort) } + [("other", 8080)]
        for (name, _) in self.weights {
            guard let index = ports.firstIndex(where: { $0.0 == name }) else { continue }
            let port = ports[index].1
            for i in 0..<connections {
                let c = Conn(proto: name, clientIP: 0x0A4D_0100 | UInt32(i % 200 + 10),
                             serverIP: 0x0A4D_0000 | UInt32(index * 10 + i % 8 + 1),
                             clientPort: UInt16(40000 + i), serverPort: port,
                             clientSeq: UInt32(truncatingIfNeeded: (i + 1) &* 7919 &* 1_000_003),
                             serverSeq: UInt32(truncatingIfNeeded: (i + 1) &* 104_729 &* 999_983))
                byProto[name, default: []].append(conns.count)
                conns.append(c)
            }
        }
    }

    mutating func random() -> UInt64 { rng.next() }

    /// Writes one exchange (at most `limit` packets); returns the packets written.
    mutating func next(into w: PcapWriter, limit: Int) -> Int {
        var pick = Int(random() % UInt64(totalWeight))
        var proto = weights[0].0
        for (name, weight) in weights {
            if pick < weight { proto = name; break }
            pick -= weight
        }
        guard let list = byProto[proto], !list.isEmpty else { return 0 }
        let ci = list[Int(random() % UInt64(list.count))]
        var c = conns[ci]
        var pkts: [(Bool, UInt8, [UInt8])] = []   // (fromClient, flags, payload)
        if !c.started {
            pkts.append((true, 0x02, []))
            pkts.append((false, 0x12, []))
            pkts.append((true, 0x10, []))
        }
        c.counter &+= 1
        if let traffic = Synth.protocols.first(where: { "\($0.name)" == proto })?.synthetic {
            for (fromClient, payload) in traffic.exchange(c.counter, &rng) { pkts.append((fromClient, 0x18, payload)) }
        } else {
            var body = Array("GET /status HTTP/1.1\r\nHost: historian\r\n\r\n".utf8)
            pkts.append((true, 0x18, body))
            body = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
            pkts.append((false, 0x18, body))
        }
        var n = 0
        for (fromClient, flags, payload) in pkts where n < limit {
            timeMicros += Int64(50 + random() % 400)
            let frame = Self.frame(c, fromClient: fromClient, flags: flags, payload: payload)
            w.packet(frame, nanos: timeMicros * 1000)
            let adv = UInt32(payload.count) + (flags & 0x02 != 0 ? 1 : 0)
            if fromClient { c.clientSeq &+= adv } else { c.serverSeq &+= adv }
            n += 1
        }
        c.started = true
        conns[ci] = c
        return n
    }

    static func frame(_ c: Conn, fromClient: Bool, flags: UInt8, payload: [UInt8]) -> [UInt8] {
        let sip = fromClient ? c.clientIP : c.serverIP
        let dip = fromClient ? c.serverIP : c.clientIP
        let sp = fromClient ? c.clientPort : c.serverPort
        let dp = fromClient ? c.serverPort : c.clientPort
        let seq = fromClient ? c.clientSeq : c.serverSeq
        let ack = flags == 0x02 ? 0 : (fromClient ? c.serverSeq : c.clientSeq)
        var f: [UInt8] = [0x00, 0x1D, 0x9C, 0, UInt8(dip >> 8 & 0xFF), UInt8(dip & 0xFF),
                          0x00, 0x1D, 0x9C, 0, UInt8(sip >> 8 & 0xFF), UInt8(sip & 0xFF), 0x08, 0x00]
        let total = 20 + 20 + payload.count
        var ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0]
        for v in [sip, dip] { ip += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        var sum: UInt32 = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let cs = ~UInt16(sum)
        ip[10] = UInt8(cs >> 8); ip[11] = UInt8(cs & 0xFF)
        f += ip
        f += [UInt8(sp >> 8), UInt8(sp & 0xFF), UInt8(dp >> 8), UInt8(dp & 0xFF)]
        f += [UInt8(seq >> 24), UInt8(seq >> 16 & 0xFF), UInt8(seq >> 8 & 0xFF), UInt8(seq & 0xFF)]
        f += [UInt8(ack >> 24), UInt8(ack >> 16 & 0xFF), UInt8(ack >> 8 & 0xFF), UInt8(ack & 0xFF)]
        f += [0x50, flags == 0x02 || flags == 0x12 ? flags : flags | 0x10, 0x20, 0x00, 0, 0, 0, 0]
        f += payload
        return f
    }
}

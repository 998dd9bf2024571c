import ArgumentParser
import SpanSightDNP3
import SpanSightEngine
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

    @Option(help: "Protocol mix as weights, e.g. modbus=60,dnp3=20,hl7=10,dicom=5,other=5.")
    var mix: String = "modbus=60,dnp3=20,hl7=10,dicom=5,other=5"

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
        for part in mix.split(separator: ",") {
            let kv = part.split(separator: "=")
            guard kv.count == 2, let w = Int(kv[1]), w >= 0,
                  ["modbus", "dnp3", "hl7", "dicom", "other"].contains(String(kv[0])) else {
                throw ValidationError("bad --mix entry '\(part)': use NAME=WEIGHT with NAME in modbus, dnp3, hl7, dicom, other")
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
        var w = PcapWriter(file: file)
        w.header()
        var gen = SynthGenerator(seed: seed, connections: connections, weights: weights)
        var written = 0
        while written < packets && file.failure == nil {
            let n = gen.next(into: &w, limit: packets - written)
            if n == 0 { break }
            written += n
        }
        w.flush()
        do { try file.close() } catch { throw fail(error.description) }
        Stderr.line("spansight synth: wrote \(written) packets to \(output)")
    }
}

/// Classic pcap writer (microsecond timestamps, Ethernet).
struct PcapWriter {
    let file: CheckedFile
    var buffer: [UInt8] = []

    init(file: CheckedFile) {
        self.file = file
        buffer.reserveCapacity(1 << 20)
    }

    mutating func header() {
        le32(0xA1B2_C3D4); le16(2); le16(4); le32(0); le32(0); le32(262_144); le32(1)
    }

    mutating func packet(tsMicros: Int64, _ frame: [UInt8]) {
        le32(UInt32(tsMicros / 1_000_000)); le32(UInt32(tsMicros % 1_000_000))
        le32(UInt32(frame.count)); le32(UInt32(frame.count))
        buffer.append(contentsOf: frame)
        if buffer.count > 1 << 20 { flush() }
    }

    mutating func flush() {
        file.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func le32(_ v: UInt32) { for i in 0..<4 { buffer.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    private mutating func le16(_ v: UInt16) { buffer.append(UInt8(v & 0xFF)); buffer.append(UInt8(v >> 8)) }
}

/// DNP3 link frames for synthetic traffic (CRCs from the dissector's own DNP3CRC).
enum SynthDNP3 {
    /// A whole link frame: header + CRC, then 16-byte blocks each with a CRC.
    static func frame(dst: UInt16, src: UInt16, control: UInt8, userData: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [0x05, 0x64, UInt8(5 + userData.count), control,
                          UInt8(dst & 0xFF), UInt8(dst >> 8), UInt8(src & 0xFF), UInt8(src >> 8)]
        let c = DNP3CRC.crc(h)
        h += [UInt8(c & 0xFF), UInt8(c >> 8)]
        var i = 0
        while i < userData.count {
            let block = userData[i..<min(i + 16, userData.count)]
            h += block
            let bc = DNP3CRC.crc(Array(block))
            h += [UInt8(bc & 0xFF), UInt8(bc >> 8)]
            i += 16
        }
        return h
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

    var rng: UInt64
    var conns: [Conn] = []
    var byProto: [String: [Int]] = [:]
    var weights: [(String, Int)]
    var totalWeight: Int
    var timeMicros: Int64 = 1_764_158_400_000_000

    init(seed: UInt64, connections: Int, weights: [(String, Int)]) {
        rng = seed == 0 ? 0x9E37_79B9 : seed
        self.weights = weights.filter { $0.1 > 0 }
        totalWeight = self.weights.reduce(0) { $0 + $1.1 }
        let ports: [(String, UInt16)] = [("dicom", 104), ("dnp3", 20000), ("hl7", 2575), ("modbus", 502), ("other", 8080)]
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

    mutating func random() -> UInt64 {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
        return rng
    }

    /// Writes one exchange (at most `limit` packets); returns the packets written.
    mutating func next(into w: inout PcapWriter, limit: Int) -> Int {
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
        switch proto {
        case "modbus":
            let tid = c.counter
            let addr = UInt16(random() % 1000)
            let req: [UInt8] = [UInt8(tid >> 8), UInt8(tid & 0xFF), 0, 0, 0, 6, 1, 3, UInt8(addr >> 8), UInt8(addr & 0xFF), 0, 10]
            var rsp: [UInt8] = [UInt8(tid >> 8), UInt8(tid & 0xFF), 0, 0, 0, 23, 1, 3, 20]
            for _ in 0..<20 { rsp.append(UInt8(truncatingIfNeeded: random())) }
            pkts.append((true, 0x18, req))
            pkts.append((false, 0x18, rsp))
        case "dnp3":
            let seq = UInt8(c.counter & 0x0F)
            let req = SynthDNP3.frame(dst: 10, src: 1, control: 0xC4,
                                    userData: [0xC0 | (seq & 0x3F), 0xC0 | seq, 0x01, 0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06, 0x3C, 0x01, 0x06])
            var body: [UInt8] = [0xC0 | (seq & 0x3F), 0xC0 | seq, 0x81, 0x00, 0x00, 0x1E, 0x01, 0x00, 0x00, 0x09]
            for _ in 0..<10 { body += [0x01, UInt8(truncatingIfNeeded: random()), 0x00, 0x00, 0x00] }
            let rsp = SynthDNP3.frame(dst: 1, src: 10, control: 0x44, userData: body)
            pkts.append((true, 0x18, req))
            pkts.append((false, 0x18, rsp))
        case "hl7":
            let id = String(c.counter)
            let msg = "\u{0B}MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20261126120000||ADT^A01|MSG\(id)|P|2.5\rEVN|A01|20261126120000\rPID|1||123456^^^HOSP^MR||DOE^JANE||19700101|F\rPV1|1|I|ICU^1^1\r\u{1C}\r"
            let ack = "\u{0B}MSH|^~\\&|LAB|HOSP|EPIC|HOSP|20261126120001||ACK^A01|ACK\(id)|P|2.5\rMSA|AA|MSG\(id)\r\u{1C}\r"
            pkts.append((true, 0x18, Array(msg.utf8)))
            pkts.append((false, 0x18, Array(ack.utf8)))
        case "dicom":
            pkts.append((true, 0x18, Self.associateRQ()))
            pkts.append((false, 0x18, Self.associateAC()))
            pkts.append((true, 0x18, [0x05, 0x00, 0, 0, 0, 4, 0, 0, 0, 0]))
            pkts.append((false, 0x18, [0x06, 0x00, 0, 0, 0, 4, 0, 0, 0, 0]))
        default:
            var body = Array("GET /status HTTP/1.1\r\nHost: historian\r\n\r\n".utf8)
            pkts.append((true, 0x18, body))
            body = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
            pkts.append((false, 0x18, body))
        }
        var n = 0
        for (fromClient, flags, payload) in pkts where n < limit {
            timeMicros += Int64(50 + random() % 400)
            let frame = Self.frame(c, fromClient: fromClient, flags: flags, payload: payload)
            w.packet(tsMicros: timeMicros, frame)
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

    static func item(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        [type, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    static func ae(_ s: String) -> [UInt8] {
        Array((s + String(repeating: " ", count: 16 - s.count)).utf8)
    }

    static func associateRQ() -> [UInt8] {
        var body: [UInt8] = [0x00, 0x01, 0x00, 0x00] + ae("PACS") + ae("MODALITY1") + [UInt8](repeating: 0, count: 32)
        body += item(0x10, Array("1.2.840.10008.3.1.1.1".utf8))
        body += item(0x20, [0x01, 0, 0, 0] + item(0x30, Array("1.2.840.10008.1.1".utf8)) + item(0x40, Array("1.2.840.10008.1.2".utf8)))
        body += item(0x50, item(0x51, [0, 0, 0x40, 0]) + item(0x52, Array("1.2.826.0.1.3680043.9.3811.2.0".utf8)))
        return [0x01, 0x00, 0, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    static func associateAC() -> [UInt8] {
        var body: [UInt8] = [0x00, 0x01, 0x00, 0x00] + ae("PACS") + ae("MODALITY1") + [UInt8](repeating: 0, count: 32)
        body += item(0x10, Array("1.2.840.10008.3.1.1.1".utf8))
        body += item(0x21, [0x01, 0, 0, 0] + item(0x40, Array("1.2.840.10008.1.2".utf8)))
        body += item(0x50, item(0x51, [0, 0, 0x40, 0]))
        return [0x02, 0x00, 0, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }
}

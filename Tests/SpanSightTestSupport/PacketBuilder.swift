import SpanSightCapture
import SpanSightWire

/// Builds Ethernet/IPv4|IPv6/TCP|UDP frames for tests (checksums are not needed by SpanSight
/// and left zero). Every builder says exactly which bytes it makes, so tests can state their
/// vectors' origin.
public enum PacketBuilder {
    public static func mac(_ last: UInt8) -> [UInt8] { [0x02, 0x00, 0x00, 0x00, 0x00, last] }

    public static func ipv4(_ text: String) -> [UInt8] {
        text.split(separator: ".").map { UInt8($0) ?? 0 }
    }

    /// Ethernet II header, optionally with 802.1Q/802.1ad tags (outermost first).
    public static func ethernet(src: UInt8 = 1, dst: UInt8 = 2, vlans: [(tpid: UInt16, id: UInt16)] = [], etherType: UInt16 = 0x0800) -> [UInt8] {
        var b = mac(dst) + mac(src)
        for v in vlans { b += be16(v.tpid) + be16(v.id) }
        b += be16(etherType)
        return b
    }

    public static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    public static func ipv4Header(src: String, dst: String, proto: UInt8, payloadLength: Int, ttl: UInt8 = 64, options: [UInt8] = [], flagsFragment: UInt16 = 0x4000) -> [UInt8] {
        let ihl = 20 + options.count
        var b: [UInt8] = [UInt8(0x40 | (ihl / 4)), 0] + be16(UInt16(ihl + payloadLength)) + [0, 1] + be16(flagsFragment) + [ttl, proto, 0, 0]
        b += ipv4(src) + ipv4(dst) + options
        return b
    }

    public static func tcpHeader(srcPort: UInt16, dstPort: UInt16, seq: UInt32, ack: UInt32, flags: UInt8, window: UInt16 = 8192, options: [UInt8] = []) -> [UInt8] {
        let hl = 20 + options.count
        return be16(srcPort) + be16(dstPort) + be32(seq) + be32(ack) + [UInt8(hl / 4) << 4, flags] + be16(window) + [0, 0, 0, 0] + options
    }

    public static func udpHeader(srcPort: UInt16, dstPort: UInt16, payloadLength: Int) -> [UInt8] {
        be16(srcPort) + be16(dstPort) + be16(UInt16(8 + payloadLength)) + [0, 0]
    }

    /// A whole Ethernet/IPv4/TCP frame.
    public static func tcp(src: String, sport: UInt16, dst: String, dport: UInt16, seq: UInt32, ack: UInt32 = 0,
                           flags: UInt8, payload: [UInt8] = [], options: [UInt8] = [], vlans: [(tpid: UInt16, id: UInt16)] = []) -> [UInt8] {
        let t = tcpHeader(srcPort: sport, dstPort: dport, seq: seq, ack: ack, flags: flags, options: options) + payload
        return ethernet(vlans: vlans) + ipv4Header(src: src, dst: dst, proto: 6, payloadLength: t.count) + t
    }

    /// A whole Ethernet/IPv4/UDP frame.
    public static func udp(src: String, sport: UInt16, dst: String, dport: UInt16, payload: [UInt8]) -> [UInt8] {
        ethernet() + ipv4Header(src: src, dst: dst, proto: 17, payloadLength: 8 + payload.count)
            + udpHeader(srcPort: sport, dstPort: dport, payloadLength: payload.count) + payload
    }

    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ackFlag: UInt8 = 0x10
}

/// Classic pcap files for tests (microsecond timestamps), through the capture layer's writer.
public enum PcapFileWriter {
    public static func data(linkType: UInt32 = 1, packets: [(micros: Int64, bytes: [UInt8])], snaplen: UInt32 = 262_144, wireLengths: [Int]? = nil) -> [UInt8] {
        var records: [(nanos: Int64, bytes: [UInt8], wireLength: Int)] = []
        for (i, p) in packets.enumerated() { records.append((p.micros * 1000, p.bytes, wireLengths?[i] ?? p.bytes.count)) }
        return PcapWriter.data(linkType: linkType, snaplen: snaplen, precision: .micro, packets: records)
    }
}

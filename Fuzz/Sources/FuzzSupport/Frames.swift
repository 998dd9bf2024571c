import SpanSightWire

/// Builds Ethernet/IPv4|IPv6/TCP|UDP frames into one reused buffer (checksums left zero:
/// SpanSight does not check them).
struct FrameBuilder {
    var ipv6: Bool
    var clientAddress: [UInt8]
    var serverAddress: [UInt8]
    private(set) var frame: [UInt8] = []

    init(ipv6: Bool) {
        self.ipv6 = ipv6
        // Documentation addresses (RFC 5737, RFC 3849): the frames exist only in memory.
        clientAddress = ipv6 ? [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1] : [192, 0, 2, 1]
        serverAddress = ipv6 ? [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [2] : [192, 0, 2, 2]
        frame.reserveCapacity(1 << 16 + 128)
    }

    /// The largest payload one frame carries (the IP length fields are 16 bits).
    static let maxPayload = 65_535 - 60 - 40

    /// Starts a frame from `fromClient`'s side: Ethernet and IP headers for `transportLength`
    /// bytes of `proto` (6 TCP, 17 UDP).
    private mutating func begin(fromClient: Bool, proto: UInt8, transportLength: Int) {
        frame.removeAll(keepingCapacity: true)
        let (srcMAC, dstMAC): (UInt8, UInt8) = fromClient ? (1, 2) : (2, 1)
        frame += [0x02, 0, 0, 0, 0, dstMAC, 0x02, 0, 0, 0, 0, srcMAC]
        let (src, dst) = fromClient ? (clientAddress, serverAddress) : (serverAddress, clientAddress)
        if ipv6 {
            frame += [0x86, 0xDD, 0x60, 0, 0, 0]
            be16(transportLength)
            frame += [proto, 64]
        } else {
            frame += [0x08, 0x00, 0x45, 0]
            be16(20 + transportLength)
            frame += [0, 1, 0x40, 0, 64, proto, 0, 0]
        }
        frame += src
        frame += dst
    }

    mutating func tcp(fromClient: Bool, srcPort: UInt16, dstPort: UInt16, seq: UInt32, ack: UInt32,
                      flags: UInt8, payload: ByteView) -> [UInt8] {
        begin(fromClient: fromClient, proto: 6, transportLength: 20 + payload.count)
        be16(Int(srcPort)); be16(Int(dstPort)); be32(seq); be32(ack)
        frame += [0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        payload.withBytes { frame.append(contentsOf: $0) }
        return frame
    }

    mutating func udp(fromClient: Bool, srcPort: UInt16, dstPort: UInt16, payload: ByteView) -> [UInt8] {
        begin(fromClient: fromClient, proto: 17, transportLength: 8 + payload.count)
        be16(Int(srcPort)); be16(Int(dstPort)); be16(8 + payload.count)
        frame += [0, 0]
        payload.withBytes { frame.append(contentsOf: $0) }
        return frame
    }

    private mutating func be16(_ v: Int) { frame += [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    private mutating func be32(_ v: UInt32) {
        frame += [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16),
                  UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }

    static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10
}

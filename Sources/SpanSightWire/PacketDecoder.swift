/// The link-layer framings SpanSight decodes.
public enum LinkKind: Sendable, Equatable {
    case ethernet, linuxSLL, linuxSLL2, nullHostOrder, loopNetworkOrder, raw, rawIPv4, rawIPv6

    /// Maps a libpcap DLT value; nil for a link type SpanSight does not decode.
    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        case 0: self = .nullHostOrder
        case 108: self = .loopNetworkOrder
        case 12, 14, 101: self = .raw
        case 228: self = .rawIPv4
        case 229: self = .rawIPv6
        default: return nil
        }
    }
}

/// What one packet decoded to. The decoder fills a value the caller allocated once and reuses
/// (gopacket's DecodingLayerParser idea): no allocation per packet. `payload` borrows the
/// packet's bytes and is valid only while the packet is.
public struct DecodedPacket {
    public enum Outcome: UInt8, Sendable {
        /// TCP or UDP header decoded; ports, payload and (TCP) sequence fields are set.
        case transport
        /// ICMP or ICMPv6.
        case icmp
        /// IP with another upper protocol (or ESP).
        case otherIP
        /// An IP fragment that is not the first one, or a first fragment (not reassembled).
        case fragment
        /// Not IP (ARP, LLDP, STP, ...).
        case nonIP
        /// A header was shorter than it claims or impossible; `error` says which.
        case error
    }

    public var outcome: Outcome = .nonIP
    public var error: WireError? = nil
    /// TCP options were malformed (counted as a decode error; the segment is still used).
    public var optionsError: WireError? = nil

    public var hasMAC = false
    public var sourceMAC: UInt64 = 0
    public var destinationMAC: UInt64 = 0
    public var vlanCount: UInt8 = 0
    public var vlanOuter: UInt16 = 0
    public var vlanInner: UInt16 = 0
    public var etherType: UInt16 = 0

    public var ipVersion: UInt8 = 0
    public var source = IPAddress.zero
    public var destination = IPAddress.zero
    public var ttl: UInt8 = 0
    public var ipID: UInt16 = 0
    public var dontFragment = false
    public var ipProto: UInt8 = 0
    /// The IP datagram was cut by the snaplen.
    public var isCut = false
    /// With `isCut`: bytes of the IP datagram past the cut (its total length less the bytes
    /// captured; link padding and a trailing FCS, which a wire length also counts, are not
    /// part of it).
    public var cutBytes = 0

    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    public var tcpSequence: UInt32 = 0
    public var tcpAcknowledgment: UInt32 = 0
    public var tcpFlags = TCPFlags()
    public var tcpWindow: UInt16 = 0
    public var tcpHeaderLength: Int = 0
    public var tcpOptions = TCPOptionSummary()
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0

    /// TCP/UDP payload (or the IP payload for other protocols).
    public var payload = ByteView.empty

    public init() {}
}

/// Decodes link, IP and transport headers into a reused `DecodedPacket`.
public struct PacketDecoder: Sendable {
    public let link: LinkKind
    public init(link: LinkKind) { self.link = link }

    /// - Parameters:
    ///   - bytes: the captured bytes.
    ///   - wireLength: the packet's length on the wire (larger than `bytes.count` when the
    ///     snaplen cut it).
    @inlinable
    public func decode(_ bytes: ByteView, wireLength: Int, into p: inout DecodedPacket) {
        p.error = nil
        p.optionsError = nil
        p.hasMAC = false
        p.vlanCount = 0
        p.vlanOuter = 0
        p.vlanInner = 0
        p.ipVersion = 0
        p.isCut = wireLength > bytes.count
        p.payload = .empty
        do throws(WireError) {
            switch link {
            case .ethernet:
                let eth = try EthernetHeader(validating: bytes)
                p.hasMAC = true
                p.sourceMAC = eth.source
                p.destinationMAC = eth.destination
                try decodeEtherType(eth.etherType, eth.payload, into: &p)
            case .linuxSLL:
                let sll = try LinuxSLLHeader(validating: bytes)
                if let mac = sll.sourceMAC { p.hasMAC = true; p.sourceMAC = mac; p.destinationMAC = 0 }
                try decodeEtherType(sll.protocolType, sll.payload, into: &p)
            case .linuxSLL2:
                let sll = try LinuxSLL2Header(validating: bytes)
                if let mac = sll.sourceMAC { p.hasMAC = true; p.sourceMAC = mac; p.destinationMAC = 0 }
                try decodeEtherType(sll.protocolType, sll.payload, into: &p)
            case .nullHostOrder, .loopNetworkOrder:
                let h = try NullHeader(validating: bytes, networkOrder: link == .loopNetworkOrder)
                if h.isIPv4 { try decodeIPv4(h.payload, into: &p) }
                else if h.isIPv6 { try decodeIPv6(h.payload, into: &p) }
                else { p.outcome = .nonIP }
            case .raw:
                guard let first = bytes.u8(at: 0) else { throw .truncated(.link, needed: 1, available: 0) }
                switch first >> 4 {
                case 4: try decodeIPv4(bytes, into: &p)
                case 6: try decodeIPv6(bytes, into: &p)
                default: throw .badVersion(.link, Int(first >> 4))
                }
            case .rawIPv4:
                try decodeIPv4(bytes, into: &p)
            case .rawIPv6:
                try decodeIPv6(bytes, into: &p)
            }
        } catch {
            p.error = error
            p.outcome = .error
        }
    }

    @inlinable @inline(__always)
    func decodeEtherType(_ type: UInt16, _ rest: ByteView, into p: inout DecodedPacket) throws(WireError) {
        var type = type
        var rest = rest
        // 802.1Q, 802.1ad and the legacy 0x9100 QinQ tag, stacked; the first two ids are kept.
        while type == 0x8100 || type == 0x88A8 || type == 0x9100 {
            let tag = try VLANTag(validating: rest)
            if p.vlanCount == 0 { p.vlanOuter = tag.vlanID } else if p.vlanCount == 1 { p.vlanInner = tag.vlanID }
            p.vlanCount &+= 1
            type = tag.etherType
            rest = tag.payload
            if p.vlanCount > 8 { throw .badLength(.vlan, claimed: Int(p.vlanCount), available: rest.count) }
        }
        p.etherType = type
        switch type {
        case 0x0800: try decodeIPv4(rest, into: &p)
        case 0x86DD: try decodeIPv6(rest, into: &p)
        default: p.outcome = .nonIP
        }
    }

    @inlinable @inline(__always)
    func decodeIPv4(_ bytes: ByteView, into p: inout DecodedPacket) throws(WireError) {
        let ip = try IPv4Header(validating: bytes, wireTruncated: p.isCut)
        p.ipVersion = 4
        p.source = ip.source
        p.destination = ip.destination
        p.ttl = ip.ttl
        p.ipID = ip.identification
        p.dontFragment = ip.dontFragment
        p.ipProto = ip.proto
        p.isCut = ip.isCut
        if ip.isCut { p.cutBytes = ip.totalLength - bytes.count }
        if ip.isFragment {
            p.outcome = .fragment
            p.payload = ip.payload
            return
        }
        try decodeTransport(ip.proto, ip.payload, into: &p)
    }

    @inlinable
    func decodeIPv6(_ bytes: ByteView, into p: inout DecodedPacket) throws(WireError) {
        let ip = try IPv6Header(validating: bytes, wireTruncated: p.isCut)
        p.ipVersion = 6
        p.source = ip.source
        p.destination = ip.destination
        p.ttl = ip.hopLimit
        p.ipID = 0
        p.dontFragment = false
        p.isCut = ip.isCut
        if ip.isCut { p.cutBytes = IPv6Header.Field.headerLength + Int(ip.bytes._u16(IPv6Header.Field.payloadLength)) - bytes.count }
        let upper = try ip.upperLayer()
        p.ipProto = upper.proto
        if upper.isFragment {
            p.outcome = .fragment
            p.payload = upper.payload
            return
        }
        try decodeTransport(upper.proto, upper.payload, into: &p)
    }

    @inlinable @inline(__always)
    func decodeTransport(_ proto: UInt8, _ bytes: ByteView, into p: inout DecodedPacket) throws(WireError) {
        switch proto {
        case 6:
            let tcp = try TCPHeader(validating: bytes)
            p.sourcePort = tcp.sourcePort
            p.destinationPort = tcp.destinationPort
            p.tcpSequence = tcp.sequence
            p.tcpAcknowledgment = tcp.acknowledgment
            p.tcpFlags = tcp.flags
            p.tcpWindow = tcp.window
            p.tcpHeaderLength = tcp.headerLength
            if tcp.headerLength > TCPHeader.Field.minimumLength {
                do throws(WireError) { try tcp.parseOptions(into: &p.tcpOptions) } catch { p.optionsError = error }
            } else {
                p.tcpOptions = TCPOptionSummary()
            }
            p.payload = tcp.payload
            p.outcome = .transport
        case 17:
            let udp = try UDPHeader(validating: bytes, wireTruncated: p.isCut)
            p.sourcePort = udp.sourcePort
            p.destinationPort = udp.destinationPort
            p.tcpFlags = TCPFlags()
            p.payload = udp.payload
            p.outcome = .transport
        case 1, 58:
            let icmp = try ICMPHeader(validating: bytes)
            p.icmpType = icmp.type
            p.icmpCode = icmp.code
            p.payload = bytes
            p.outcome = .icmp
        default:
            p.payload = bytes
            p.outcome = .otherIP
        }
    }
}

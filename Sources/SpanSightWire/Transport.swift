/// TCP flag bits (low byte of the flags field, plus ECE/CWR).
public struct TCPFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    @inlinable public static var fin: TCPFlags { TCPFlags(rawValue: 0x01) }
    @inlinable public static var syn: TCPFlags { TCPFlags(rawValue: 0x02) }
    @inlinable public static var rst: TCPFlags { TCPFlags(rawValue: 0x04) }
    @inlinable public static var psh: TCPFlags { TCPFlags(rawValue: 0x08) }
    @inlinable public static var ack: TCPFlags { TCPFlags(rawValue: 0x10) }
    @inlinable public static var urg: TCPFlags { TCPFlags(rawValue: 0x20) }
    @inlinable public static var ece: TCPFlags { TCPFlags(rawValue: 0x40) }
    @inlinable public static var cwr: TCPFlags { TCPFlags(rawValue: 0x80) }
}

/// What the TCP options of one segment said (RFC 9293, 7323, 2018).
public struct TCPOptionSummary: Equatable, Sendable {
    public var mss: UInt16 = 0
    public var windowScale: UInt8 = 0
    public var hasWindowScale = false
    public var sackPermitted = false
    public var hasTimestamps = false
    public var tsVal: UInt32 = 0
    public var tsEcr: UInt32 = 0
    public var sackBlocks: UInt8 = 0
    /// Option kinds in order, packed 4 bits each (kind 0..14; 15 = other), up to 16 options:
    /// the option layout a stack fingerprint needs.
    public var layout: UInt64 = 0
    public var layoutCount: UInt8 = 0
    public var eolPadding = false
    public init() {}
}

/// TCP header (RFC 9293), options included; `payload` is the segment data.
public struct TCPHeader {
    public enum Field {
        public static let sourcePort = 0
        public static let destinationPort = 2
        public static let sequence = 4
        public static let acknowledgment = 8
        public static let dataOffset = 12
        public static let flags = 13
        public static let window = 14
        public static let checksum = 16
        public static let urgentPointer = 18
        public static let minimumLength = 20
    }
    public let bytes: ByteView

    @inlinable @inline(__always)
    public init(validating raw: ByteView) throws(WireError) {
        guard raw.count >= Field.minimumLength else {
            throw .truncated(.tcp, needed: Field.minimumLength, available: raw.count)
        }
        let off = Int(raw._u8(Field.dataOffset) >> 4) * 4
        guard off >= Field.minimumLength, off <= raw.count else {
            throw .badLength(.tcp, claimed: off, available: raw.count)
        }
        bytes = raw
    }

    @inlinable public var sourcePort: UInt16 { bytes._u16(Field.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes._u16(Field.destinationPort) }
    @inlinable public var sequence: UInt32 { bytes._u32(Field.sequence) }
    @inlinable public var acknowledgment: UInt32 { bytes._u32(Field.acknowledgment) }
    @inlinable public var headerLength: Int { Int(bytes._u8(Field.dataOffset) >> 4) * 4 }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes._u8(Field.flags)) }
    @inlinable public var window: UInt16 { bytes._u16(Field.window) }
    @inlinable public var urgentPointer: UInt16 { bytes._u16(Field.urgentPointer) }
    @inlinable public var options: ByteView { bytes._slice(Field.minimumLength, headerLength - Field.minimumLength) }
    @inlinable @inline(__always) public var payload: ByteView { bytes.suffix(from: headerLength) }

    /// Parses the options. A zero or overlong option length is an error (the caller counts it);
    /// whatever was parsed before it is kept in `summary`.
    @inlinable
    public func parseOptions(into summary: inout TCPOptionSummary) throws(WireError) {
        summary = TCPOptionSummary()
        let opts = options
        var i = 0
        while i < opts.count {
            let kind = opts._u8(i)
            if summary.layoutCount < 16 {
                summary.layout |= UInt64(min(kind, 15)) << (4 * UInt64(summary.layoutCount))
                summary.layoutCount += 1
            }
            if kind == 0 { summary.eolPadding = i + 1 < opts.count; return }
            if kind == 1 { i += 1; continue }
            guard i + 1 < opts.count else { throw .badOption(.tcp, offset: Field.minimumLength + i) }
            let len = Int(opts._u8(i + 1))
            guard len >= 2, i + len <= opts.count else { throw .badOption(.tcp, offset: Field.minimumLength + i) }
            switch (kind, len) {
            case (2, 4): summary.mss = opts._u16(i + 2)
            case (3, 3): summary.windowScale = opts._u8(i + 2); summary.hasWindowScale = true
            case (4, 2): summary.sackPermitted = true
            case (5, _): summary.sackBlocks = UInt8((len - 2) / 8)
            case (8, 10):
                summary.hasTimestamps = true
                summary.tsVal = opts._u32(i + 2)
                summary.tsEcr = opts._u32(i + 6)
            default: break
            }
            i += len
        }
    }
}

/// UDP header (RFC 768). The view ends at the UDP length (or the captured bytes when cut).
public struct UDPHeader {
    public enum Field {
        public static let sourcePort = 0
        public static let destinationPort = 2
        public static let length = 4
        public static let checksum = 6
        public static let headerLength = 8
    }
    public let bytes: ByteView

    @inlinable
    public init(validating raw: ByteView, wireTruncated: Bool = false) throws(WireError) {
        guard raw.count >= Field.headerLength else {
            throw .truncated(.udp, needed: Field.headerLength, available: raw.count)
        }
        let len = Int(raw._u16(Field.length))
        guard len >= Field.headerLength else { throw .badLength(.udp, claimed: len, available: raw.count) }
        if len > raw.count {
            guard wireTruncated else { throw .badLength(.udp, claimed: len, available: raw.count) }
            bytes = raw
        } else {
            bytes = raw._slice(0, len)
        }
    }

    @inlinable public var sourcePort: UInt16 { bytes._u16(Field.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes._u16(Field.destinationPort) }
    @inlinable public var length: Int { Int(bytes._u16(Field.length)) }
    @inlinable public var payload: ByteView { bytes.suffix(from: Field.headerLength) }
}

/// ICMP / ICMPv6 header: type and code (counted, not analysed further).
public struct ICMPHeader {
    public let bytes: ByteView
    @inlinable
    public init(validating raw: ByteView) throws(WireError) {
        guard raw.count >= 4 else { throw .truncated(.icmp, needed: 4, available: raw.count) }
        bytes = raw
    }
    @inlinable public var type: UInt8 { bytes._u8(0) }
    @inlinable public var code: UInt8 { bytes._u8(1) }
}

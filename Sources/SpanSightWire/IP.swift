/// An IPv4 or IPv6 address in 16 bytes (IPv4 as ::ffff:a.b.c.d), fixed size, no allocation.
@frozen
public struct IPAddress: Hashable, Sendable, Comparable {
    public var hi: UInt64
    public var lo: UInt64

    @inlinable public init(hi: UInt64, lo: UInt64) { self.hi = hi; self.lo = lo }

    @inlinable public init(v4: UInt32) { hi = 0; lo = 0x0000_FFFF_0000_0000 | UInt64(v4) }

    public static let zero = IPAddress(hi: 0, lo: 0)

    @inlinable public var isV4: Bool { hi == 0 && (lo >> 32) == 0x0000_FFFF }
    @inlinable public var v4: UInt32 { UInt32(truncatingIfNeeded: lo) }

    @inlinable public static func < (a: IPAddress, b: IPAddress) -> Bool { (a.hi, a.lo) < (b.hi, b.lo) }

    /// Parses dotted IPv4 or textual IPv6 (cold path: configuration and tests).
    public init?(_ text: String) {
        if text.contains(":") {
            guard let v = IPAddress.parseV6(text) else { return nil }
            self = v
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var v: UInt32 = 0
            for p in parts {
                guard let b = UInt8(p) else { return nil }
                v = v << 8 | UInt32(b)
            }
            self.init(v4: v)
        }
    }

    private static func parseV6(_ text: String) -> IPAddress? {
        var halves: [String] = []
        if let r = text.firstRange(of: "::") {
            halves = [String(text[..<r.lowerBound]), String(text[r.upperBound...])]
            if halves[1].contains("::") { return nil }
        } else {
            halves = [text]
        }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard let v = UInt16(g, radix: 16), g.count <= 4 else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<4 { hi = hi << 16 | UInt64(all[i]) }
        for i in 4..<8 { lo = lo << 16 | UInt64(all[i]) }
        return IPAddress(hi: hi, lo: lo)
    }

    /// Writes the address as text (dotted quad, or RFC 5952 IPv6) into `out` without building
    /// intermediate strings.
    public func write(into out: inout [UInt8]) {
        write { out.append($0) }
    }

    /// The 16-bit group `i` (0...7) of the address.
    @inlinable func group(_ i: Int) -> UInt16 {
        i < 4 ? UInt16(truncatingIfNeeded: hi >> UInt64(48 - 16 * i)) : UInt16(truncatingIfNeeded: lo >> UInt64(48 - 16 * (i - 4)))
    }

    /// Writes the address as text (dotted quad, or RFC 5952 IPv6) one byte at a time, with no
    /// intermediate allocation.
    public func write(_ put: (UInt8) -> Void) {
        if isV4 {
            let v = v4
            for i in 0..<4 {
                if i > 0 { put(UInt8(ascii: ".")) }
                Self.decimal(UInt32((v >> UInt32(24 - 8 * i)) & 0xFF), put)
            }
            return
        }
        // Longest run of two or more zero groups is shortened to "::" (first one on ties).
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if group(i) == 0 {
                var j = i
                while j < 8 && group(j) == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        i = 0
        var needColon = false
        while i < 8 {
            if i == bestStart {
                put(UInt8(ascii: ":")); put(UInt8(ascii: ":"))
                i += bestLen
                needColon = false
                continue
            }
            if needColon { put(UInt8(ascii: ":")) }
            Self.hex(group(i), put)
            needColon = true
            i += 1
        }
    }

    public var text: String {
        var b: [UInt8] = []
        write(into: &b)
        return String(decoding: b, as: UTF8.self)
    }

    static func decimal(_ v: UInt32, _ put: (UInt8) -> Void) {
        if v >= 100 { put(UInt8(48 + v / 100)) }
        if v >= 10 { put(UInt8(48 + (v / 10) % 10)) }
        put(UInt8(48 + v % 10))
    }

    static func hex(_ v: UInt16, _ put: (UInt8) -> Void) {
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let d = UInt8((v >> UInt16(shift)) & 0xF)
            if d != 0 || started || shift == 0 {
                started = true
                put(d < 10 ? 48 + d : 87 + d)
            }
        }
    }
}

/// IPv4 header (RFC 791), options included. The view's bytes end at the header's total length
/// (Ethernet padding dropped); a snaplen-cut datagram keeps what was captured.
public struct IPv4Header {
    public enum Field {
        public static let versionIHL = 0
        public static let tos = 1
        public static let totalLength = 2
        public static let identification = 4
        public static let flagsFragment = 6
        public static let ttl = 8
        public static let proto = 9
        public static let checksum = 10
        public static let source = 12
        public static let destination = 16
        public static let minimumLength = 20
    }
    public let bytes: ByteView
    /// True when the capture holds fewer bytes than the total length (snaplen).
    public let isCut: Bool

    /// - Parameter wireTruncated: the capture's snaplen cut this packet, so a total length
    ///   beyond the captured bytes is expected rather than a lie.
    @inlinable @inline(__always)
    public init(validating raw: ByteView, wireTruncated: Bool = false) throws(WireError) {
        guard raw.count >= Field.minimumLength else {
            throw .truncated(.ipv4, needed: Field.minimumLength, available: raw.count)
        }
        let vihl = raw._u8(0)
        guard vihl >> 4 == 4 else { throw .badVersion(.ipv4, Int(vihl >> 4)) }
        let ihl = Int(vihl & 0x0F) * 4
        guard ihl >= Field.minimumLength else { throw .badLength(.ipv4, claimed: ihl, available: raw.count) }
        let total = Int(raw._u16(Field.totalLength))
        guard total >= ihl else { throw .badLength(.ipv4, claimed: total, available: raw.count) }
        if total > raw.count {
            guard wireTruncated, ihl <= raw.count else { throw .badLength(.ipv4, claimed: total, available: raw.count) }
            bytes = raw
            isCut = true
        } else {
            bytes = raw._slice(0, total)
            isCut = false
        }
    }

    @inlinable public var headerLength: Int { Int(bytes._u8(0) & 0x0F) * 4 }
    @inlinable public var totalLength: Int { Int(bytes._u16(Field.totalLength)) }
    @inlinable public var identification: UInt16 { bytes._u16(Field.identification) }
    @inlinable public var dontFragment: Bool { bytes._u16(Field.flagsFragment) & 0x4000 != 0 }
    @inlinable public var moreFragments: Bool { bytes._u16(Field.flagsFragment) & 0x2000 != 0 }
    /// Fragment offset in bytes.
    @inlinable public var fragmentOffset: Int { Int(bytes._u16(Field.flagsFragment) & 0x1FFF) * 8 }
    @inlinable public var isFragment: Bool { moreFragments || fragmentOffset != 0 }
    @inlinable public var ttl: UInt8 { bytes._u8(Field.ttl) }
    @inlinable public var proto: UInt8 { bytes._u8(Field.proto) }
    @inlinable public var source: IPAddress { IPAddress(v4: bytes._u32(Field.source)) }
    @inlinable public var destination: IPAddress { IPAddress(v4: bytes._u32(Field.destination)) }
    @inlinable public var options: ByteView { bytes._slice(Field.minimumLength, headerLength - Field.minimumLength) }
    @inlinable @inline(__always) public var payload: ByteView { bytes.suffix(from: headerLength) }
}

/// IPv6 fixed header (RFC 8200) and its extension-header chain.
public struct IPv6Header {
    public enum Field {
        public static let versionClassFlow = 0
        public static let payloadLength = 4
        public static let nextHeader = 6
        public static let hopLimit = 7
        public static let source = 8
        public static let destination = 24
        public static let headerLength = 40
    }
    public let bytes: ByteView
    public let isCut: Bool

    @inlinable
    public init(validating raw: ByteView, wireTruncated: Bool = false) throws(WireError) {
        guard raw.count >= Field.headerLength else {
            throw .truncated(.ipv6, needed: Field.headerLength, available: raw.count)
        }
        let v = raw._u8(0) >> 4
        guard v == 6 else { throw .badVersion(.ipv6, Int(v)) }
        let total = Field.headerLength + Int(raw._u16(Field.payloadLength))
        if total > raw.count {
            // A payload length of 0 with a hop-by-hop jumbogram is not supported: it is a lie here.
            guard wireTruncated else { throw .badLength(.ipv6, claimed: total, available: raw.count) }
            bytes = raw
            isCut = true
        } else {
            bytes = raw._slice(0, total)
            isCut = false
        }
    }

    @inlinable public var nextHeader: UInt8 { bytes._u8(Field.nextHeader) }
    @inlinable public var hopLimit: UInt8 { bytes._u8(Field.hopLimit) }
    @inlinable public var flowLabel: UInt32 { bytes._u32(0) & 0x000F_FFFF }
    @inlinable public var source: IPAddress { IPAddress(hi: bytes._u64(8), lo: bytes._u64(16)) }
    @inlinable public var destination: IPAddress { IPAddress(hi: bytes._u64(24), lo: bytes._u64(32)) }

    /// The upper-layer protocol and its bytes after walking the extension headers, and whether
    /// a fragment header marks this packet as a fragment.
    public struct Upper {
        public var proto: UInt8
        public var payload: ByteView
        public var isFragment: Bool
        public var extensionCount: Int

        @inlinable
        public init(proto: UInt8, payload: ByteView, isFragment: Bool, extensionCount: Int) {
            self.proto = proto
            self.payload = payload
            self.isFragment = isFragment
            self.extensionCount = extensionCount
        }
    }

    /// Walks hop-by-hop (0), routing (43), fragment (44), destination options (60), AH (51),
    /// mobility (135), HIP (139) and shim6 (140) headers. ESP (50) and no-next-header (59) end
    /// the walk with that value as the protocol.
    @inlinable
    public func upperLayer() throws(WireError) -> Upper {
        var next = nextHeader
        var rest = bytes.suffix(from: Field.headerLength)
        var fragment = false
        var count = 0
        while count < 16 {
            switch next {
            case 0, 43, 60, 135, 139, 140:
                guard rest.count >= 8 else { throw .truncated(.ipv6Extension, needed: 8, available: rest.count) }
                let len = (Int(rest._u8(1)) + 1) * 8
                guard len <= rest.count else { throw .badLength(.ipv6Extension, claimed: len, available: rest.count) }
                next = rest._u8(0)
                rest = rest.suffix(from: len)
            case 44:
                guard rest.count >= 8 else { throw .truncated(.ipv6Extension, needed: 8, available: rest.count) }
                let offsetFlags = rest._u16(2)
                if offsetFlags & 0xFFF8 != 0 || offsetFlags & 1 != 0 { fragment = true }
                next = rest._u8(0)
                rest = rest.suffix(from: 8)
            case 51:
                guard rest.count >= 8 else { throw .truncated(.ipv6Extension, needed: 8, available: rest.count) }
                let len = (Int(rest._u8(1)) + 2) * 4
                guard len <= rest.count else { throw .badLength(.ipv6Extension, claimed: len, available: rest.count) }
                next = rest._u8(0)
                rest = rest.suffix(from: len)
            default:
                return Upper(proto: next, payload: rest, isFragment: fragment, extensionCount: count)
            }
            count += 1
        }
        throw .badLength(.ipv6Extension, claimed: count, available: rest.count)
    }
}

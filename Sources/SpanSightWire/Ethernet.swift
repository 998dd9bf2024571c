/// Ethernet II header (IEEE 802.3), 14 bytes.
public struct EthernetHeader {
    public enum Field {
        public static let destination = 0
        public static let source = 6
        public static let etherType = 12
        public static let headerLength = 14
    }
    public let bytes: ByteView

    @inlinable @inline(__always)
    public init(validating bytes: ByteView) throws(WireError) {
        guard bytes.count >= Field.headerLength else {
            throw .truncated(.ethernet, needed: Field.headerLength, available: bytes.count)
        }
        self.bytes = bytes
    }

    /// 48-bit MAC addresses in the low bits of a UInt64.
    @inlinable public var destination: UInt64 { UInt64(bytes._u16(0)) << 32 | UInt64(bytes._u32(2)) }
    @inlinable public var source: UInt64 { UInt64(bytes._u16(6)) << 32 | UInt64(bytes._u32(8)) }
    @inlinable public var etherType: UInt16 { bytes._u16(Field.etherType) }
    @inlinable @inline(__always) public var payload: ByteView { bytes.suffix(from: Field.headerLength) }
}

/// An 802.1Q / 802.1ad tag as it follows the outer EtherType: TCI (2) + inner EtherType (2).
public struct VLANTag {
    public enum Field {
        public static let tci = 0
        public static let etherType = 2
        public static let length = 4
    }
    public let bytes: ByteView

    @inlinable
    public init(validating bytes: ByteView) throws(WireError) {
        guard bytes.count >= Field.length else { throw .truncated(.vlan, needed: Field.length, available: bytes.count) }
        self.bytes = bytes
    }

    @inlinable public var vlanID: UInt16 { bytes._u16(Field.tci) & 0x0FFF }
    @inlinable public var priority: UInt8 { UInt8(bytes._u16(Field.tci) >> 13) }
    @inlinable public var etherType: UInt16 { bytes._u16(Field.etherType) }
    @inlinable public var payload: ByteView { bytes.suffix(from: Field.length) }
}

/// EtherType values SpanSight handles; anything else stays `.unknown(raw)`.
public enum EtherType: Equatable, Sendable {
    case ipv4, ipv6, arp, vlan8021Q, vlan8021AD, vlanQinQLegacy, unknown(UInt16)

    @inlinable
    public init(_ raw: UInt16) {
        switch raw {
        case 0x0800: self = .ipv4
        case 0x86DD: self = .ipv6
        case 0x0806: self = .arp
        case 0x8100: self = .vlan8021Q
        case 0x88A8: self = .vlan8021AD
        case 0x9100: self = .vlanQinQLegacy
        default: self = .unknown(raw)
        }
    }
}

/// Linux "cooked" capture v1 header (DLT_LINUX_SLL), 16 bytes.
public struct LinuxSLLHeader {
    public enum Field {
        public static let packetType = 0
        public static let arphrdType = 2
        public static let addressLength = 4
        public static let address = 6
        public static let protocolType = 14
        public static let headerLength = 16
    }
    public let bytes: ByteView

    @inlinable
    public init(validating bytes: ByteView) throws(WireError) {
        guard bytes.count >= Field.headerLength else {
            throw .truncated(.sll, needed: Field.headerLength, available: bytes.count)
        }
        self.bytes = bytes
    }

    @inlinable public var packetType: UInt16 { bytes._u16(Field.packetType) }
    @inlinable public var arphrdType: UInt16 { bytes._u16(Field.arphrdType) }
    @inlinable public var protocolType: UInt16 { bytes._u16(Field.protocolType) }
    /// Link-layer source address when it is a 6-byte MAC, else nil.
    @inlinable public var sourceMAC: UInt64? {
        guard bytes._u16(Field.addressLength) == 6 else { return nil }
        return UInt64(bytes._u16(6)) << 32 | UInt64(bytes._u32(8))
    }
    @inlinable public var payload: ByteView { bytes.suffix(from: Field.headerLength) }
}

/// Linux "cooked" capture v2 header (DLT_LINUX_SLL2), 20 bytes.
public struct LinuxSLL2Header {
    public enum Field {
        public static let protocolType = 0
        public static let interfaceIndex = 4
        public static let arphrdType = 8
        public static let packetType = 10
        public static let addressLength = 11
        public static let address = 12
        public static let headerLength = 20
    }
    public let bytes: ByteView

    @inlinable
    public init(validating bytes: ByteView) throws(WireError) {
        guard bytes.count >= Field.headerLength else {
            throw .truncated(.sll2, needed: Field.headerLength, available: bytes.count)
        }
        self.bytes = bytes
    }

    @inlinable public var protocolType: UInt16 { bytes._u16(Field.protocolType) }
    @inlinable public var interfaceIndex: UInt32 { bytes._u32(Field.interfaceIndex) }
    @inlinable public var packetType: UInt8 { bytes._u8(Field.packetType) }
    @inlinable public var sourceMAC: UInt64? {
        guard bytes._u8(Field.addressLength) == 6 else { return nil }
        return UInt64(bytes._u16(12)) << 32 | UInt64(bytes._u32(14))
    }
    @inlinable public var payload: ByteView { bytes.suffix(from: Field.headerLength) }
}

/// BSD loopback header (DLT_NULL, host byte order; DLT_LOOP, network byte order): 4 bytes of
/// address family.
public struct NullHeader {
    public static let headerLength = 4
    public let bytes: ByteView
    public let networkOrder: Bool

    @inlinable
    public init(validating bytes: ByteView, networkOrder: Bool) throws(WireError) {
        guard bytes.count >= Self.headerLength else {
            throw .truncated(.null, needed: Self.headerLength, available: bytes.count)
        }
        self.bytes = bytes
        self.networkOrder = networkOrder
    }

    /// The address family. DLT_NULL is in the writer's byte order, so a value that only makes
    /// sense byte-swapped is read swapped.
    @inlinable public var family: UInt32 {
        if networkOrder { return bytes._u32(0) }
        let le = bytes._u32le(0)
        return le > 0xFFFF ? le.byteSwapped : le
    }

    /// True when the family is one of the values BSDs and Linux use for IPv6.
    @inlinable public var isIPv6: Bool {
        switch family {
        case 10, 24, 28, 30: return true
        default: return false
        }
    }
    @inlinable public var isIPv4: Bool { family == 2 }
    @inlinable public var payload: ByteView { bytes.suffix(from: Self.headerLength) }
}

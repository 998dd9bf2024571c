import CPcap

/// A libpcap data-link type (DLT_ value as `pcap_datalink` returns it).
/// Unknown values stay representable: `LinkType(rawValue: 147)` names itself through libpcap.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// BSD loopback (DLT_NULL): 4-byte address family in host byte order of the writer.
    public static let null = LinkType(rawValue: 0)
    public static let ethernet = LinkType(rawValue: 1)
    /// DLT_RAW as libpcap maps LINKTYPE_RAW (101) on Linux.
    public static let raw = LinkType(rawValue: 12)
    /// DLT_RAW on some BSDs.
    public static let rawAlt = LinkType(rawValue: 14)
    /// OpenBSD loopback (DLT_LOOP): 4-byte address family in network byte order.
    public static let loop = LinkType(rawValue: 108)
    public static let linuxSLL = LinkType(rawValue: 113)
    public static let ipv4 = LinkType(rawValue: 228)
    public static let ipv6 = LinkType(rawValue: 229)
    public static let linuxSLL2 = LinkType(rawValue: 276)

    /// libpcap's short name (e.g. "EN10MB", "LINUX_SLL2"), or "DLT_<n>" when libpcap has none.
    public var name: String {
        if let c = pcap_datalink_val_to_name(rawValue) { return String(cString: c) }
        return "DLT_\(rawValue)"
    }

    /// libpcap's description (e.g. "Ethernet"), or the name when there is none.
    public var longDescription: String {
        if let c = pcap_datalink_val_to_description(rawValue) { return String(cString: c) }
        return name
    }

    public var description: String { "\(name) (\(rawValue))" }
}

/// The layer a wire view belongs to (used in errors and counters).
public enum WireLayer: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case link, ethernet, vlan, sll, sll2, null, ipv4, ipv6, ipv6Extension, tcp, udp, icmp

    public var description: String {
        switch self {
        case .link: "link"
        case .ethernet: "ethernet"
        case .vlan: "vlan"
        case .sll: "sll"
        case .sll2: "sll2"
        case .null: "null"
        case .ipv4: "ipv4"
        case .ipv6: "ipv6"
        case .ipv6Extension: "ipv6_extension"
        case .tcp: "tcp"
        case .udp: "udp"
        case .icmp: "icmp"
        }
    }
}

/// Why a view could not be built over some bytes. Thrown by the checked constructors.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the fixed header needs.
    case truncated(WireLayer, needed: Int, available: Int)
    /// A length field inside the header is impossible (too small or beyond the bytes).
    case badLength(WireLayer, claimed: Int, available: Int)
    /// A version or type field that this layer cannot be.
    case badVersion(WireLayer, Int)
    /// A malformed option (zero or overlong option length).
    case badOption(WireLayer, offset: Int)

    public var layer: WireLayer {
        switch self {
        case .truncated(let l, _, _), .badLength(let l, _, _), .badVersion(let l, _), .badOption(let l, _): l
        }
    }

    /// The kind of error, 0..<`kindNames.count` (counters index by layer and kind).
    public var kind: Int {
        switch self {
        case .truncated: 0
        case .badLength: 1
        case .badVersion: 2
        case .badOption: 3
        }
    }

    public static let kindNames = ["truncated", "bad_length", "bad_version", "bad_option"]

    /// Stable snake_case name for counters and logs.
    public var name: String { Self.name(layer: layer, kind: kind) }

    public static func name(layer: WireLayer, kind: Int) -> String { "\(layer).\(kindNames[kind])" }

    public var description: String {
        switch self {
        case let .truncated(l, n, a): "\(l): truncated header (needs \(n) bytes, has \(a))"
        case let .badLength(l, c, a): "\(l): length field \(c) does not fit \(a) bytes"
        case let .badVersion(l, v): "\(l): bad version/type \(v)"
        case let .badOption(l, o): "\(l): malformed option at offset \(o)"
        }
    }
}

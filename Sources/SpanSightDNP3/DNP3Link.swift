// UNSAFE: the link scan reads the CRC tables through their pointer, indices below 256 * 8.
import SpanSightWire

/// A view of a DNP3 link-layer header (IEEE 1815-2012 clause 9.2.4): start octets 0x05 0x64,
/// length, control, destination, source (little-endian), header CRC. The checked constructor
/// proves ten bytes and the start octets; the accessors cannot trap after that.
public struct DNP3LinkHeader {
    public let bytes: ByteView

    public enum Field {
        static let start = 0
        static let length = 2
        static let control = 3
        static let destination = 4
        static let source = 6
        static let crc = 8
        public static let size = 10
    }

    /// Most octets a frame can take on the wire: length 255 gives 250 user octets in 16 blocks.
    public static let maxFrameSize = 292
    public static let blockSize = 16

    public init?(_ v: ByteView) {
        guard v.count >= Field.size, v._u8(0) == 0x05, v._u8(1) == 0x64 else { return nil }
        bytes = v
    }

    public var length: UInt8 { bytes._u8(Field.length) }
    public var control: DNP3LinkControl { DNP3LinkControl(raw: bytes._u8(Field.control)) }
    public var destination: UInt16 { bytes._u16le(Field.destination) }
    public var source: UInt16 { bytes._u16le(Field.source) }
    public var crcValid: Bool { DNP3CRC.check(bytes, 0, 8) }

    /// User data octets (transport header and application bytes) for a length of 5 or more.
    public var userDataCount: Int { max(0, Int(length) - 5) }

    /// Octets on the wire of a frame whose length field is `length` (>= 5):
    /// 10 + n + 2 * ceil(n / 16) with n = length - 5.
    public static func frameSize(length: UInt8) -> Int {
        let n = max(0, Int(length) - 5)
        return Field.size + n + 2 * ((n + blockSize - 1) / blockSize)
    }
}

/// The link control octet: DIR, PRM, FCB/FCV (primary) or DFC (secondary), function code.
public struct DNP3LinkControl: Equatable, Sendable {
    public var raw: UInt8
    public init(raw: UInt8) { self.raw = raw }

    public var dir: Bool { raw & 0x80 != 0 }
    public var prm: Bool { raw & 0x40 != 0 }
    /// Frame count bit (primary frames).
    public var fcb: Bool { prm && raw & 0x20 != 0 }
    /// Frame count valid (primary frames).
    public var fcv: Bool { prm && raw & 0x10 != 0 }
    /// Data flow control (secondary frames).
    public var dfc: Bool { !prm && raw & 0x10 != 0 }
    public var functionCode: UInt8 { raw & 0x0F }

    /// Primary functions 3 and 4 carry transport segments.
    public var carriesUserData: Bool { prm && (functionCode == 3 || functionCode == 4) }

    public var functionName: StaticString {
        if prm {
            switch functionCode {
            case 0: return "reset_link_states"
            case 1: return "reset_user_process"
            case 2: return "test_link_states"
            case 3: return "confirmed_user_data"
            case 4: return "unconfirmed_user_data"
            case 9: return "request_link_status"
            default: return "unknown"
            }
        }
        switch functionCode {
        case 0: return "ack"
        case 1: return "nack"
        case 11: return "link_status"
        case 14: return "not_functioning"
        case 15: return "not_supported"
        default: return "unknown"
        }
    }
}

/// What the bytes at the head of a stream are, link-layer wise.
enum DNP3LinkScan: Equatable {
    /// A whole frame of `size` octets whose header CRC is valid (block CRCs not yet checked).
    case frame(size: Int)
    /// More bytes are needed; `total` is the frame size when known.
    case needMore(total: Int)
    /// No start octets here: the next candidate is `skip` octets on.
    case noStart(skip: Int)
    /// Start octets but a bad header CRC: the length is not trusted, skip one octet.
    case badHeaderCRC
    /// Valid header CRC but a length below 5: skip the ten header octets.
    case lengthTooSmall

    static func scan(_ v: ByteView, tables: UnsafePointer<UInt16> = DNP3CRC.tables) -> DNP3LinkScan {
        guard let b0 = v.u8(at: 0) else { return .needMore(total: DNP3LinkHeader.Field.size) }
        guard b0 == 0x05 else { return .noStart(skip: v.firstIndex(of: 0x05, from: 1) ?? v.count) }
        guard let b1 = v.u8(at: 1) else { return .needMore(total: DNP3LinkHeader.Field.size) }
        guard b1 == 0x64 else { return .noStart(skip: v.firstIndex(of: 0x05, from: 1) ?? v.count) }
        guard let h = DNP3LinkHeader(v) else { return .needMore(total: DNP3LinkHeader.Field.size) }
        guard DNP3CRC.check(v, 0, 8, tables: tables) else { return .badHeaderCRC }
        guard h.length >= 5 else { return .lengthTooSmall }
        let size = DNP3LinkHeader.frameSize(length: h.length)
        return v.count >= size ? .frame(size: size) : .needMore(total: size)
    }
}

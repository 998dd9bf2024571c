import SpanSightWire

/// A set of presentation context ids (1..255) in four words: no allocation.
struct ContextSet {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    mutating func insert(_ id: UInt8) {
        let bit = UInt64(1) << UInt64(id & 63)
        switch id >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func contains(_ id: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(id & 63)
        switch id >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    var isEmpty: Bool { words.0 | words.1 | words.2 | words.3 == 0 }
}

/// A DIMSE command set (PS3.7 section 9.3 / 10.3 and annex E), always encoded Implicit VR
/// Little Endian: elements of group 0000 as (group, element, 32-bit length, value). Decoded
/// into scalars and byte ranges of the command bytes; strings are built from the ranges only
/// when output needs them. Data sets are never decoded.
struct CommandSet {
    enum Tag {
        static let affectedSOPClass: UInt16 = 0x0002
        static let requestedSOPClass: UInt16 = 0x0003
        static let commandField: UInt16 = 0x0100
        static let messageID: UInt16 = 0x0110
        static let messageIDBeingRespondedTo: UInt16 = 0x0120
        static let moveDestination: UInt16 = 0x0600
        static let priority: UInt16 = 0x0700
        static let commandDataSetType: UInt16 = 0x0800
        static let status: UInt16 = 0x0900
        static let affectedSOPInstance: UInt16 = 0x1000
        static let requestedSOPInstance: UInt16 = 0x1001
        static let eventTypeID: UInt16 = 0x1002
        static let actionTypeID: UInt16 = 0x1008
        static let remaining: UInt16 = 0x1020
        static let completed: UInt16 = 0x1021
        static let failed: UInt16 = 0x1022
        static let warning: UInt16 = 0x1023
    }

    /// (0000,0800) value meaning "no data set follows".
    static let noDataSet: UInt16 = 0x0101

    var command: UInt16? = nil
    var messageID: UInt16? = nil
    var respondedTo: UInt16? = nil
    var priority: UInt16? = nil
    var dataSetType: UInt16? = nil
    var status: UInt16? = nil
    var eventTypeID: UInt16? = nil
    var actionTypeID: UInt16? = nil
    var remaining: UInt16? = nil
    var completed: UInt16? = nil
    var failed: UInt16? = nil
    var warning: UInt16? = nil
    /// Byte ranges (offset, length) of text values in the command bytes; length -1 when absent.
    var sopClass = (0, -1)
    var sopInstance = (0, -1)
    var moveDestination = (0, -1)
    /// An element ran past the end, was not in group 0000, or a US value was not 2 bytes.
    var malformed = false

    var isResponse: Bool { (command ?? 0) & 0x8000 != 0 }
    var hasDataSet: Bool { dataSetType.map { $0 != Self.noDataSet } ?? false }

    init(_ v: ByteView) {
        var off = 0
        while off < v.count {
            guard let group = v.u16le(at: off), let element = v.u16le(at: off + 2), let len32 = v.u32le(at: off + 4),
                  len32 <= UInt32(v.count - off - 8) else {
                malformed = true
                return
            }
            let len = Int(len32), value = off + 8
            off = value + len
            guard group == 0 else { malformed = true; continue }
            switch element {
            case Tag.affectedSOPClass, Tag.requestedSOPClass:
                // N-services name the requested SOP class in requests; keep the affected one when both appear.
                if sopClass.1 < 0 || element == Tag.affectedSOPClass { sopClass = (value, len) }
            case Tag.affectedSOPInstance, Tag.requestedSOPInstance:
                if sopInstance.1 < 0 || element == Tag.affectedSOPInstance { sopInstance = (value, len) }
            case Tag.moveDestination:
                moveDestination = (value, len)
            case Tag.commandField, Tag.messageID, Tag.messageIDBeingRespondedTo, Tag.priority,
                 Tag.commandDataSetType, Tag.status, Tag.eventTypeID, Tag.actionTypeID,
                 Tag.remaining, Tag.completed, Tag.failed, Tag.warning:
                guard len == 2 else { malformed = true; continue }
                let x = v._u16le(value)
                switch element {
                case Tag.commandField: command = x
                case Tag.messageID: messageID = x
                case Tag.messageIDBeingRespondedTo: respondedTo = x
                case Tag.priority: priority = x
                case Tag.commandDataSetType: dataSetType = x
                case Tag.status: status = x
                case Tag.eventTypeID: eventTypeID = x
                case Tag.actionTypeID: actionTypeID = x
                case Tag.remaining: remaining = x
                case Tag.completed: completed = x
                case Tag.failed: failed = x
                default: warning = x
                }
            default:
                break
            }
        }
        if command == nil { malformed = true }
    }

    /// Text of a range (trimmed), or nil when absent.
    static func text(_ v: ByteView, _ r: (Int, Int)) -> String? {
        view(v, r).map { WireText.string($0) }
    }

    /// The bytes of a range (untrimmed), or nil when absent.
    static func view(_ v: ByteView, _ r: (Int, Int)) -> ByteView? {
        guard r.1 >= 0 else { return nil }
        return v.slice(r.0, r.1)
    }
}

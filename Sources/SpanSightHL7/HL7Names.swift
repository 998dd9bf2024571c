// UNSAFE: name tables compare bytes with a StaticString's UTF-8 through `utf8Start`, below
// its count.
import SpanSightEngine
import SpanSightWire

/// MSA-1 acknowledgment code (HL7 table 0008): original mode AA/AE/AR, enhanced mode
/// commit acknowledgments CA/CE/CR.
enum HL7AckCode: UInt8 {
    case aa, ae, ar, ca, ce, cr, unknown

    init(_ v: ByteView) {
        guard v.count == 2 else { self = .unknown; return }
        switch (v._u8(0), v._u8(1)) {
        case (0x41, 0x41): self = .aa
        case (0x41, 0x45): self = .ae
        case (0x41, 0x52): self = .ar
        case (0x43, 0x41): self = .ca
        case (0x43, 0x45): self = .ce
        case (0x43, 0x52): self = .cr
        default: self = .unknown
        }
    }

    var name: StaticString {
        switch self {
        case .aa: "application_accept"
        case .ae: "application_error"
        case .ar: "application_reject"
        case .ca: "commit_accept"
        case .ce: "commit_error"
        case .cr: "commit_reject"
        case .unknown: "unknown"
        }
    }

    /// The stable outcome name of the observation API.
    var outcome: StaticString {
        switch self {
        case .aa: "hl7.ack_aa"
        case .ae: "hl7.ack_ae"
        case .ar: "hl7.ack_ar"
        case .ca: "hl7.ack_ca"
        case .ce: "hl7.ack_ce"
        case .cr: "hl7.ack_cr"
        case .unknown: "hl7.ack_unknown"
        }
    }

    var isSuccess: Bool { self == .aa || self == .ca }

    /// MSA-1 as sent, for the known codes.
    var text: StaticString {
        switch self {
        case .aa: "AA"
        case .ae: "AE"
        case .ar: "AR"
        case .ca: "CA"
        case .ce: "CE"
        case .cr: "CR"
        case .unknown: "??"
        }
    }
}

enum HL7Names {
    /// ERR-4 severity (HL7 table 0516).
    static func severity(_ v: ByteView) -> StaticString {
        guard v.count == 1 else { return "unknown" }
        switch v._u8(0) {
        case 0x45: return "error"
        case 0x57: return "warning"
        case 0x49: return "information"
        case 0x46: return "fatal_error"
        default: return "unknown"
        }
    }

    /// The operation class of a message for the communication map and the rules: queries
    /// read; ADT record updates, merges, moves and deletions write; everything else is a
    /// message exchange (`association`).
    static func operation(type: ByteView, trigger: ByteView) -> OperationClass {
        func text(_ v: ByteView, _ s: StaticString) -> Bool {
            guard v.count == s.utf8CodeUnitCount else { return false }
            for i in 0..<v.count where v._u8(i) != s.utf8Start[i] { return false }
            return true
        }
        if type.count == 3 && type._u8(0) == UInt8(ascii: "Q") { return .read }   // QRY QBP QCN QSB QVR
        if text(type, "VXQ") || text(type, "RQI") || text(type, "RQC") || text(type, "RQP") { return .read }
        guard text(type, "ADT"), trigger.count == 3, trigger._u8(0) == UInt8(ascii: "A") else { return .association }
        let n = Int(trigger._u8(1)) &- 0x30, m = Int(trigger._u8(2)) &- 0x30
        guard (0...9).contains(n), (0...9).contains(m) else { return .association }
        switch n * 10 + m {
        // A08 update patient, A18 merge, A23 delete, A29 delete person, A30 merge person,
        // A31 update person, A34-A36 and A39-A51 merges, moves and identifier changes.
        case 8, 18, 23, 29, 30, 31, 34, 35, 36, 39...51: return .write
        default: return .association
        }
    }
}

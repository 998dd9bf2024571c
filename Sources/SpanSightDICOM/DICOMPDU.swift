import SpanSightEngine
import SpanSightWire

/// The fixed header of every upper-layer PDU (PS3.8 9.3.1): type, one reserved byte, and the
/// length of what follows (big endian). The checked constructor proves the 6 bytes are there.
struct PDUHeader {
    enum Field {
        static let type = 0
        static let reserved = 1
        static let length = 2
        static let size = 6
    }

    let type: UInt8
    let reserved: UInt8
    let length: UInt32

    init?(_ v: ByteView) {
        guard v.count >= Field.size else { return nil }
        type = v._u8(Field.type)
        reserved = v._u8(Field.reserved)
        length = v._u32(Field.length)
    }

    /// A-ASSOCIATE-RQ/AC: version, reserved, two 16-byte AE titles and 32 reserved bytes come
    /// before the items (PS3.8 tables 9-11 and 9-17).
    static let associateFixed = 68
    /// A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT bodies are 4 bytes.
    static let shortBody = 4
    /// The smallest P-DATA-TF: one PDV item with an empty fragment (length 4 + context id +
    /// message control header).
    static let minPData = 6
}

/// Offsets inside an A-ASSOCIATE-RQ/AC body (after the 6-byte header).
enum AssociateField {
    static let protocolVersion = 0
    static let calledAE = 4
    static let callingAE = 20
    static let aeLength = 16
    static let items = 68
}

/// Item types of A-ASSOCIATE-RQ/AC (PS3.8 9.3.2, 9.3.3) and of the user information item
/// (PS3.8 annex D, PS3.7 annex D.3.3).
enum ItemType {
    static let applicationContext: UInt8 = 0x10
    static let presentationContextRQ: UInt8 = 0x20
    static let presentationContextAC: UInt8 = 0x21
    static let abstractSyntax: UInt8 = 0x30
    static let transferSyntax: UInt8 = 0x40
    static let userInformation: UInt8 = 0x50
    static let maxLength: UInt8 = 0x51
    static let implementationClassUID: UInt8 = 0x52
    static let asyncOperationsWindow: UInt8 = 0x53
    static let roleSelection: UInt8 = 0x54
    static let implementationVersionName: UInt8 = 0x55
    static let extendedNegotiation: UInt8 = 0x56
    static let commonExtendedNegotiation: UInt8 = 0x57
    static let userIdentityRQ: UInt8 = 0x58
    static let userIdentityAC: UInt8 = 0x59
}

/// Problems found while reading an A-ASSOCIATE-RQ/AC; each becomes one anomaly.
struct AssociateFlaws: OptionSet {
    let rawValue: UInt16
    static let itemLength = AssociateFlaws(rawValue: 1 << 0)
    static let invalidItem = AssociateFlaws(rawValue: 1 << 1)
    static let unknownItem = AssociateFlaws(rawValue: 1 << 2)
    static let protocolVersion = AssociateFlaws(rawValue: 1 << 3)
    static let aeTitle = AssociateFlaws(rawValue: 1 << 4)
    static let tooManyContexts = AssociateFlaws(rawValue: 1 << 5)
}

/// One presentation context: what the requestor proposed and what the acceptor answered.
struct PresentationContext {
    var id: UInt8
    var abstractSyntax: TextRef? = nil
    /// The transfer syntaxes kept of those proposed: `AssociationRecord.proposed[proposedStart...]`.
    var proposedStart = 0
    var proposedCount = 0
    /// Transfer syntaxes proposed beyond the ones kept.
    var proposedDropped = 0
    /// Result/reason from the A-ASSOCIATE-AC (nil: no answer seen).
    var result: UInt8? = nil
    var transferSyntax: TextRef? = nil
    var proposedSeen = false
}

/// SCP/SCU role selection sub-item (PS3.7 D.3.3.4), of the requestor's or the acceptor's
/// user information.
struct RoleSelection {
    var sopClass: TextRef
    var scu: UInt8
    var scp: UInt8
    var requestor: Bool
}

/// The user information item of one side. Secrets of user identity negotiation (username,
/// passcode, Kerberos ticket, SAML assertion, JWT, server response) are never kept: only the
/// type, the response-requested flag and the field lengths.
struct UserInformation {
    var present = false
    var maxPDULength: UInt32? = nil
    var implementationClassUID: TextRef? = nil
    var implementationVersionName: TextRef? = nil
    var asyncInvoked: UInt16? = nil
    var asyncPerformed: UInt16? = nil
    /// Role selections seen, and kept (in `AssociationRecord.roles`).
    var roleCount = 0
    var rolesKept = 0
    var extendedNegotiations = 0
    var commonExtendedNegotiations = 0
    var userIdentityType: UInt8? = nil
    var userIdentityResponseRequested = false
    var userIdentityPrimaryLength = 0
    var userIdentitySecondaryLength = 0
    /// Length of the A-ASSOCIATE-AC user identity server response (0x59); its content is secret.
    var userIdentityServerResponseLength: Int? = nil
    var unknownSubItems = 0
}

/// Text from the wire, trimmed of leading and trailing spaces and NULs (AE titles are padded
/// with spaces, some stacks pad UIDs with a NUL).
enum WireText {
    static func trimmed(_ v: ByteView) -> ByteView {
        var lo = 0, hi = v.count
        while lo < hi, v._u8(lo) == 0x20 || v._u8(lo) == 0 { lo += 1 }
        while hi > lo, v._u8(hi - 1) == 0x20 || v._u8(hi - 1) == 0 { hi -= 1 }
        return v._slice(lo, hi - lo)
    }

    static func string(_ v: ByteView) -> String {
        trimmed(v).withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the bytes are well-formed UTF-8 (then a String of them holds them unchanged):
    /// the standard library's decoder, without making the String.
    static func isValidUTF8(_ v: ByteView) -> Bool {
        v.withBytes { u in
            var bytes = u.makeIterator()
            var decoder = UTF8()
            while true {
                switch decoder.decode(&bytes) {
                case .scalarValue: continue
                case .emptyInput: return true
                case .error: return false
                }
            }
        }
    }

    /// AE title characters: the default repertoire without control characters and backslash
    /// (PS3.5 6.2, AE value representation); trailing padding excluded.
    static func isValidAETitle(_ v: ByteView) -> Bool {
        let t = trimmed(v)
        for i in 0..<t.count {
            let b = t._u8(i)
            if b < 0x20 || b > 0x7E || b == 0x5C { return false }
        }
        return true
    }
}

/// Reads the variable items of an A-ASSOCIATE-RQ (`isRequest`) or -AC body into `assoc`.
/// Always validates; builds strings only when `build` is set (events or observations on).
struct AssociateReader {
    static let maxContexts = 128
    static let maxTransferSyntaxes = 32
    static let maxRoles = 64

    let isRequest: Bool
    let build: Bool
    var flaws: AssociateFlaws = []

    init(isRequest: Bool, build: Bool) {
        self.isRequest = isRequest
        self.build = build
    }

    mutating func read(_ body: ByteView, into a: inout AssociationRecord) {
        guard body.count >= PDUHeader.associateFixed else { flaws.insert(.itemLength); return }
        let version = body._u16(AssociateField.protocolVersion)
        if version & 1 == 0 { flaws.insert(.protocolVersion) }
        let called = body._slice(AssociateField.calledAE, AssociateField.aeLength)
        let calling = body._slice(AssociateField.callingAE, AssociateField.aeLength)
        if isRequest || !WireText.trimmed(called).isEmpty {
            if !WireText.isValidAETitle(called) || !WireText.isValidAETitle(calling) { flaws.insert(.aeTitle) }
        }
        if isRequest {
            a.protocolVersion = version
            if build {
                a.calledAE = a.text.add(called)
                a.callingAE = a.text.add(calling)
            }
        } else {
            a.acceptorVersion = version
        }
        var off = AssociateField.items
        var sawApplicationContext = false
        while off < body.count {
            guard let type = body.u8(at: off), let len = body.u16(at: off + 2).map(Int.init),
                  let item = body.slice(off + 4, len) else {
                flaws.insert(.itemLength)
                return
            }
            off += 4 + len
            switch type {
            case ItemType.applicationContext:
                if sawApplicationContext { flaws.insert(.invalidItem) }
                sawApplicationContext = true
                if build && isRequest { a.applicationContext = a.text.add(item) }
            case ItemType.presentationContextRQ where isRequest:
                readContextRQ(item, &a)
            case ItemType.presentationContextAC where !isRequest:
                readContextAC(item, &a)
            case ItemType.userInformation:
                readUserInfo(item, requestor: isRequest, &a)
            case ItemType.presentationContextRQ, ItemType.presentationContextAC:
                flaws.insert(.invalidItem)
            default:
                flaws.insert(.unknownItem)
            }
        }
        if !sawApplicationContext { flaws.insert(.invalidItem) }
    }

    /// Presentation context item (RQ): id, 3 reserved bytes, one abstract syntax, 1+ transfer syntaxes.
    mutating func readContextRQ(_ item: ByteView, _ a: inout AssociationRecord) {
        guard item.count >= 4 else { flaws.insert(.itemLength); return }
        let id = item._u8(0)
        if id & 1 == 0 { flaws.insert(.invalidItem) }
        var ctx = PresentationContext(id: id)
        ctx.proposedSeen = true
        ctx.proposedStart = a.proposed.count
        var abstractCount = 0, transferCount = 0
        var off = 4
        while off < item.count {
            guard let type = item.u8(at: off), let len = item.u16(at: off + 2).map(Int.init),
                  let sub = item.slice(off + 4, len) else {
                flaws.insert(.itemLength)
                break
            }
            off += 4 + len
            switch type {
            case ItemType.abstractSyntax:
                abstractCount += 1
                if build { ctx.abstractSyntax = a.text.add(sub) }
            case ItemType.transferSyntax:
                transferCount += 1
                if build {
                    if ctx.proposedCount < Self.maxTransferSyntaxes {
                        a.proposed.append(a.text.add(sub))
                        ctx.proposedCount += 1
                    } else {
                        ctx.proposedDropped += 1
                    }
                }
            default:
                flaws.insert(.unknownItem)
            }
        }
        if abstractCount != 1 || transferCount == 0 { flaws.insert(.invalidItem) }
        a.contextCount += 1
        guard build else { return }
        if a.contexts.count >= Self.maxContexts {
            flaws.insert(.tooManyContexts)
            a.proposed.removeLast(ctx.proposedCount)
            return
        }
        a.contexts.append(ctx)
    }

    /// Presentation context item (AC): id, reserved, result/reason, reserved, one transfer syntax.
    mutating func readContextAC(_ item: ByteView, _ a: inout AssociationRecord) {
        guard item.count >= 4 else { flaws.insert(.itemLength); return }
        let id = item._u8(0), result = item._u8(2)
        if result > 4 { flaws.insert(.invalidItem) }
        var ts: TextRef? = nil
        var transferCount = 0
        var off = 4
        while off < item.count {
            guard let type = item.u8(at: off), let len = item.u16(at: off + 2).map(Int.init),
                  let sub = item.slice(off + 4, len) else {
                flaws.insert(.itemLength)
                break
            }
            off += 4 + len
            if type == ItemType.transferSyntax {
                transferCount += 1
                if build { ts = a.text.add(sub) }
            } else {
                flaws.insert(.unknownItem)
            }
        }
        // PS3.8 9.3.3.2: one transfer syntax sub-item (its value is not significant when the
        // context is rejected, but the sub-item is present).
        if transferCount != 1 { flaws.insert(.invalidItem) }
        a.acceptedContextIDs.insert(id)
        if result == 0 { a.usableContexts.insert(id) }
        guard build else { return }
        if let i = a.contexts.firstIndex(where: { $0.id == id && $0.result == nil }) {
            a.contexts[i].result = result
            a.contexts[i].transferSyntax = ts
        } else if a.contexts.count < Self.maxContexts {
            var ctx = PresentationContext(id: id)
            ctx.result = result
            ctx.transferSyntax = ts
            a.contexts.append(ctx)
        } else {
            flaws.insert(.tooManyContexts)
        }
    }

    /// User information item and its sub-items (PS3.8 D.1, PS3.7 D.3.3).
    mutating func readUserInfo(_ item: ByteView, requestor: Bool, _ a: inout AssociationRecord) {
        var u = requestor ? a.requestor : a.acceptor
        defer { if requestor { a.requestor = u } else { a.acceptor = u } }
        if u.present { flaws.insert(.invalidItem) }
        u.present = true
        var off = 0
        while off < item.count {
            guard let type = item.u8(at: off), let len = item.u16(at: off + 2).map(Int.init),
                  let sub = item.slice(off + 4, len) else {
                flaws.insert(.itemLength)
                return
            }
            off += 4 + len
            switch type {
            case ItemType.maxLength:
                guard let v = sub.u32(at: 0), sub.count == 4 else { flaws.insert(.itemLength); continue }
                u.maxPDULength = v
            case ItemType.implementationClassUID:
                if build { u.implementationClassUID = a.text.add(sub) }
            case ItemType.implementationVersionName:
                if build { u.implementationVersionName = a.text.add(sub) }
            case ItemType.asyncOperationsWindow:
                guard sub.count == 4 else { flaws.insert(.itemLength); continue }
                u.asyncInvoked = sub._u16(0)
                u.asyncPerformed = sub._u16(2)
            case ItemType.roleSelection:
                guard let n = sub.u16(at: 0).map(Int.init), let uid = sub.slice(2, n), sub.count == 4 + n else {
                    flaws.insert(.itemLength)
                    continue
                }
                u.roleCount += 1
                if build && u.rolesKept < Self.maxRoles {
                    u.rolesKept += 1
                    a.roles.append(RoleSelection(sopClass: a.text.add(uid), scu: sub._u8(2 + n), scp: sub._u8(3 + n),
                                                 requestor: requestor))
                }
            case ItemType.extendedNegotiation:
                guard let n = sub.u16(at: 0).map(Int.init), n <= sub.count - 2 else { flaws.insert(.itemLength); continue }
                u.extendedNegotiations += 1
            case ItemType.commonExtendedNegotiation:
                guard let n = sub.u16(at: 0).map(Int.init), n <= sub.count - 2 else { flaws.insert(.itemLength); continue }
                u.commonExtendedNegotiations += 1
            case ItemType.userIdentityRQ:
                // type, positive-response-requested, primary length + field, secondary length + field.
                guard sub.count >= 4, let p = sub.u16(at: 2).map(Int.init), let s = sub.u16(at: 4 + p).map(Int.init),
                      sub.count == 6 + p + s else {
                    flaws.insert(.itemLength)
                    continue
                }
                u.userIdentityType = sub._u8(0)
                u.userIdentityResponseRequested = sub._u8(1) == 1
                u.userIdentityPrimaryLength = p
                u.userIdentitySecondaryLength = s
            case ItemType.userIdentityAC:
                guard let n = sub.u16(at: 0).map(Int.init), sub.count == 2 + n else { flaws.insert(.itemLength); continue }
                u.userIdentityServerResponseLength = n
            default:
                u.unknownSubItems += 1
                flaws.insert(.unknownItem)
            }
        }
    }
}

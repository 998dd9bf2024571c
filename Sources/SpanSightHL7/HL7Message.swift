// UNSAFE: the MSH and segment walks read a segment through `ByteView.withBytes` (a scoped
// buffer), every index below the buffer's count.
import SpanSightWire

/// A byte range inside a frame (offsets from the frame's first content byte).
struct Span: Equatable {
    var start: Int32 = 0
    var count: Int32 = 0

    init() {}
    /// Offsets in a frame: frames are capped far below 2^31 bytes (`maxMessageBytes`).
    init(_ start: Int, _ end: Int) {
        self.start = Int32(truncatingIfNeeded: start)
        self.count = Int32(truncatingIfNeeded: max(0, end &- start))
    }

    var isEmpty: Bool { count == 0 }
    var end: Int { Int(start) + Int(count) }

    func view(_ frame: ByteView) -> ByteView { frame._slice(Int(start), Int(count)) }
}

/// The delimiters of one message, read from its own MSH-1 and MSH-2 (or FHS/BHS): never assumed.
/// A delimiter the message does not define (or defines badly) is `none`, so nothing splits on it.
struct HL7Separators {
    static let none: UInt16 = 0x100
    var field: UInt16 = none
    var component: UInt16 = none
    var repetition: UInt16 = none
    var escape: UInt16 = none
    var subcomponent: UInt16 = none
    /// False when MSH-2 is not 4 or 5 distinct plausible characters different from MSH-1.
    var valid = true
    /// Identifier characters that are none of the delimiters (`HL7Check.token`).
    var identifierChars = HL7CharSet.identifier

    /// Printable, neither a letter nor a digit nor a space (HL7 v2 chapter 2 recommends
    /// `|^~\&`; any other such character is allowed).
    static func isPlausible(_ b: UInt8) -> Bool {
        guard b > 0x20 && b < 0x7F else { return false }
        let isDigit = b >= 0x30 && b <= 0x39
        let isLetter = (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A
        return !isDigit && !isLetter
    }

    /// Separators of a header segment (`MSH|^~\&|...`): MSH-1 at byte 3, MSH-2 after it up to
    /// the next field separator. Returns the separators and the index of the field separator
    /// that ends MSH-2 (the segment's length when there is none).
    static func read(header seg: ByteView) -> (HL7Separators, Int) {
        var s = HL7Separators()
        guard let fs = seg.u8(at: 3), isPlausible(fs) else {
            s.valid = false
            return (s, seg.count)
        }
        s.field = UInt16(fs)
        s.identifierChars.remove(s.field)
        // The recommended encoding characters (`^~\&` then the field separator): nearly every
        // message. They are plausible and distinct, so the general walk would accept them.
        if seg.count >= 9, fs != 0x5E && fs != 0x7E && fs != 0x5C && fs != 0x26, seg._u32(4) == 0x5E7E_5C26, seg._u8(8) == fs {
            s.component = 0x5E
            s.repetition = 0x7E
            s.escape = 0x5C
            s.subcomponent = 0x26
            return (s, 8)
        }
        var i = 4
        var k = 0
        while i < seg.count, seg._u8(i) != fs {
            let b = seg._u8(i)
            let ok = isPlausible(b) && !s.has(UInt16(b))
            if !ok { s.valid = false }
            switch k {
            case 0: if ok { s.component = UInt16(b) }
            case 1: if ok { s.repetition = UInt16(b) }
            case 2: if ok { s.escape = UInt16(b) }
            case 3: if ok { s.subcomponent = UInt16(b) }
            default: break
            }
            k += 1
            i += 1
        }
        if k < 4 || k > 5 { s.valid = false }
        // (The recommended delimiters above are no identifier characters.)
        s.identifierChars.remove(s.component)
        s.identifierChars.remove(s.repetition)
        s.identifierChars.remove(s.escape)
        s.identifierChars.remove(s.subcomponent)
        return (s, i)
    }

    /// True when `c` is already one of the delimiters.
    func has(_ c: UInt16) -> Bool {
        c == field || c == component || c == repetition || c == escape || c == subcomponent
    }

    func same(_ o: HL7Separators) -> Bool {
        field == o.field && component == o.component && repetition == o.repetition && escape == o.escape
            && subcomponent == o.subcomponent
    }
}

/// MSH-3..6 of the last message a direction sent, and what their checks found: a flow's
/// messages name the same applications and facilities again and again, so when the bytes (and
/// the delimiters) are the same, the checks are not run again. Plain values, kept by the
/// session per direction: no allocation.
struct HL7HeaderMemo {
    static let capacity = 64
    /// Bytes remembered (-1: none), as up to eight words (`word`), and how they end.
    var count = -1
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    var separators = HL7Separators()
    var terminated = false
    /// What the checks found: `HL7Message.invalid` bits of MSH-3..6, endings bits 0..3.
    var invalid: UInt32 = 0
    var endings: UInt32 = 0

    init() {}

    /// Word `k` of `seg[from..<from + count]`: eight bytes at `8k` (the last word ends at the
    /// end, overlapping the one before), or the bytes packed when fewer than eight.
    @inline(__always)
    static func word(_ seg: ByteView, _ from: Int, _ count: Int, _ k: Int) -> UInt64 {
        if count >= 8 { return seg._u64(from &+ Swift.min(8 &* k, count &- 8)) }
        var w: UInt64 = 0
        for i in 0..<count { w = w << 8 | UInt64(seg._u8(from &+ i)) }
        return w
    }

    static func words(_ count: Int) -> Int { count >= 8 ? (count &+ 7) >> 3 : 1 }

    func word(_ k: Int) -> UInt64 {
        switch k {
        case 0: words.0
        case 1: words.1
        case 2: words.2
        case 3: words.3
        case 4: words.4
        case 5: words.5
        case 6: words.6
        default: words.7
        }
    }

    mutating func setWord(_ k: Int, _ w: UInt64) {
        switch k {
        case 0: words.0 = w
        case 1: words.1 = w
        case 2: words.2 = w
        case 3: words.3 = w
        case 4: words.4 = w
        case 5: words.5 = w
        case 6: words.6 = w
        default: words.7 = w
        }
    }

    /// Whether `seg[from..<from + count]` is what was remembered.
    func matches(_ seg: ByteView, _ from: Int, _ count: Int, terminated t: Bool, _ sep: HL7Separators) -> Bool {
        guard count == self.count, t == terminated, separators.same(sep) else { return false }
        for k in 0..<Self.words(count) where Self.word(seg, from, count, k) != word(k) { return false }
        return true
    }

    mutating func remember(_ seg: ByteView, _ from: Int, _ count: Int, terminated t: Bool, _ sep: HL7Separators,
                           invalid: UInt32, endings: UInt32) {
        guard count <= Self.capacity else { self.count = -1; return }
        self.count = count
        for k in 0..<Self.words(count) { setWord(k, Self.word(seg, from, count, k)) }
        terminated = t
        separators = sep
        self.invalid = invalid
        self.endings = endings
    }
}

/// Segment-level helpers over one segment's bytes.
enum HL7Segment {
    /// The segment id when the segment starts with one (`[A-Z][A-Z0-9]{2}` followed by the
    /// field separator or the segment end), packed big-endian; nil otherwise.
    static func id(_ seg: ByteView, _ sep: HL7Separators) -> UInt32? {
        guard seg.count >= 3 else { return nil }
        let a = seg._u8(0), b = seg._u8(1), c = seg._u8(2)
        func upper(_ x: UInt8) -> Bool { x >= 0x41 && x <= 0x5A }
        func digit(_ x: UInt8) -> Bool { x >= 0x30 && x <= 0x39 }
        guard upper(a), upper(b) || digit(b), upper(c) || digit(c) else { return nil }
        if seg.count > 3 && UInt16(seg._u8(3)) != sep.field { return nil }
        return UInt32(a) << 16 | UInt32(b) << 8 | UInt32(c)
    }

    static func code(_ s: StaticString) -> UInt32 {
        let p = s.utf8Start
        return UInt32(p[0]) << 16 | UInt32(p[1]) << 8 | UInt32(p[2])
    }

    static let MSH = code("MSH"), MSA = code("MSA"), ERR = code("ERR"), EVN = code("EVN"), PID = code("PID")
    static let FHS = code("FHS"), BHS = code("BHS"), BTS = code("BTS"), FTS = code("FTS")

    /// The name of a segment whose fields an event writes.
    static func name(_ id: UInt32) -> StaticString {
        switch id {
        case MSA: "MSA"
        case ERR: "ERR"
        case EVN: "EVN"
        default: "MSH"
        }
    }

    /// Calls `body(n, span)` for fields 1, 2, ... `last` of a segment (field 0 is the id),
    /// spans relative to `base` (the segment's offset in the frame); the rest of the segment is
    /// not read. For MSH, field n of the walk is MSH-(n+2) (it starts at MSH-3).
    static func fields(_ seg: ByteView, base: Int, from: Int = 3, last: Int, _ sep: HL7Separators,
                       _ body: (Int, Span) -> Void) {
        guard sep.field != HL7Separators.none, from < seg.count else { return }
        let fs = UInt8(truncatingIfNeeded: sep.field)
        seg.withBytes { b in
            // `from` points at the field separator before field 1 (for MSH: the one after MSH-2).
            var i = from + 1
            var n = 1
            var start = i
            while i < b.count {
                if b[i] == fs {
                    body(n, Span(base + start, base + i))
                    if n == last { return }
                    n += 1
                    start = i + 1
                }
                i += 1
            }
            body(n, Span(base + start, base + b.count))
        }
    }

    /// Component `k` (1-based) of the first repetition of a field.
    static func component(_ frame: ByteView, _ field: Span, _ k: Int, _ sep: HL7Separators) -> Span {
        var i = Int(field.start)
        let end = field.end
        var c = 1
        var start = i
        while i < end {
            let b = UInt16(frame._u8(i))
            if b == sep.repetition { break }
            if b == sep.component {
                if c == k { return Span(start, i) }
                c += 1
                start = i + 1
            }
            i += 1
        }
        return c == k ? Span(start, i) : Span()
    }

    /// The first repetition of a field.
    static func firstRepetition(_ frame: ByteView, _ field: Span, _ sep: HL7Separators) -> Span {
        var i = Int(field.start)
        while i < field.end, UInt16(frame._u8(i)) != sep.repetition { i += 1 }
        return Span(Int(field.start), i)
    }
}

/// Calls `body(start, end)` for each non-empty segment of a frame. Segments end at CR (HL7 v2
/// chapter 2); LF ends one too, so that CR LF and LF-only senders (files, broken interfaces)
/// split into the same segments: an LF-only message read as one long MSH would put the
/// content of PID and the other segments into MSH fields.
func forEachSegment(_ frame: ByteView, _ body: (Int, Int) -> Void) {
    var i = 0
    let n = frame.count
    while i < n {
        let j = frame.index(of: 0x0D, or: 0x0A, from: i)
        if j > i { body(i, j) }
        i = j + 1
    }
}

/// One HL7 message of a frame, decoded into spans over the frame: the MSH fields, MSA, the
/// first ERR, EVN. Nothing is copied; the content of other segments is never looked at
/// (except PID identifiers when pseudonyms are asked for, by `HL7Pseudonyms`).
struct HL7Message {
    var separators = HL7Separators()
    /// Where the message (its MSH) starts and ends in the frame.
    var start = 0
    var end = 0
    var sendingApplication = Span(), sendingFacility = Span()
    var receivingApplication = Span(), receivingFacility = Span()
    var dateTime = Span()
    var messageType = Span(), triggerEvent = Span(), structure = Span()
    var controlID = Span(), processingID = Span(), version = Span(), characterSet = Span()
    /// MSH-16, application acknowledgment type (enhanced mode: AL, NE, ER, SU).
    var applicationAckType = Span()
    var segmentCount = 0
    /// Segments not listed: without a valid id, or (`unknownSegments`, counted here too) with
    /// an id of the right shape that is neither a standard segment nor a Z-segment.
    var invalidSegments = 0
    var unknownSegments = 0
    var pidCount = 0
    var hasMSA = false
    var ackCode = Span(), ackControlID = Span()
    var errorCount = 0
    var errorCodeAndLocation = Span(), errorLocation = Span()
    var errorCode = Span(), errorText = Span(), errorSystem = Span(), errorSeverity = Span()
    var eventType = Span(), eventRecorded = Span()

    /// Required MSH fields that are empty: bit n for MSH-n (9 type, 10 control id, 11
    /// processing id, 12 version).
    var missing: UInt16 = 0

    /// Values that fail their check (`HL7Check`), and the values withheld from every output:
    /// those, and every value read after a field that ran into another segment. Bits of
    /// `HL7Field`, set only for non-empty values.
    var invalid: UInt32 = 0
    var withheld: UInt32 = 0
    /// The first field that ran into another segment (its segment terminator missing): the
    /// segment it belongs to (0: none), its number, and the frame offset of the other
    /// segment's id.
    var runInSegment: UInt32 = 0
    var runInField = 0
    var runInID = 0

    var isAck: Bool { hasMSA }

    /// No message (a placeholder until the first MSH).
    init() {}

    /// Starts a message at its MSH segment (tests: without a memo).
    init(header seg: ByteView, at base: Int, frame: ByteView) {
        var memo = HL7HeaderMemo()
        self.init(header: seg, at: base, frame: frame, memo: &memo)
    }

    /// Starts a message at its MSH segment: MSH-3 ... MSH-18 are read (`readHeaderFields`), the
    /// rest of the segment is not. `memo`: the direction's last MSH-3..6 and their checks.
    init(header seg: ByteView, at base: Int, frame: ByteView, memo: inout HL7HeaderMemo) {
        start = base
        end = base + seg.count
        segmentCount = 1
        let (sep, msh2End) = HL7Separators.read(header: seg)
        separators = sep
        if sep.field != HL7Separators.none && msh2End < seg.count {
            readHeaderFields(seg, base: base, from: msh2End + 1, sep, frame: frame, memo: &memo)
            // MSH-2 glued to the next segment (`^~\&PID`): nothing of the MSH is the MSH's.
            if msh2End > 8, HL7Check.endsWithSegmentID(seg, msh2End) {
                ranIn(HL7Segment.MSH, 2, id: base + msh2End - 3)
            }
        }
        if messageType.isEmpty { missing |= 1 << 9 }
        if controlID.isEmpty { missing |= 1 << 10 }
        if processingID.isEmpty { missing |= 1 << 11 }
        if version.isEmpty { missing |= 1 << 12 }
    }

    /// Reads MSH-3 (starting at `from`, just after the separator that ends MSH-2) up to MSH-18.
    /// Per field: its span, its first repetition, and the first three components of that.
    /// Two steps: the field separators first (eight bytes at a time, `ByteView.scan`), then,
    /// inside the few fields whose components are read, their component and repetition
    /// separators (short fields, a byte at a time). The end of the segment ends the last field.
    /// Then the values read are checked, and the fields that end before a field separator
    /// are looked at for a run into another segment.
    private mutating func readHeaderFields(_ seg: ByteView, base: Int, from: Int, _ sep: HL7Separators, frame: ByteView,
                                           memo: inout HL7HeaderMemo) {
        let n = seg.count
        let fs = UInt8(truncatingIfNeeded: sep.field)
        // An undefined separator never matches (it stands in as the field separator, which
        // no longer occurs inside a field).
        let rs = sep.repetition == HL7Separators.none ? fs : UInt8(truncatingIfNeeded: sep.repetition)
        let cs = sep.component == HL7Separators.none ? fs : UInt8(truncatingIfNeeded: sep.component)
        // Ends of MSH-3 ... MSH-18 (offsets in `seg`); fields past the segment's end stay unread.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { ends in
            var count = 0
            if seg.scan(for: fs, from: from, { i in
                ends[count] = i
                count &+= 1
                return count == 16
            }) == n, count < 16 {
                ends[count] = n
                count &+= 1
            }
            func span(_ a: Int, _ b: Int) -> Span { Span(base &+ a, base &+ b) }
            // Fields that end before a field separator with a standard segment's id (bit k: MSH-(k+3)).
            var endings: UInt32 = 0
            // The checks of the values ride on the scans that find them (one pass over each
            // byte); what the scans cannot settle is left to `checkHeader`. MSH-3..6 as the
            // direction's last message had them are not checked again.
            let ids = sep.identifierChars
            let hdEnd = count >= 4 ? ends[3] : 0
            let remembered = count >= 4 && memo.matches(seg, from, hdEnd &- from, terminated: hdEnd < n, sep)
            if remembered {
                invalid |= memo.invalid
                endings |= memo.endings
            }
            seg.withBytes { p in
                var start = from
                for k in 0..<count {
                    let end = ends[k]
                    defer { start = end &+ 1 }
                    // A field ending with a segment id: looked at where it is the id alone or a
                    // field not written (a written one only if it fails its check, below).
                    if end < n, k > 3 || !remembered,
                       end &- start == 3 || end &- start > 3 && Self.writtenMSH >> UInt32(k) & 1 == 0,
                       HL7Check.endsWithSegmentID(seg, end) { endings |= 1 << UInt32(k) }
                    switch k &+ 3 {
                    case 3, 4, 5, 6:
                        // The first component of the first repetition (HD namespace id); the
                        // whole first repetition must be an HD for it to be written.
                        var i = start
                        if remembered {
                            while i < end, p[i] != cs, p[i] != rs { i &+= 1 }
                        } else {
                            var plain = true
                            while i < end {
                                let b = p[i]
                                if b == cs || b == rs { break }
                                plain = plain && ids.contains(b)
                                i &+= 1
                            }
                            if i > start && (i == end || p[i] == rs) && (!plain || i &- start > 64) {
                                // A namespace id alone (nearly every message) that is no HD.
                                invalid |= HL7Field.mask(HL7Segment.MSH, k &+ 3)
                            }
                        }
                        let c1 = span(start, i)
                        switch k &+ 3 {
                        case 3: sendingApplication = c1
                        case 4: sendingFacility = c1
                        case 5: receivingApplication = c1
                        default: receivingFacility = c1
                        }
                        guard !remembered, i > start, i < end, p[i] != rs else { break }
                        // More components: the whole first repetition must be an HD.
                        while i < end, p[i] != rs { i &+= 1 }
                        if !HL7Check.hd(seg._slice(start, i &- start), sep) { invalid |= HL7Field.mask(HL7Segment.MSH, k &+ 3) }
                    case 7, 11, 12:
                        // The first component of the first repetition.
                        var i = start
                        while i < end, p[i] != cs, p[i] != rs { i &+= 1 }
                        let c1 = span(start, i)
                        switch k &+ 3 {
                        case 7: dateTime = c1
                        case 11: processingID = c1
                        default: version = c1
                        }
                    case 9:
                        // Up to three components of the first repetition.
                        var i = start, c = start, comp = 1
                        while i < end {
                            let b = p[i]
                            if b == rs { break }
                            if b == cs {
                                if comp == 1 { messageType = span(c, i) } else if comp == 2 { triggerEvent = span(c, i) }
                                else if comp == 3 { structure = span(c, i) }
                                comp &+= 1
                                c = i &+ 1
                            }
                            i &+= 1
                        }
                        if comp == 1 { messageType = span(c, i) } else if comp == 2 { triggerEvent = span(c, i) }
                        else if comp == 3 { structure = span(c, i) }
                    case 10:
                        controlID = span(start, end)
                        var i = start
                        while i < end, ids.contains(p[i]) { i &+= 1 }
                        if i < end || end &- start > 64 { invalid |= HL7Field.controlID.bit }
                    case 16, 18:
                        // The first repetition.
                        var i = start
                        while i < end, p[i] != rs { i &+= 1 }
                        if k &+ 3 == 16 { applicationAckType = span(start, i) } else { characterSet = span(start, i) }
                    default:
                        break
                    }
                }
            }
            if count >= 4 && !remembered {
                let hd = HL7Field.from(HL7Segment.MSH, field: 3) & ~HL7Field.from(HL7Segment.MSH, field: 7)
                memo.remember(seg, from, hdEnd &- from, terminated: hdEnd < n, sep, invalid: invalid & hd, endings: endings & 0xF)
            }
            checkHeader(frame, sep)
            if invalid != 0 {
                // Values that failed their checks may be glued to the next segment's id.
                seg.withBytes { p in
                    var start = from
                    for k in 0..<count {
                        let end = ends[k]
                        defer { start = end &+ 1 }
                        if end < n, end &- start > 3, HL7Field.mask(HL7Segment.MSH, k &+ 3) & invalid != 0,
                           HL7Check.endsWithSegmentID(seg, end) { endings |= 1 << UInt32(k) }
                    }
                }
            }
            // Rare: a field that ends with a standard segment's id.
            while endings != 0 {
                let k = endings.trailingZeroBitCount
                endings &= endings &- 1
                let start = k == 0 ? from : ends[k &- 1] &+ 1, end = ends[k]
                let v = seg._slice(start, end &- start)
                if runsIn(HL7Segment.MSH, k &+ 3, v, v.count &- 3, next: HL7Check.setIDFollows(seg, end), sep) {
                    ranIn(HL7Segment.MSH, k &+ 3, id: base &+ end &- 3)
                    break
                }
            }
        }
    }

    /// MSH fields an event writes, bit k for MSH-(k+3): 3..7, 9..12, 18.
    static let writtenMSH: UInt32 = 0b1000_0011_1101_1111

    /// Checks the MSH values read (MSH-3..6 and MSH-10 are checked as they are read).
    private mutating func checkHeader(_ frame: ByteView, _ sep: HL7Separators) {
        check(.dateTime, dateTime, frame) { HL7Check.dateTime($0) }
        check(.messageType, messageType, frame) { HL7Check.code($0) }
        check(.triggerEvent, triggerEvent, frame) { HL7Check.code($0) }
        check(.structure, structure, frame) { HL7Check.structure($0) }
        check(.processingID, processingID, frame) { HL7Check.processingID($0) }
        check(.version, version, frame) { HL7Check.version($0) }
        check(.characterSet, characterSet, frame) { HL7Check.characterSet($0) }
        withheld = invalid
    }

    /// A non-empty value that fails its check is invalid (and withheld).
    @inline(__always)
    private mutating func check(_ f: HL7Field, _ span: Span, _ frame: ByteView, _ ok: (ByteView) -> Bool) {
        if !span.isEmpty && !ok(span.view(frame)) { invalid |= f.bit }
    }

    /// Whether field `n` of a segment, `v`, which ends with a standard segment's id at `at`
    /// just before a field separator, ran into that segment (`next`: whether the field after
    /// it is empty or a number of up to four digits, as the set id that starts most segments).
    /// - The id glued to other bytes (`2.5PID`): a field an event writes must fail its check
    ///   and pass it without the id; a field it does not write (MSH-8, MSH-13..17) ran in.
    /// - The id alone (`|PID|`): where the next field looks like a set id, or where the field
    ///   an event writes fails its check (`PID` as MSH-18); a field it does not write ran in,
    ///   except a three-letter MSH-17 (a country code: PRT and TCD are segment ids too) unless
    ///   MSH-18 after it fails its check.
    func runsIn(_ segment: UInt32, _ n: Int, _ v: ByteView, _ at: Int, next: Bool, _ sep: HL7Separators) -> Bool {
        let written = HL7Field.mask(segment, n)
        guard at == 0 else {
            return written == 0 || invalid & written != 0 && HL7Check.fieldValue(segment, n, v._slice(0, at), sep)
        }
        if next { return true }
        if written != 0 { return invalid & written != 0 }
        if segment == HL7Segment.MSH && n == 17 { return invalid & HL7Field.characterSet.bit != 0 }
        return true
    }

    /// Field `n` of `segment` ran into another segment (whose id is at frame offset `id`):
    /// what the message read from that field on, in that segment, is withheld.
    mutating func ranIn(_ segment: UInt32, _ n: Int, id: Int) {
        let spoilt = HL7Field.from(segment, field: n)
        for f in HL7Field.all where spoilt & f.bit != 0 && !span(f).isEmpty { withheld |= f.bit }
        // The first in the message (MSH-2 is looked at after the other MSH fields).
        guard runInSegment == 0 || runInSegment == segment && n < runInField else { return }
        runInSegment = segment
        runInField = n
        runInID = id
    }

    /// The value of a field an event may write.
    func span(_ f: HL7Field) -> Span {
        switch f {
        case .sendingApplication: sendingApplication
        case .sendingFacility: sendingFacility
        case .receivingApplication: receivingApplication
        case .receivingFacility: receivingFacility
        case .dateTime: dateTime
        case .messageType: messageType
        case .triggerEvent: triggerEvent
        case .structure: structure
        case .controlID: controlID
        case .processingID: processingID
        case .version: version
        case .characterSet: characterSet
        case .ackCode: ackCode
        case .ackControlID: ackControlID
        case .errorCodeAndLocation: errorCodeAndLocation
        case .errorLocation: errorLocation
        case .errorCode: errorCode
        case .errorText: errorText
        case .errorSystem: errorSystem
        case .errorSeverity: errorSeverity
        case .eventType: eventType
        case .eventRecorded: eventRecorded
        }
    }

    /// Adds a segment that follows the MSH; returns its id when the segment list may name it
    /// (a valid id of a standard segment or a Z-segment).
    @discardableResult
    mutating func add(_ seg: ByteView, at base: Int, frame: ByteView) -> UInt32? {
        end = base + seg.count
        segmentCount += 1
        let sep = separators
        guard let id = HL7Segment.id(seg, sep) else {
            invalidSegments += 1
            return nil
        }
        guard HL7SegmentIDs.isListed(id) else {
            invalidSegments += 1
            unknownSegments += 1
            return nil
        }
        switch id {
        case HL7Segment.MSA where !hasMSA:
            hasMSA = true
            HL7Segment.fields(seg, base: base, last: 2, sep) { n, span in
                if n == 1 { ackCode = span }
                if n == 2 { ackControlID = span }
            }
            check(.ackCode, ackCode, frame) { HL7AckCode($0) != .unknown }
            check(.ackControlID, ackControlID, frame) { HL7Check.controlID($0, sep) }
            withheld |= invalid
            if invalid & HL7Field.of(HL7Segment.MSA) != 0 || Self.mayRunIn(ackCode, seg, base) || Self.mayRunIn(ackControlID, seg, base) {
                finishChecks(HL7Segment.MSA, seg, base, frame, sep)
            }
        case HL7Segment.ERR:
            errorCount += 1
            guard errorCount == 1 else { return id }
            HL7Segment.fields(seg, base: base, last: 4, sep) { n, span in
                switch n {
                case 1: errorCodeAndLocation = HL7Segment.firstRepetition(frame, span, sep)
                case 2: errorLocation = HL7Segment.firstRepetition(frame, span, sep)
                case 3:
                    errorCode = HL7Segment.component(frame, span, 1, sep)
                    errorText = HL7Segment.component(frame, span, 2, sep)
                    errorSystem = HL7Segment.component(frame, span, 3, sep)
                case 4: errorSeverity = HL7Segment.firstRepetition(frame, span, sep)
                default: break
                }
            }
            check(.errorCodeAndLocation, errorCodeAndLocation, frame) { HL7Check.errorCodeAndLocation($0, sep) }
            check(.errorLocation, errorLocation, frame) { HL7Check.errorLocation($0, sep) }
            let code = HL7Check.errorCode(errorCode.view(frame))
            check(.errorCode, errorCode, frame) { _ in code >= 0 }
            check(.errorText, errorText, frame) { HL7Check.errorText(code, $0) }
            check(.errorSystem, errorSystem, frame) { HL7Check.codingSystem($0) }
            check(.errorSeverity, errorSeverity, frame) { HL7Check.severity($0) }
            withheld |= invalid
            finishChecks(HL7Segment.ERR, seg, base, frame, sep)
        case HL7Segment.EVN where eventType.isEmpty && eventRecorded.isEmpty:
            HL7Segment.fields(seg, base: base, last: 2, sep) { n, span in
                if n == 1 { eventType = HL7Segment.firstRepetition(frame, span, sep) }
                if n == 2 { eventRecorded = HL7Segment.component(frame, span, 1, sep) }
            }
            check(.eventType, eventType, frame) { HL7Check.code($0) }
            check(.eventRecorded, eventRecorded, frame) { HL7Check.dateTime($0) }
            withheld |= invalid
            if invalid & HL7Field.of(HL7Segment.EVN) != 0 || Self.mayRunIn(eventType, seg, base) || Self.mayRunIn(eventRecorded, seg, base) {
                finishChecks(HL7Segment.EVN, seg, base, frame, sep)
            }
        case HL7Segment.PID:
            pidCount += 1
        default:
            break
        }
        return id
    }

    /// What follows a field that ran into another segment is withheld (after a segment's values
    /// are checked, when one failed or `mayRunIn`). The values' own spans say where to look:
    /// a value that ends its field just before a field separator, and is a standard segment's
    /// id alone (3 bytes) or failed its check (only then is its whole field found).
    private mutating func finishChecks(_ segment: UInt32, _ seg: ByteView, _ base: Int, _ frame: ByteView,
                                       _ sep: HL7Separators) {
        let fs = UInt8(truncatingIfNeeded: sep.field), segEnd = base + seg.count
        var found = 0, foundEnd = 0
        var rest = HL7Field.of(segment)
        while rest != 0 {
            guard let f = HL7Field(rawValue: rest.trailingZeroBitCount) else { break }
            rest &= rest &- 1
            let span = self.span(f)
            guard span.count >= 3, span.end < segEnd, frame._u8(span.end) == fs,
                  span.count == 3 || invalid & f.bit != 0 else { continue }
            // The whole field: back from the value's end to the separator before it.
            var start = Int(span.start)
            while start > base && frame._u8(start - 1) != fs { start -= 1 }
            let v = frame._slice(start, span.end - start)
            let n = Self.fieldNumber(seg, upTo: start - base, fs)
            guard HL7Check.endsWithSegmentID(v, v.count),
                  runsIn(segment, n, v, v.count - 3, next: HL7Check.setIDFollows(seg, span.end - base), sep),
                  found == 0 || n < found else { continue }
            found = n
            foundEnd = span.end
        }
        if found > 0 { ranIn(segment, found, id: foundEnd - 3) }
    }

    /// Whether a value of 3 bytes that ends its field before a field separator is a standard
    /// segment's id (then `finishChecks` looks further).
    @inline(__always)
    private static func mayRunIn(_ span: Span, _ seg: ByteView, _ base: Int) -> Bool {
        let end = span.end &- base
        guard span.count == 3, end < seg.count, seg._u8(end) == seg._u8(3) else { return false }
        return HL7Check.endsWithSegmentID(seg, end)
    }

    /// The number of the field that starts at `offset` of a segment (its field separators before it).
    private static func fieldNumber(_ seg: ByteView, upTo offset: Int, _ fs: UInt8) -> Int {
        var n = 0
        for i in 0..<offset where seg._u8(i) == fs { n += 1 }
        return n
    }
}

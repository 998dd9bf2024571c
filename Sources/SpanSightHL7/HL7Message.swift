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
        return (s, i)
    }

    /// True when `c` is already one of the delimiters.
    func has(_ c: UInt16) -> Bool {
        c == field || c == component || c == repetition || c == escape || c == subcomponent
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
    var invalidSegments = 0
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

    var isAck: Bool { hasMSA }

    /// No message (a placeholder until the first MSH).
    init() {}

    /// Starts a message at its MSH segment: MSH-3 ... MSH-18 are read (`readHeaderFields`), the
    /// rest of the segment is not.
    init(header seg: ByteView, at base: Int, frame: ByteView) {
        start = base
        end = base + seg.count
        segmentCount = 1
        let (sep, msh2End) = HL7Separators.read(header: seg)
        separators = sep
        if sep.field != HL7Separators.none && msh2End < seg.count {
            readHeaderFields(seg, base: base, from: msh2End + 1, sep)
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
    private mutating func readHeaderFields(_ seg: ByteView, base: Int, from: Int, _ sep: HL7Separators) {
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
            seg.withBytes { p in
                var start = from
                for k in 0..<count {
                    let end = ends[k]
                    defer { start = end &+ 1 }
                    switch k &+ 3 {
                    case 3, 4, 5, 6, 7, 11, 12:
                        // The first component of the first repetition.
                        var i = start
                        while i < end, p[i] != cs, p[i] != rs { i &+= 1 }
                        let c1 = span(start, i)
                        switch k &+ 3 {
                        case 3: sendingApplication = c1
                        case 4: sendingFacility = c1
                        case 5: receivingApplication = c1
                        case 6: receivingFacility = c1
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
        }
    }

    /// Adds a segment that follows the MSH; returns its id when it has a valid one.
    @discardableResult
    mutating func add(_ seg: ByteView, at base: Int, frame: ByteView) -> UInt32? {
        end = base + seg.count
        segmentCount += 1
        let sep = separators
        guard let id = HL7Segment.id(seg, sep) else {
            invalidSegments += 1
            return nil
        }
        switch id {
        case HL7Segment.MSA where !hasMSA:
            hasMSA = true
            HL7Segment.fields(seg, base: base, last: 2, sep) { n, span in
                if n == 1 { ackCode = span }
                if n == 2 { ackControlID = span }
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
        case HL7Segment.EVN where eventType.isEmpty && eventRecorded.isEmpty:
            HL7Segment.fields(seg, base: base, last: 2, sep) { n, span in
                if n == 1 { eventType = HL7Segment.firstRepetition(frame, span, sep) }
                if n == 2 { eventRecorded = HL7Segment.component(frame, span, 1, sep) }
            }
        case HL7Segment.PID:
            pidCount += 1
        default:
            break
        }
        return id
    }
}

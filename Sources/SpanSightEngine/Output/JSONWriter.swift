// UNSAFE: copies of checked ranges into the output buffer (`rawBytes`, the stamp cache) and
// an 8-byte-at-a-time scan for bytes that need escaping, within the view's count.
import SpanSightWire

/// An append-only JSON builder over one reused byte buffer: keys are StaticStrings, values are
/// written straight into the buffer (no intermediate String), commas are tracked per nesting
/// level. Events are built one at a time and flushed by `EventOutput`.
public struct JSONWriter {
    public var bytes: OutputBuffer
    /// Bit n set: the container at depth n already holds a member (so the next needs a comma).
    var hasMember: UInt64 = 0
    var depth: Int = 0
    /// The second of the last timestamp written and its "YYYY-MM-DDTHH:MM:SS" (19 bytes):
    /// consecutive events nearly always share their second, and the calendar arithmetic is most
    /// of a timestamp's cost.
    var stampSecond = Int64.min
    var stampText = InlineArray<19, UInt8>(repeating: 0)

    public init(capacity: Int = 1 << 16) {
        bytes = OutputBuffer(capacity: capacity)
    }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        hasMember = 0
        depth = 0
    }

    // MARK: structure

    mutating func separator() {
        let bit: UInt64 = 1 << UInt64(depth & 63)
        if hasMember & bit != 0 { bytes.append(UInt8(ascii: ",")) } else { hasMember |= bit }
    }

    mutating func open(_ c: UInt8) {
        bytes.append(c)
        depth += 1
        hasMember &= ~(1 << UInt64(depth & 63))
    }

    mutating func close(_ c: UInt8) {
        bytes.append(c)
        depth -= 1
    }

    public mutating func beginObject() { separatorIfInArray(); open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { separatorIfInArray(); open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Values inside arrays need separators; values after a key do not (the key wrote it).
    var afterKey = false
    mutating func separatorIfInArray() {
        if afterKey { afterKey = false; return }
        if depth > 0 { separator() }
    }

    /// Inlined into this module's `field`, `beginObject` and envelope writers (one call per
    /// member instead of two); other modules call it.
    @inline(__always)
    public mutating func key(_ k: StaticString) {
        guard k.hasPointerRepresentation else { key(k.description); return }
        let bit: UInt64 = 1 << UInt64(depth & 63)
        let comma = hasMember & bit != 0
        hasMember |= bit
        // Wrapping arithmetic: a key is a literal of the program, a few bytes long.
        let n = k.utf8CodeUnitCount
        let p = bytes.tail(reserving: n &+ 4)
        let i = comma ? 1 : 0
        p[0] = UInt8(ascii: ",")    // overwritten by the quote when no comma is due
        p[i] = UInt8(ascii: "\"")
        JSONWriter.copy(p + (i &+ 1), k.utf8Start, n)
        p[i &+ 1 &+ n] = UInt8(ascii: "\"")
        p[i &+ 2 &+ n] = UInt8(ascii: ":")
        bytes.advance(i &+ 3 &+ n)
        afterKey = true
    }

    /// A key that is not known at compile time (escaped). Disfavoured, so that a literal
    /// key takes the StaticString overload (copied, no escape scan).
    @_disfavoredOverload
    public mutating func key(_ k: String) {
        separator()
        appendEscaped(k)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func beginObject(_ k: StaticString) { key(k); beginObject() }
    public mutating func beginArray(_ k: StaticString) { key(k); beginArray() }

    // MARK: values

    public mutating func value(_ v: Int) {
        separatorIfInArray()
        appendInt(v)
    }

    public mutating func value(_ v: UInt64) {
        separatorIfInArray()
        appendUInt(v)
    }

    public mutating func value(_ v: Bool) {
        separatorIfInArray()
        if v { raw("true") } else { raw("false") }
    }

    public mutating func null() {
        separatorIfInArray()
        raw("null")
    }

    /// A literal of the program: copied as it is (literals are plain names, never escaped).
    public mutating func value(_ s: StaticString) {
        separatorIfInArray()
        guard s.hasPointerRepresentation else {
            // A one-scalar literal can be stored as the scalar itself.
            s.withUTF8Buffer { appendEscaped(utf8: $0) }
            return
        }
        let n = s.utf8CodeUnitCount
        let p = bytes.tail(reserving: n &+ 2)
        p[0] = UInt8(ascii: "\"")
        JSONWriter.copy(p + 1, s.utf8Start, n)
        p[n &+ 1] = UInt8(ascii: "\"")
        bytes.advance(n &+ 2)
    }

    /// Copies a short run (a key, a name): up to 16 bytes as two overlapping word moves, no
    /// call into memmove; longer runs through it.
    @inline(__always)
    static func copy(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) {
        let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
        if n >= 8 && n <= 16 {
            d.storeBytes(of: s.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (d + n - 8).storeBytes(of: (s + n - 8).loadUnaligned(as: UInt64.self), as: UInt64.self)
        } else if n >= 4 && n < 8 {
            d.storeBytes(of: s.loadUnaligned(as: UInt32.self), as: UInt32.self)
            (d + n - 4).storeBytes(of: (s + n - 4).loadUnaligned(as: UInt32.self), as: UInt32.self)
        } else if n < 4 {
            for i in 0..<n { dst[i] = src[i] }
        } else {
            dst.update(from: src, count: n)
        }
    }

    /// A String value (escaped). Disfavoured, so that a literal value takes the StaticString
    /// overload (copied, no escape scan).
    @_disfavoredOverload
    public mutating func value(_ s: String) {
        separatorIfInArray()
        appendEscaped(s)
    }

    /// A string from wire bytes: valid UTF-8 is kept, invalid bytes and controls are escaped
    /// as \u00XX so that output is always valid JSON.
    public mutating func value(bytes v: ByteView) {
        separatorIfInArray()
        v.withBytes { appendEscaped(utf8: $0) }
    }

    public mutating func value(bytes v: [UInt8]) {
        separatorIfInArray()
        v.withUnsafeBufferPointer { appendEscaped(utf8: $0) }
    }

    /// A double with up to 6 decimals and at least one (latencies in seconds/milliseconds).
    public mutating func value(_ d: Double) {
        separatorIfInArray()
        guard d.isFinite else { raw("null"); return }
        guard abs(d) < 9.0e12 else {
            // Too large for the fixed-point path (wire floats can be anything): Swift's
            // shortest round-trip form, which is valid JSON for finite values.
            appendEscapedNumber("\(d)")
            return
        }
        var micros = Int64((d * 1_000_000).rounded())
        if micros < 0 { bytes.append(UInt8(ascii: "-")); micros = -micros }
        appendUInt(UInt64(micros / 1_000_000))
        let frac = micros % 1_000_000
        if frac != 0 {
            bytes.append(UInt8(ascii: "."))
            var digits = frac, width = 6
            while digits % 10 == 0 { digits /= 10; width -= 1 }
            appendPadded(UInt64(digits), width: width)
        } else {
            // Always a fraction: a field written from a Double reads as a float in every
            // event (an index that mapped `latency_ms` from a first `0` as an integer would
            // truncate every later value).
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(ascii: "0"))
        }
    }

    public mutating func value(_ ip: IPAddress) {
        separatorIfInArray()
        bytes.append(UInt8(ascii: "\""))
        if ip.isV4 {
            let v = ip.v4
            for i in 0..<4 {
                if i > 0 { bytes.append(UInt8(ascii: ".")) }
                appendUInt(UInt64((v >> UInt32(24 - 8 * i)) & 0xFF))
            }
        } else {
            ip.write { bytes.append($0) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A value as lower-case hex digits in a string, at least `width` digits ("1b").
    public mutating func hexValue(_ v: UInt64, width: Int = 2) {
        separatorIfInArray()
        bytes.append(UInt8(ascii: "\""))
        appendHexDigits(v, width: width)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A MAC address "00:1d:9c:00:00:01" from the low 48 bits.
    public mutating func macValue(_ v: UInt64) {
        separatorIfInArray()
        bytes.append(UInt8(ascii: "\""))
        for i in 0..<6 {
            if i > 0 { bytes.append(UInt8(ascii: ":")) }
            appendHexDigits((v >> UInt64(40 - 8 * i)) & 0xFF, width: 2)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Suricata's timestamp form: 2026-11-26T12:00:00.000123+0000 (UTC, microseconds).
    public mutating func timestampValue(nanos: Int64) {
        separatorIfInArray()
        var secs = nanos / 1_000_000_000
        var frac = nanos % 1_000_000_000
        if frac < 0 { frac += 1_000_000_000; secs -= 1 }
        if secs != stampSecond {
            var date = FixedBytes()
            Timestamp.write(nanos: nanos, into: &date)          // its first 19 bytes: the second
            for i in 0..<19 { stampText[i] = date.bytes[i] }
            stampSecond = secs
        }
        let micros = UInt64(frac / 1000)
        let p = bytes.tail(reserving: 33)
        p[0] = UInt8(ascii: "\"")
        stampText.span.withUnsafeBufferPointer { (p + 1).update(from: $0.baseAddress.unsafelyUnwrapped, count: 19) }
        p[20] = UInt8(ascii: ".")
        var m = micros
        for i in stride(from: 26, through: 21, by: -1) {
            p[i] = UInt8(truncatingIfNeeded: 48 &+ m % 10)
            m /= 10
        }
        p[27] = UInt8(ascii: "+"); p[28] = 48; p[29] = 48; p[30] = 48; p[31] = 48
        p[32] = UInt8(ascii: "\"")
        bytes.advance(33)
    }

    // MARK: key + value shorthands

    // The integer and boolean members write their value straight after the key (the key
    // already placed the comma): one call per member from other modules, no merged thunk.
    public mutating func field(_ k: StaticString, _ v: Int) {
        if v < 0 { key(k); afterKey = false; appendInt(v); return }
        integerMember(k, UInt64(v))
    }
    public mutating func field(_ k: StaticString, _ v: UInt64) { integerMember(k, v) }

    /// `,"key":digits` with one reservation and one pointer: the most common member of an
    /// event (ids, codes, counts, addresses).
    @inline(__always)
    mutating func integerMember(_ k: StaticString, _ v: UInt64) {
        guard k.hasPointerRepresentation else { key(k); afterKey = false; appendUInt(v); return }
        let bit: UInt64 = 1 << UInt64(depth & 63)
        let comma = hasMember & bit != 0
        hasMember |= bit
        let n = k.utf8CodeUnitCount
        let p = bytes.tail(reserving: n &+ 24)
        let i = comma ? 1 : 0
        p[0] = UInt8(ascii: ",")    // overwritten by the quote when no comma is due
        p[i] = UInt8(ascii: "\"")
        JSONWriter.copy(p + (i &+ 1), k.utf8Start, n)
        p[i &+ 1 &+ n] = UInt8(ascii: "\"")
        p[i &+ 2 &+ n] = UInt8(ascii: ":")
        let o = i &+ 3 &+ n
        bytes.advance(o &+ JSONWriter.writeDigits(v, p + o))
    }

    /// Writes the decimal digits of `v` at `p` (room for 20), returns how many.
    @inline(__always)
    static func writeDigits(_ v: UInt64, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        if v < 10 { p[0] = UInt8(truncatingIfNeeded: 48 &+ v); return 1 }
        let pairs = JSONWriter.digitPairs.utf8Start
        if v < 100 {
            let r = Int(truncatingIfNeeded: v) &* 2
            p[0] = pairs[r]; p[1] = pairs[r &+ 1]
            return 2
        }
        let digits = JSONWriter.digitCount(v)
        var n = v
        var i = digits
        while n >= 100 {
            let r = Int(truncatingIfNeeded: n % 100) &* 2
            n /= 100
            i &-= 2
            p[i] = pairs[r]
            p[i &+ 1] = pairs[r &+ 1]
        }
        if n >= 10 {
            let r = Int(truncatingIfNeeded: n) &* 2
            p[i &- 2] = pairs[r]
            p[i &- 1] = pairs[r &+ 1]
        } else {
            p[i &- 1] = UInt8(truncatingIfNeeded: 48 &+ n)
        }
        return digits
    }
    public mutating func field(_ k: StaticString, _ v: Bool) {
        key(k)
        afterKey = false
        if v { raw("true") } else { raw("false") }
    }
    public mutating func field(_ k: StaticString, _ v: StaticString) { key(k); value(v) }
    @_disfavoredOverload
    public mutating func field(_ k: StaticString, _ v: String) { key(k); value(v) }
    public mutating func field(_ k: StaticString, _ v: Double) { key(k); value(v) }
    public mutating func field(_ k: StaticString, _ v: IPAddress) { key(k); value(v) }
    public mutating func field(_ k: StaticString, bytes v: ByteView) { key(k); value(bytes: v) }
    public mutating func timestampField(_ k: StaticString, nanos: Int64) { key(k); timestampValue(nanos: nanos) }

    /// Ends the current top-level object with a newline (one NDJSON line).
    public mutating func endLine() {
        bytes.append(UInt8(ascii: "\n"))
        hasMember = 0
        depth = 0
        afterKey = false
    }

    // MARK: primitives

    /// Bytes already in JSON form (a rendered part of an event), copied as they are.
    mutating func rawBytes(_ p: UnsafePointer<UInt8>, _ n: Int) {
        guard n > 0 else { return }
        let d = bytes.tail(reserving: n)
        d.update(from: p, count: n)
        bytes.advance(n)
    }

    /// An anomaly's names: `event` (the stable name without its `proto.` prefix, Suricata's
    /// bare event name), `layer` (Suricata's `proto_parser`, or `proto_detect` for a probe's
    /// refusal) and `name` (the full stable name).
    public mutating func writeAnomalyNames(_ name: StaticString, layer: StaticString = "proto_parser") {
        let p = name.utf8Start, n = name.utf8CodeUnitCount
        var dot = 0
        while dot < n && p[dot] != UInt8(ascii: ".") { dot += 1 }
        key("event")
        if dot < n { plainStringValue(p + dot + 1, n - dot - 1) } else { value(name) }
        field("layer", layer)
        field("name", name)
    }

    /// A string value of the bytes' lower-case hex (at most `limit` bytes), written straight
    /// into the buffer: hex needs no escaping, so no scan and no scratch copy.
    public mutating func hexString(_ v: ByteView, limit: Int = Int.max) {
        separatorIfInArray()
        let n = max(0, min(v.count, limit))
        let d = bytes.tail(reserving: 2 &* n &+ 2)
        d[0] = UInt8(ascii: "\"")
        v.withBytes { src in
            for i in 0..<n {
                let b = src[i]
                let hi = b &>> 4, lo = b & 0xF
                d[1 &+ 2 &* i] = hi < 10 ? 48 &+ hi : 87 &+ hi
                d[2 &+ 2 &* i] = lo < 10 ? 48 &+ lo : 87 &+ lo
            }
        }
        d[2 &* n &+ 1] = UInt8(ascii: "\"")
        bytes.advance(2 &* n &+ 2)
    }

    /// A string value of bytes known to need no escaping (base64, hex), quoted.
    mutating func plainStringValue(_ p: UnsafePointer<UInt8>, _ n: Int) {
        separatorIfInArray()
        bytes.append(UInt8(ascii: "\""))
        rawBytes(p, n)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends literal bytes (no escaping).
    public mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func appendInt(_ v: Int) {
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendUInt(UInt64(bitPattern: Int64(v)).magnitudeOfNegative)
        } else {
            appendUInt(UInt64(v))
        }
    }

    /// "00" ... "99": two digits per division.
    static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// Decimal digits of `v` (at least 1).
    @inline(__always)
    static func digitCount(_ v: UInt64) -> Int {
        var d = 1
        var t = v
        while t >= 10_000 { t /= 10_000; d &+= 4 }
        if t >= 100 { d &+= t >= 1000 ? 3 : 2 } else if t >= 10 { d &+= 1 }
        return d
    }

    @inline(__always)
    mutating func appendUInt(_ v: UInt64) {
        if v < 10 { bytes.append(UInt8(truncatingIfNeeded: 48 &+ v)); return }
        let digits = JSONWriter.digitCount(v)
        let p = bytes.tail(reserving: digits)
        let pairs = JSONWriter.digitPairs.utf8Start
        var n = v
        var i = digits
        while n >= 100 {
            let r = Int(truncatingIfNeeded: n % 100) &* 2
            n /= 100
            i &-= 2
            p[i] = pairs[r]
            p[i &+ 1] = pairs[r &+ 1]
        }
        if n >= 10 {
            let r = Int(truncatingIfNeeded: n) &* 2
            p[i &- 2] = pairs[r]
            p[i &- 1] = pairs[r &+ 1]
        } else {
            p[i &- 1] = UInt8(truncatingIfNeeded: 48 &+ n)
        }
        bytes.advance(digits)
    }

    mutating func appendPadded(_ v: UInt64, width: Int) {
        var div: UInt64 = 1
        for _ in 1..<max(1, width) { div *= 10 }
        var n = v
        while div > 0 {
            bytes.append(UInt8(48 + (n / div) % 10))
            n %= div
            div /= 10
        }
    }

    mutating func appendHexDigits(_ v: UInt64, width: Int) {
        var digits = 1
        while digits < 16 && (v >> UInt64(4 * digits)) != 0 { digits += 1 }
        digits = max(digits, width)
        for i in stride(from: digits - 1, through: 0, by: -1) {
            let d = UInt8((v >> UInt64(4 * i)) & 0xF)
            bytes.append(d < 10 ? 48 + d : 87 + d)
        }
    }

    mutating func appendEscaped(_ s: String) {
        var s = s
        s.withUTF8 { appendEscaped(utf8: $0) }
    }

    /// Index of the first byte at or after `from` that JSON text cannot carry as it is (a
    /// control byte, a quote, a backslash, or a byte of 0x80 or more), or `u.count`. Eight
    /// bytes per step: the lowest flagged byte of each test is a true match.
    static func firstSpecial(_ u: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        let n = u.count
        var i = from
        guard let p = u.baseAddress else { return n }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let quote = ones &* 0x22, backslash = ones &* 0x5C, space = ones &* 0x20
        while i &+ 8 <= n {
            let x = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
            let xq = x ^ quote, xb = x ^ backslash
            let m = (x | (x &- space) & ~x | (xq &- ones) & ~xq | (xb &- ones) & ~xb) & highs
            if m != 0 { return i &+ (m.trailingZeroBitCount &>> 3) }
            i &+= 8
        }
        while i < n {
            let b = p[i]
            if b < 0x20 || b >= 0x80 || b == 0x22 || b == 0x5C { return i }
            i &+= 1
        }
        return n
    }

    mutating func appendEscaped(utf8 u: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var i = 0
        let n = u.count
        while i < n {
            // The run of bytes that need no escape, copied at once.
            let j = JSONWriter.firstSpecial(u, from: i)
            if j > i {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[i..<j]))
                i = j
                if i >= n { break }
            }
            let b = u[i]
            if b >= 0x20 && b < 0x80 {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(b)
                i += 1
                continue
            }
            if b < 0x20 {
                switch b {
                case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
                default: escapeByte(b)
                }
                i += 1
                continue
            }
            // Multi-byte UTF-8: copy the sequence when it is well formed, else escape the byte.
            let len = Self.utf8SequenceLength(u, i)
            if len > 0 {
                for k in 0..<len { bytes.append(u[i + k]) }
                i += len
            } else {
                escapeByte(b)
                i += 1
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func appendEscapedNumber(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func escapeByte(_ b: UInt8) {
        raw("\\u00")
        appendHexDigits(UInt64(b), width: 2)
    }

    /// Length of a well-formed UTF-8 sequence starting at `i` (2..4), or 0.
    static func utf8SequenceLength(_ u: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let b0 = u[i]
        let need: Int
        var lowerBound: UInt8 = 0x80, upperBound: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: need = 2
        case 0xE0: need = 3; lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 3
        case 0xED: need = 3; upperBound = 0x9F
        case 0xF0: need = 4; lowerBound = 0x90
        case 0xF1...0xF3: need = 4
        case 0xF4: need = 4; upperBound = 0x8F
        default: return 0
        }
        guard i + need <= u.count else { return 0 }
        let b1 = u[i + 1]
        guard b1 >= lowerBound && b1 <= upperBound else { return 0 }
        for k in 2..<need where u[i + k] & 0xC0 != 0x80 { return 0 }
        return need
    }
}

extension UInt64 {
    /// |v| for a value that is the bit pattern of a negative Int64.
    var magnitudeOfNegative: UInt64 { ~self &+ 1 }
}

/// UTC calendar formatting from Unix nanoseconds, without Foundation.
public enum Timestamp {
    /// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (civil-from-days).
    public static func civil(days z0: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (m <= 2 ? y + 1 : y, m, d)
    }


    public static func write<Out: TimestampSink>(nanos: Int64, into out: inout Out) {
        var secs = nanos / 1_000_000_000
        var frac = nanos % 1_000_000_000
        if frac < 0 { frac += 1_000_000_000; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civil(days: days)
        func two(_ v: Int) { out.append(UInt8(48 + v / 10)); out.append(UInt8(48 + v % 10)) }
        let year = Int(max(0, min(9999, y)))
        out.append(UInt8(48 + year / 1000)); out.append(UInt8(48 + (year / 100) % 10))
        two(year % 100)
        out.append(UInt8(ascii: "-")); two(m)
        out.append(UInt8(ascii: "-")); two(d)
        out.append(UInt8(ascii: "T")); two(Int(rem / 3600))
        out.append(UInt8(ascii: ":")); two(Int(rem / 60 % 60))
        out.append(UInt8(ascii: ":")); two(Int(rem % 60))
        out.append(UInt8(ascii: "."))
        let micros = Int(frac / 1000)
        var div = 100_000
        while div > 0 {
            out.append(UInt8(48 + (micros / div) % 10))
            div /= 10
        }
        _ = micros
        let tz: StaticString = "+0000"
        out.append(contentsOf: UnsafeBufferPointer(start: tz.utf8Start, count: tz.utf8CodeUnitCount))
    }

    /// The timestamp as a String (cold path).
    public static func string(nanos: Int64) -> String {
        var b = OutputBuffer(capacity: 64)
        write(nanos: nanos, into: &b)
        return String(decoding: b.array, as: UTF8.self)
    }
}

/// Where a timestamp can be written.
public protocol TimestampSink {
    mutating func append(_ b: UInt8)
    mutating func append(contentsOf p: UnsafeBufferPointer<UInt8>)
}

/// A timestamp's bytes on the stack (no buffer object): at most 32.
struct FixedBytes: TimestampSink {
    var bytes = InlineArray<32, UInt8>(repeating: 0)
    var count = 0
    mutating func append(_ b: UInt8) {
        if count < 32 { bytes[count] = b; count += 1 }
    }
    mutating func append(contentsOf p: UnsafeBufferPointer<UInt8>) { for b in p { append(b) } }
}

extension OutputBuffer: TimestampSink {}

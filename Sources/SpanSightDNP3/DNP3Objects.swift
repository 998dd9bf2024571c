// UNSAFE: point values are formatted into a stack buffer (`DNP3NumberText`) through its
// base address, within its fixed size.
import SpanSightEngine
import SpanSightWire

/// An application-layer object header (IEEE 1815-2012 clause 4.2.2.7): group, variation,
/// qualifier (object prefix code in bits 4-6, range specifier code in bits 0-3) and the range
/// field (start/stop indexes or a count).
public struct DNP3ObjectHeader: Equatable, Sendable {
    public var group: UInt8
    public var variation: UInt8
    public var qualifier: UInt8
    /// Start and stop indexes (range codes 0x00-0x05).
    public var start: UInt32 = 0
    public var stop: UInt32 = 0
    /// Object count (range codes 0x07-0x09, 0x0B).
    public var count: UInt32 = 0
    /// Octets of the header including the range field.
    public var size: Int = 3

    public var prefixCode: UInt8 { (qualifier >> 4) & 0x07 }
    public var rangeCode: UInt8 { qualifier & 0x0F }
    public var hasStartStop: Bool { rangeCode <= 0x05 }
    public var hasCount: Bool { (rangeCode >= 0x07 && rangeCode <= 0x09) || rangeCode == 0x0B }

    /// False when the range field is reserved or cut short (only group, variation and
    /// qualifier are known).
    public var rangeRead = true

    /// Number of objects the range field announces.
    public var pointCount: Int {
        guard rangeRead else { return 0 }
        if hasStartStop { return Int(stop) - Int(start) + 1 }
        if hasCount { return Int(count) }
        return 0
    }

    /// Octets of each object's index prefix (prefix codes 1-3).
    var indexPrefixSize: Int {
        switch prefixCode {
        case 1: return 1
        case 2: return 2
        case 3: return 4
        default: return 0
        }
    }

    /// Octets of each object's size prefix (prefix codes 4-6).
    var sizePrefixSize: Int {
        switch prefixCode {
        case 4: return 1
        case 5: return 2
        case 6: return 4
        default: return 0
        }
    }
}

/// Why the object walk of a fragment stopped early.
public enum DNP3ObjectError: Equatable, Sendable {
    /// A header or the objects of a header run past the end of the fragment (lying count).
    case truncated
    /// Reserved qualifier codes, a stop index below the start, packed objects with a prefix.
    case malformed
    /// An object whose size is not known and not given by a size prefix.
    case unknownObject

    var name: StaticString {
        switch self {
        case .truncated, .malformed: return "malformed"
        case .unknownObject: return "unknown_object"
        }
    }
}

/// One step of the object walk.
enum DNP3ObjectStep {
    /// An object header and its objects: data from `dataOffset`, next header at `next`.
    case object(DNP3ObjectHeader, dataOffset: Int, next: Int)
    /// The end of the fragment.
    case end
    /// The walk cannot go on. `header`/`dataOffset` are set when the header itself was read.
    case error(DNP3ObjectError, DNP3ObjectHeader?, dataOffset: Int)
}

/// Sizes and layouts of the objects SpanSight decodes (IEEE 1815-2012 clause A, object
/// library), with the point fields Suricata logs for them (its src/output-json-dnp3-objects.c,
/// generated from scripts/dnp3-gen/dnp3-objects.yaml). Sizes are in octets unless packed.
enum DNP3Layout: Equatable {
    /// Packed bits with no prefix: g1v1, g10v1, g12v3, g80v1 (1 bit), g3v1 (2 bits).
    case packed(bits: Int)
    /// A fixed-size object decoded by `format`.
    case fixed(DNP3PointFormat)
    /// Octet strings whose size is the variation (g110-g113).
    case octets(Int)
    /// Device attributes (g0): data type code, length, value.
    case attribute
    /// No object data (class data g60).
    case empty

    static func of(_ group: UInt8, _ v: UInt8) -> DNP3Layout? {
        typealias F = DNP3PointFormat
        // Group first, then variation: both switches compile to jump tables. Groups with the
        // same variations share a case. Flag families and counter bit names follow Suricata's
        // object table variation by variation (it names bits 6 and 7 differently across them).
        switch group {
        case 0: return .attribute
        case 1, 3, 10:
            // Binary (1), double-bit (3) inputs and binary output status (10): packed, or with flags.
            switch v {
            case 1: return .packed(bits: group == 3 ? 2 : 1)
            case 2: return .fixed(F(flags: group == 1 ? .binary : group == 3 ? .doubleBit : .output))
            default: return nil
            }
        case 2, 4:
            // Their events: flags, then no time, absolute time, relative time.
            let flags: F.Flags = group == 4 ? .doubleBit : .binary
            switch v {
            case 1: return .fixed(F(flags: flags))
            case 2: return .fixed(F(flags: flags, time: .absolute))
            case 3: return .fixed(F(flags: flags, time: .relative))
            default: return nil
            }
        case 11, 13:
            // Binary output events (11) and binary command events (13, a status octet).
            let flags: F.Flags = group == 11 ? .output : .commandStatus
            switch v {
            case 1: return .fixed(F(flags: flags))
            case 2: return .fixed(F(flags: flags, time: .absolute))
            default: return nil
            }
        case 12:
            switch v {
            case 3: return .packed(bits: 1)
            case 1, 2: return .fixed(F(special: .crob))
            default: return nil
            }
        case 20, 21, 22, 23:
            return counter(group, v)
        case 30:
            switch v {
            case 1: return .fixed(F(flags: .analog, value: .i32))
            case 2: return .fixed(F(flags: .analog, value: .i16))
            case 3: return .fixed(F(value: .i32))
            case 4: return .fixed(F(value: .i16))
            case 5: return .fixed(F(flags: .analog, value: .f32))
            case 6: return .fixed(F(flags: .analog, value: .f64))
            default: return nil
            }
        case 31:
            switch v {
            case 1: return .fixed(F(flags: .analog, value: .i32))
            case 2: return .fixed(F(flags: .analog, value: .i16))
            case 5: return .fixed(F(value: .i32))
            case 6: return .fixed(F(value: .i16))
            case 7: return .fixed(F(flags: .analog, value: .f32))
            case 8: return .fixed(F(flags: .analog, value: .f64))
            case 3: return .fixed(F(flags: .analog, value: .i32, time: .absolute))
            case 4: return .fixed(F(flags: .analog, value: .i16, time: .absolute))
            default: return nil
            }
        case 32, 33, 42, 43:
            // Analog events (32), frozen analog events (33), analog output events (42) carry
            // analog flags and `value`; analog command events (43) a status octet and
            // `commanded_value`.
            let flags: F.Flags = group == 43 ? .analogCommand : .analog
            let key: F.ValueKey = group == 43 ? .commandedValue : .value
            switch v {
            case 1: return .fixed(F(flags: flags, value: .i32, key: key))
            case 2: return .fixed(F(flags: flags, value: .i16, key: key))
            case 5: return .fixed(F(flags: flags, value: .f32, key: key))
            case 6: return .fixed(F(flags: flags, value: .f64, key: key))
            case 3: return .fixed(F(flags: flags, value: .i32, key: key, time: .absolute))
            case 4: return .fixed(F(flags: flags, value: .i16, key: key, time: .absolute))
            case 7: return .fixed(F(flags: flags, value: .f32, key: key, time: .absolute))
            case 8: return .fixed(F(flags: flags, value: .f64, key: key, time: .absolute))
            default: return nil
            }
        case 34:
            switch v {
            case 1: return .fixed(F(value: .u16, key: .deadbandValue))
            case 2: return .fixed(F(value: .u32, key: .deadbandValue))
            case 3: return .fixed(F(value: .f32, key: .deadbandValue))
            default: return nil
            }
        case 40:
            switch v {
            case 1: return .fixed(F(flags: .analog, value: .i32))
            case 2: return .fixed(F(flags: .analog, value: .i16))
            case 3: return .fixed(F(flags: .analog, value: .f32))
            case 4: return .fixed(F(flags: .analog, value: .f64))
            default: return nil
            }
        case 41:
            switch v {
            case 1: return .fixed(F(value: .i32, controlStatus: true))
            case 2: return .fixed(F(value: .i16, controlStatus: true))
            case 3: return .fixed(F(value: .f32, controlStatus: true))
            case 4: return .fixed(F(value: .f64, controlStatus: true))
            default: return nil
            }
        case 50:
            switch v {
            case 1, 3: return .fixed(F(time: .absolute))
            case 2: return .fixed(F(time: .absolute, special: .interval))
            case 4: return .fixed(F(time: .absolute, special: .intervalUnits))
            default: return nil
            }
        case 51:
            switch v {
            case 1, 2: return .fixed(F(time: .absolute))
            default: return nil
            }
        case 52:
            switch v {
            case 1: return .fixed(F(special: .delaySeconds))
            case 2: return .fixed(F(special: .delayMilliseconds))
            default: return nil
            }
        case 60:
            switch v {
            case 1...4: return .empty
            default: return nil
            }
        case 80:
            switch v {
            case 1: return .packed(bits: 1)
            default: return nil
            }
        case 102:
            switch v {
            case 1: return .fixed(F(value: .u8))
            default: return nil
            }
        case 110, 111, 112, 113: return .octets(Int(v))
        case 120:
            // Secure authentication: key status request (v3), session key status request (v4).
            switch v {
            case 3: return .fixed(F(special: .challengeUser))
            case 4: return .fixed(F(special: .user))
            default: return nil
            }
        case 121, 122:
            // Security statistics (121) and their events (122): flags, association, count.
            switch v {
            case 1: return .fixed(F(flags: .security, association: true, value: .u32, key: .countValue))
            case 2 where group == 122:
                return .fixed(F(flags: .security, association: true, value: .u32, key: .countValue, time: .absolute))
            default: return nil
            }
        default: return nil
        }
    }

    /// Counters (20), frozen counters (21), counter events (22), frozen counter events (23).
    static func counter(_ group: UInt8, _ v: UInt8) -> DNP3Layout? {
        typealias F = DNP3PointFormat
        // Variations without flags: 20v5-8, 21v9-12 (odd: 32-bit, even: 16-bit).
        let flagless = group == 20 ? v >= 5 && v <= 8 : group == 21 && v >= 9 && v <= 12
        let wide = v % 2 == 1
        if flagless { return .fixed(F(value: wide ? .u32 : .u16, key: .count)) }
        guard v >= 1 && v <= 8 && (group != 20 || v <= 4) else { return nil }
        // Suricata's names of flag bits 5-7, by variation.
        let bits: F.CounterBits
        switch (group, v) {
        case (_, 1), (20, 2), (21, 2), (22, 2), (22, 6), (23, 5), (23, 6): bits = .discontinuity
        case (21, 5), (21, 6): bits = .discontinuityReserved1
        default: bits = .reserved
        }
        let time: F.Time = group != 20 && v >= 5 ? .absolute : .none
        return .fixed(F(flags: .counter(bits), value: wide ? .u32 : .u16, key: .count, time: time))
    }
}

/// How one fixed-size point is laid out and logged: its octets in order (flags or status
/// octet, association, value, control status, time, special fields) and the names of its
/// fields in the log, which are Suricata's.
struct DNP3PointFormat: Equatable {
    /// The first octet and how its bits are named.
    enum Flags: Equatable {
        case none
        /// g1v2, g2: online restart comm_lost remote_forced local_forced chatter_filter reserved state.
        case binary
        /// g3v2, g4: online .. local_forced chatter_filter, state (bits 6-7).
        case doubleBit
        /// g10v2, g11: online .. local_forced reserved0 reserved1 state.
        case output
        /// g20-g23: online .. local_forced rollover, then bits 6-7 as `CounterBits` say.
        case counter(CounterBits)
        /// g30-g33, g40, g42: online .. local_forced over_range reference_err reserved0.
        case analog
        /// g121, g122: online .. local_forced reserved0 discontinuity reserved1.
        case security
        /// g13: status_code (bits 0-6), commanded_state (bit 7).
        case commandStatus
        /// g43: status_code (bits 0-6), reserved0 (bit 7).
        case analogCommand
    }
    /// Names of counter flag bits 6 and 7.
    enum CounterBits: Equatable {
        /// discontinuity, reserved0
        case discontinuity
        /// reserved0, reserved1
        case reserved
        /// discontinuity, reserved1
        case discontinuityReserved1
    }
    enum Value: Equatable { case none, u8, u16, u32, i16, i32, f32, f64 }
    /// The name of the value field.
    enum ValueKey: Equatable {
        case value, count, deadbandValue, commandedValue, countValue
        var name: StaticString {
            switch self {
            case .value: return "value"
            case .count: return "count"
            case .deadbandValue: return "deadband_value"
            case .commandedValue: return "commanded_value"
            case .countValue: return "count_value"
            }
        }
    }
    enum Time: Equatable { case none, absolute, relative }
    enum Special: Equatable {
        case none, crob, interval, intervalUnits, delaySeconds, delayMilliseconds
        /// g120v3: csq (u32), user_number (u16).
        case challengeUser
        /// g120v4: user_number (u16).
        case user
    }

    var flags = Flags.none
    /// An association id (u16) after the flags (g121, g122).
    var association = false
    var value = Value.none
    var key = ValueKey.value
    /// A control status octet after the value (g41).
    var controlStatus = false
    var time = Time.none
    var special = Special.none

    var size: Int {
        var s = flags == .none ? 0 : 1
        if association { s += 2 }
        switch value {
        case .none: break
        case .u8: s += 1
        case .u16, .i16: s += 2
        case .u32, .i32, .f32: s += 4
        case .f64: s += 8
        }
        if controlStatus { s += 1 }
        switch time {
        case .none: break
        case .absolute: s += 6
        case .relative: s += 2
        }
        switch special {
        case .none: break
        case .crob: s += 11
        case .interval: s += 4
        case .intervalUnits: s += 5
        case .delaySeconds, .delayMilliseconds, .user: s += 2
        case .challengeUser: s += 6
        }
        return s
    }
}

/// Walks the object headers of an application fragment without allocating. Two passes use
/// it: validation when the fragment completes (anomalies), then writing at emit time.
enum DNP3Objects {
    /// Function codes whose request objects are headers only (no object data unless a size
    /// prefix says otherwise): read, freezes, enable/disable unsolicited, assign class.
    static func headersOnly(_ fc: UInt8) -> Bool {
        switch fc {
        case 1, 7, 8, 9, 10, 11, 12, 20, 21, 22: return true
        default: return false
        }
    }

    /// Offset of the first object header in a fragment of function `fc`.
    static func objectsOffset(_ fc: UInt8) -> Int { DNP3Names.isResponse(fc) ? 4 : 2 }

    /// Reads the object header at `off`: nil when not even group, variation and qualifier
    /// fit; otherwise the header and, when its range field is reserved or cut, the error.
    static func header(_ v: ByteView, _ off: Int) -> (DNP3ObjectHeader, DNP3ObjectError?)? {
        guard let g = v.u8(at: off), let var_ = v.u8(at: off + 1), let q = v.u8(at: off + 2) else { return nil }
        var h = DNP3ObjectHeader(group: g, variation: var_, qualifier: q)
        let r = off + 3
        var ok = true
        switch h.rangeCode {
        case 0x00, 0x03:
            if let a = v.u8(at: r), let b = v.u8(at: r + 1) { h.start = UInt32(a); h.stop = UInt32(b); h.size = 5 } else { ok = false }
        case 0x01, 0x04:
            if let a = v.u16le(at: r), let b = v.u16le(at: r + 2) { h.start = UInt32(a); h.stop = UInt32(b); h.size = 7 } else { ok = false }
        case 0x02, 0x05:
            if let a = v.u32le(at: r), let b = v.u32le(at: r + 4) { h.start = a; h.stop = b; h.size = 11 } else { ok = false }
        case 0x06:
            h.size = 3
        case 0x07, 0x0B:
            if let c = v.u8(at: r) { h.count = UInt32(c); h.size = 4 } else { ok = false }
        case 0x08:
            if let c = v.u16le(at: r) { h.count = UInt32(c); h.size = 5 } else { ok = false }
        case 0x09:
            if let c = v.u32le(at: r) { h.count = c; h.size = 7 } else { ok = false }
        default:
            h.rangeRead = false
            return (h, .malformed)
        }
        if !ok {
            h.rangeRead = false
            return (h, .truncated)
        }
        return (h, nil)
    }

    /// True when the objects of `h` carry data in a fragment of function `fc`.
    static func carriesData(_ h: DNP3ObjectHeader, fc: UInt8) -> Bool {
        if h.sizePrefixSize > 0 { return true }
        if fc == 11 || fc == 12 { return h.group == 50 }
        return !headersOnly(fc)
    }

    /// True when the log lists the objects of `h` one by one (they carry data or an index).
    static func listsPoints(_ h: DNP3ObjectHeader, fc: UInt8) -> Bool {
        if h.indexPrefixSize > 0 { return true }
        guard carriesData(h, fc: fc) else { return false }
        return DNP3Layout.of(h.group, h.variation) != .empty || h.sizePrefixSize > 0
    }

    /// The object header at `off` and where the next one starts.
    static func next(_ v: ByteView, _ off: Int, fc: UInt8) -> DNP3ObjectStep {
        if off >= v.count { return .end }
        guard let (h, headerError) = header(v, off) else { return .error(.truncated, nil, dataOffset: off) }
        let data = off + h.size
        if let headerError { return .error(headerError, h, dataOffset: data) }
        if h.prefixCode == 7 || (h.hasStartStop && h.stop < h.start) { return .error(.malformed, h, dataOffset: data) }
        let n = h.pointCount
        let remaining = v.count - data
        let idx = h.indexPrefixSize
        var length = 0
        if h.sizePrefixSize > 0 {
            // Each object: [size][data]; walk them (bounded by the fragment).
            var p = data
            for _ in 0..<n {
                guard let size = sizePrefix(v, p, h.sizePrefixSize) else { return .error(.truncated, h, dataOffset: data) }
                p += h.sizePrefixSize
                guard size <= v.count - p else { return .error(.truncated, h, dataOffset: data) }
                p += size
            }
            length = p - data
        } else if !carriesData(h, fc: fc) || n == 0 {
            length = n * idx
        } else {
            guard let layout = DNP3Layout.of(h.group, h.variation) else { return .error(.unknownObject, h, dataOffset: data) }
            switch layout {
            case .packed(let bits):
                if idx != 0 { return .error(.malformed, h, dataOffset: data) }
                length = (n * bits + 7) / 8
            case .fixed(let f): length = n * (idx + f.size)
            case .octets(let s):
                // The variation is the string length: 0 is not a valid variation.
                if s == 0 { return .error(.malformed, h, dataOffset: data) }
                length = n * (idx + s)
            case .empty: length = n * idx
            case .attribute:
                var p = data
                for _ in 0..<n {
                    guard let len = v.u8(at: p + idx + 1) else { return .error(.truncated, h, dataOffset: data) }
                    p += idx + 2 + Int(len)
                    if p > v.count { return .error(.truncated, h, dataOffset: data) }
                }
                length = p - data
            }
        }
        guard length <= remaining else { return .error(.truncated, h, dataOffset: data) }
        return .object(h, dataOffset: data, next: data + length)
    }

    static func sizePrefix(_ v: ByteView, _ p: Int, _ width: Int) -> Int? {
        switch width {
        case 1: return v.u8(at: p).map { Int($0) }
        case 2: return v.u16le(at: p).map { Int($0) }
        default: return v.u32le(at: p).map { Int($0) }
        }
    }

    /// Result of the validation pass.
    struct Summary: Equatable {
        var objects = 0
        var error: DNP3ObjectError? = nil
        var tooManyObjects = false
        var tooManyPoints = false
    }

    /// Walks every header of `fragment` (function `fc`), checking sizes and caps.
    static func validate(_ fragment: ByteView, fc: UInt8, limits: DNP3Limits) -> Summary {
        var s = Summary()
        var off = objectsOffset(fc)
        while true {
            switch next(fragment, off, fc: fc) {
            case .end: return s
            case .error(let e, let h, _):
                s.error = e
                if let h, h.pointCount > limits.maxPointsPerObject, listsPoints(h, fc: fc) { s.tooManyPoints = true }
                return s
            case .object(let h, _, let n):
                s.objects += 1
                if s.objects > limits.maxObjectsPerFragment { s.tooManyObjects = true; return s }
                if h.pointCount > limits.maxPointsPerObject && listsPoints(h, fc: fc) { s.tooManyPoints = true }
                off = n
            }
        }
    }

    // MARK: writing

    /// Writes `"objects": [...]` (left out when the fragment has no object header, as Suricata
    /// does) and `"objects_error"` when the walk stopped early, straight from the fragment's
    /// bytes. Returns true when every object header was decoded (Suricata's `complete`).
    static func write(_ w: inout JSONWriter, _ fragment: ByteView, fc: UInt8, limits: DNP3Limits) -> Bool {
        var off = objectsOffset(fc)
        var objects = 0
        var budget = limits.maxLoggedPointsPerFragment
        var error: DNP3ObjectError? = nil
        var decoded = false
        walk: while objects < limits.maxObjectsPerFragment {
            switch next(fragment, off, fc: fc) {
            case .end:
                decoded = true
                break walk
            case .error(let e, let h, let data):
                error = e
                if let h {
                    if objects == 0 { w.beginArray("objects") }
                    objects += 1
                    writeObject(&w, h, fragment, data, fc: fc, budget: &budget, limits: limits)
                }
                break walk
            case .object(let h, let data, let n):
                if objects == 0 { w.beginArray("objects") }
                objects += 1
                writeObject(&w, h, fragment, data, fc: fc, budget: &budget, limits: limits)
                off = n
            }
        }
        if objects > 0 { w.endArray() }
        if let error { w.field("objects_error", error.name) }
        return decoded
    }

    /// One object header: Suricata's group, variation, qualifier, prefix_code, range_code,
    /// start and stop (start-stop ranges), count (objects announced: the count field, or
    /// stop - start + 1) and points (left out when none is listed).
    static func writeObject(_ w: inout JSONWriter, _ h: DNP3ObjectHeader, _ v: ByteView, _ data: Int,
                            fc: UInt8, budget: inout Int, limits: DNP3Limits) {
        w.beginObject()
        w.field("group", Int(h.group))
        w.field("variation", Int(h.variation))
        w.field("qualifier", Int(h.qualifier))
        w.field("prefix_code", Int(h.prefixCode))
        w.field("range_code", Int(h.rangeCode))
        if !h.rangeRead {
            // Reserved or cut range field: nothing more is known.
        } else if h.hasStartStop {
            w.field("start", Int(h.start))
            w.field("stop", Int(h.stop))
            if h.stop >= h.start { w.field("count", h.pointCount) }
        } else if h.hasCount {
            w.field("count", Int(h.count))
        }
        let n = max(0, h.pointCount)
        let shown = min(n, limits.maxLoggedPointsPerObject, max(0, budget))
        if n > 0 && listsPoints(h, fc: fc) {
            // The array is opened by the first point written (`beginPoint`).
            let written = writePoints(&w, h, v, data, fc: fc, limit: shown)
            if written > 0 { w.endArray() }
            budget -= written
            if written < n { w.field("points_truncated", true) }
        }
        w.endObject()
    }

    /// Opens point `k` (and before the first, the `points` array): `prefix` when the object
    /// has a prefix (the index or the size it carries), then `index`.
    @inline(__always)
    static func beginPoint(_ w: inout JSONWriter, _ k: Int, index: UInt64, prefix: UInt64?) {
        if k == 0 { w.beginArray("points") }
        w.beginObject()
        if let prefix { w.field("prefix", prefix) }
        w.field("index", index)
    }

    /// Writes up to `limit` points; stops early when the bytes run out. Returns how many.
    static func writePoints(_ w: inout JSONWriter, _ h: DNP3ObjectHeader, _ v: ByteView, _ data: Int,
                            fc: UInt8, limit: Int) -> Int {
        let idx = h.indexPrefixSize
        let sizeWidth = h.sizePrefixSize
        let hasData = carriesData(h, fc: fc)
        let layout = DNP3Layout.of(h.group, h.variation)
        var p = data
        var k = 0
        while k < limit {
            // The point's index: from the prefix, else from the range, else its position.
            var index: UInt64 = h.hasStartStop ? UInt64(h.start) + UInt64(k) : UInt64(k)
            var prefix: UInt64? = nil
            if idx > 0 {
                guard let i = sizePrefix(v, p, idx) else { return k }
                index = UInt64(i)
                prefix = index
                p += idx
            }
            if sizeWidth > 0 {
                guard let size = sizePrefix(v, p, sizeWidth), let body = v.slice(p + sizeWidth, size) else { return k }
                beginPoint(&w, k, index: index, prefix: UInt64(size))
                w.field("size", size)
                if case .fixed(let f)? = layout, size >= f.size { writeFixed(&w, f, body, 0) }
                w.endObject()
                p += sizeWidth + size
                k += 1
                continue
            }
            guard hasData, let layout else {
                beginPoint(&w, k, index: index, prefix: prefix)
                w.endObject()
                k += 1
                continue
            }
            switch layout {
            case .packed(let bits):
                let bit = k * bits
                guard let byte = v.u8(at: data + bit / 8) else { return k }
                let value = (Int(byte) >> (bit % 8)) & ((1 << bits) - 1)
                beginPoint(&w, k, index: index, prefix: prefix)
                // Suricata: `point` for the CROB pattern mask g12v3, `state` for the inputs.
                if h.group == 12 { w.field("point", value) } else { w.field("state", value) }
                w.endObject()
            case .fixed(let f):
                guard v.slice(p, f.size) != nil else { return k }
                beginPoint(&w, k, index: index, prefix: prefix)
                writeFixed(&w, f, v, p)
                w.endObject()
                p += f.size
            case .octets(let s):
                guard let body = v.slice(p, s) else { return k }
                beginPoint(&w, k, index: index, prefix: prefix)
                w.field("data", bytes: body)
                w.endObject()
                p += s
            case .empty:
                beginPoint(&w, k, index: index, prefix: prefix)
                w.endObject()
            case .attribute:
                guard let type = v.u8(at: p), let len = v.u8(at: p + 1),
                      let body = v.slice(p + 2, Int(len)) else { return k }
                beginPoint(&w, k, index: index, prefix: prefix)
                w.field("data_type", Int(type))
                w.field("length", Int(len))
                writeAttribute(&w, type, body)
                w.endObject()
                p += 2 + Int(len)
            }
            k += 1
        }
        return k
    }

    /// A binary floating-point value at full precision, as a JSON number: the shortest decimal
    /// form that reads back as the same value (Swift's: `1.234e-07`, `0.1` for the Float 0.1,
    /// `100.0`), formatted into a stack buffer (no String, no allocation). NaN and the
    /// infinities, which JSON cannot carry, are written as null.
    static func writeReal<F: BinaryFloatingPoint & TextOutputStreamable>(_ w: inout JSONWriter, _ key: StaticString, _ x: F) {
        w.key(key)
        guard x.isFinite else { w.null(); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: DNP3NumberText.capacity) { buf in
            var text = DNP3NumberText(buf.baseAddress.unsafelyUnwrapped)
            x.write(to: &text)
            let p = text.base, n = text.count
            // Finite values read "[-]d...": the sign, then the first digit through the writer
            // (which ends the key), then the rest of the text as it is.
            let sign = n > 0 && p[0] == UInt8(ascii: "-") ? 1 : 0
            guard n > sign, p[sign] >= UInt8(ascii: "0"), p[sign] <= UInt8(ascii: "9") else { w.null(); return }
            if sign == 1 { w.bytes.append(p[0]) }
            w.value(Int(p[sign] &- UInt8(ascii: "0")))
            if n > sign + 1 { w.bytes.append(contentsOf: UnsafeBufferPointer(start: p + sign + 1, count: n - sign - 1)) }
        }
    }

    /// A 48-bit little-endian value (DNP3 absolute time: ms since 1970-01-01 UTC).
    static func u48(_ v: ByteView, _ p: Int) -> UInt64? {
        guard let lo = v.u32le(at: p), let hi = v.u16le(at: p + 4) else { return nil }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// The first octet of a point: `flags` (ours: the octet as a number) and its bits under
    /// Suricata's names, each 0 or 1 (`state` of a double-bit input 0-3); status octets of
    /// command events as `status_code` and bit 7.
    static func writeFlags(_ w: inout JSONWriter, _ kind: DNP3PointFormat.Flags, _ b: UInt8) {
        let text: DNP3FlagText
        switch kind {
        case .none: return
        case .commandStatus:
            w.field("status_code", Int(b & 0x7F))
            w.field("commanded_state", Int(b >> 7))
            return
        case .analogCommand:
            w.field("status_code", Int(b & 0x7F))
            w.field("reserved0", Int(b >> 7))
            return
        case .binary: text = DNP3FlagText.binary
        case .doubleBit: text = DNP3FlagText.doubleBit
        case .output: text = DNP3FlagText.output
        case .counter(.discontinuity): text = DNP3FlagText.counterDiscontinuity
        case .counter(.reserved): text = DNP3FlagText.counterReserved
        case .counter(.discontinuityReserved1): text = DNP3FlagText.counterDiscontinuityReserved1
        case .analog: text = DNP3FlagText.analog
        case .security: text = DNP3FlagText.security
        }
        w.field("flags", Int(b))
        // `online` (bit 0) through the writer, which places its comma; the other members
        // are copied from the family's text with their digits patched: one copy instead of
        // a key and a number per bit (up to nine members per point).
        w.key("online")
        w.value(Int(b & 1))
        let n = text.text.utf8CodeUnitCount
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: DNP3FlagText.maxLength) { buf in
            let p = buf.baseAddress.unsafelyUnwrapped
            p.update(from: text.text.utf8Start, count: n)
            for j in 0..<text.count {
                let digit = text.doubleBitState && j == text.count - 1 ? b >> 6 : (b >> UInt8(j + 1)) & 1
                p[text.digits[j]] = 0x30 &+ digit
            }
            w.bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        }
    }

    /// Writes the fields of a fixed-size point at `p` (the caller proved `f.size` bytes).
    static func writeFixed(_ w: inout JSONWriter, _ f: DNP3PointFormat, _ v: ByteView, _ p0: Int) {
        var p = p0
        if f.flags != .none {
            if let b = v.u8(at: p) { writeFlags(&w, f.flags, b) }
            p += 1
        }
        if f.association {
            if let a = v.u16le(at: p) { w.field("association_id", Int(a)) }
            p += 2
        }
        let key = f.key.name
        switch f.value {
        case .none: break
        case .u8: if let x = v.u8(at: p) { w.field(key, Int(x)) }; p += 1
        case .u16: if let x = v.u16le(at: p) { w.field(key, Int(x)) }; p += 2
        case .i16: if let x = v.u16le(at: p) { w.field(key, Int(Int16(bitPattern: x))) }; p += 2
        case .u32: if let x = v.u32le(at: p) { w.field(key, Int(x)) }; p += 4
        case .i32: if let x = v.u32le(at: p) { w.field(key, Int(Int32(bitPattern: x))) }; p += 4
        case .f32:
            if let x = v.u32le(at: p) { writeReal(&w, key, Float(bitPattern: x)) }
            p += 4
        case .f64:
            if let lo = v.u32le(at: p), let hi = v.u32le(at: p + 4) {
                writeReal(&w, key, Double(bitPattern: UInt64(hi) << 32 | UInt64(lo)))
            }
            p += 8
        }
        if f.controlStatus { if let s = v.u8(at: p) { w.field("control_status", Int(s)) }; p += 1 }
        switch f.time {
        case .none: break
        case .absolute: if let t = u48(v, p) { w.field("timestamp", t) }; p += 6
        case .relative: if let t = v.u16le(at: p) { w.field("relative_time_ms", Int(t)) }; p += 2
        }
        switch f.special {
        case .none: break
        case .crob:
            // Control relay output block (A.8.1): the control code octet (ours, as a number)
            // and its fields, count, on and off times, status.
            if let code = v.u8(at: p), let count = v.u8(at: p + 1), let on = v.u32le(at: p + 2),
               let off = v.u32le(at: p + 6), let status = v.u8(at: p + 10) {
                w.field("control_code", Int(code))
                w.field("op_type", Int(code & 0x0F))
                w.field("qu", Int((code >> 4) & 1))
                w.field("cr", Int((code >> 5) & 1))
                w.field("tcc", Int(code >> 6))
                w.field("count", Int(count))
                w.field("ontime", Int(on))
                w.field("offtime", Int(off))
                w.field("status_code", Int(status & 0x7F))
                w.field("reserved", Int(status >> 7))
            }
        case .interval:
            if let i = v.u32le(at: p) { w.field("interval", Int(i)) }
        case .intervalUnits:
            if let i = v.u32le(at: p), let u = v.u8(at: p + 4) {
                w.field("interval_count", Int(i))
                w.field("interval_units", Int(u))
            }
        case .delaySeconds:
            if let d = v.u16le(at: p) { w.field("delay_secs", Int(d)) }
        case .delayMilliseconds:
            if let d = v.u16le(at: p) { w.field("delay_ms", Int(d)) }
        case .challengeUser:
            if let c = v.u32le(at: p), let u = v.u16le(at: p + 4) {
                w.field("csq", Int(c))
                w.field("user_number", Int(u))
            }
        case .user:
            if let u = v.u16le(at: p) { w.field("user_number", Int(u)) }
        }
    }

    /// Device attribute values (g0, IEEE 1815-2012 table 11-16 data type codes; Suricata does
    /// not decode g0): numbers in `value` (UINT (2) / INT (3) up to 8 octets, FLT (4) of 4 or
    /// 8 octets), strings in `data` (VSTR (1), OSTR/BSTR (5/6), escaped where not UTF-8),
    /// DNP3TIME (7) in `timestamp` (ms); anything else by its length only.
    static func writeAttribute(_ w: inout JSONWriter, _ type: UInt8, _ body: ByteView) {
        switch type {
        case 1, 5, 6:
            w.field("data", bytes: body)
        case 2, 3:
            guard body.count >= 1 && body.count <= 8 else { return }
            var x: UInt64 = 0
            for i in stride(from: body.count - 1, through: 0, by: -1) { x = x << 8 | UInt64(body._u8(i)) }
            if type == 3 && body.count < 8 && x & (1 << UInt64(body.count * 8 - 1)) != 0 {
                x |= ~UInt64(0) << UInt64(body.count * 8)
            }
            if type == 2 { w.field("value", x) } else { w.field("value", Int(Int64(bitPattern: x))) }
        case 4:
            if body.count == 4, let x = body.u32le(at: 0) { writeReal(&w, "value", Float(bitPattern: x)) }
            if body.count == 8, let lo = body.u32le(at: 0), let hi = body.u32le(at: 4) {
                writeReal(&w, "value", Double(bitPattern: UInt64(hi) << 32 | UInt64(lo)))
            }
        case 7:
            if body.count == 6, let t = u48(body, 0) { w.field("timestamp", t) }
        default:
            break
        }
    }
}

/// The text of one floating-point number, written by the standard library's shortest
/// round-trip formatting into a caller's stack buffer. Float and Double hand their digits to
/// `_writeASCII` (the stream requirement for ASCII text, which skips the String that `write`
/// would take); `write` is there for any other caller.
struct DNP3NumberText: TextOutputStream {
    /// Longest text: "-2.2250738585072014e-308" is 24 octets.
    static let capacity = 32
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    init(_ base: UnsafeMutablePointer<UInt8>) { self.base = base }

    mutating func append(_ b: UInt8) {
        if count < DNP3NumberText.capacity { base[count] = b; count &+= 1 }
    }

    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        for b in buffer { append(b) }
    }

    mutating func write(_ string: String) {
        for b in string.utf8 { append(b) }
    }
}

/// The members after `online` of a flags family (bits 1-7 under Suricata's names) as JSON
/// text with a placeholder digit per member, and where the digits are. The texts are
/// literals of the program, at most `maxLength` octets (checked when each is built).
struct DNP3FlagText {
    static let maxLength = 128
    let text: StaticString
    /// Offsets of the digits in `text`, bit 1 first.
    let digits: InlineArray<7, Int>
    let count: Int
    /// The last member is a double-bit `state` (bits 6-7).
    let doubleBitState: Bool

    init(_ text: StaticString, doubleBitState: Bool = false) {
        precondition(text.utf8CodeUnitCount <= DNP3FlagText.maxLength)
        var digits = InlineArray<7, Int>(repeating: 0)
        var count = 0
        let p = text.utf8Start
        for i in 0..<text.utf8CodeUnitCount where p[i] == UInt8(ascii: ":") && count < 7 {
            digits[count] = i + 1
            count += 1
        }
        self.text = text
        self.digits = digits
        self.count = count
        self.doubleBitState = doubleBitState
    }

    static let binary = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0,"reserved":0,"state":0"#)
    static let doubleBit = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0,"state":0"#, doubleBitState: true)
    static let output = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"reserved0":0,"reserved1":0,"state":0"#)
    static let counterDiscontinuity = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"rollover":0,"discontinuity":0,"reserved0":0"#)
    static let counterReserved = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"rollover":0,"reserved0":0,"reserved1":0"#)
    static let counterDiscontinuityReserved1 = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"rollover":0,"discontinuity":0,"reserved1":0"#)
    static let analog = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":0,"reference_err":0,"reserved0":0"#)
    static let security = DNP3FlagText(
        #","restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"reserved0":0,"discontinuity":0,"reserved1":0"#)
}

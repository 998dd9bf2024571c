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
/// library). Sizes are in octets unless packed.
enum DNP3Layout: Equatable {
    /// Packed bits with no prefix: g1v1, g10v1, g12v3, g80v1 (1 bit), g3v1 (2 bits).
    case packed(bits: Int)
    /// A fixed-size object decoded by `format`.
    case fixed(DNP3PointFormat)
    /// Octet strings whose size is the variation (g110-g113).
    case octets(Int)
    /// A fixed-size object logged by its size only.
    case opaque(Int)
    /// Device attributes (g0): data type code, length, value.
    case attribute
    /// No object data (class data g60).
    case empty

    static func of(_ group: UInt8, _ v: UInt8) -> DNP3Layout? {
        typealias F = DNP3PointFormat
        // Group first, then variation: both switches compile to jump tables. Groups with the
        // same variations share a case.
        switch group {
        case 0: return .attribute
        case 1, 3, 10:
            // Binary (1, output status 10) and double-bit (3) inputs: packed, or with flags.
            let double = group == 3
            switch v {
            case 1: return .packed(bits: double ? 2 : 1)
            case 2: return .fixed(F(flags: true, state: double ? .doubleBit : .binary))
            default: return nil
            }
        case 2, 4:
            // Their events: flags, then no time, absolute time, relative time.
            let state: F.State = group == 4 ? .doubleBit : .binary
            switch v {
            case 1: return .fixed(F(flags: true, state: state))
            case 2: return .fixed(F(flags: true, time: .absolute, state: state))
            case 3: return .fixed(F(flags: true, time: .relative, state: state))
            default: return nil
            }
        case 11, 13:
            switch v {
            case 1: return .fixed(F(flags: true, state: .binary))
            case 2: return .fixed(F(flags: true, time: .absolute, state: .binary))
            default: return nil
            }
        case 12:
            switch v {
            case 3: return .packed(bits: 1)
            case 1, 2: return .fixed(F(special: .crob))
            default: return nil
            }
        case 20:
            switch v {
            case 1, 3: return .fixed(F(flags: true, value: .u32))
            case 2, 4: return .fixed(F(flags: true, value: .u16))
            case 5, 7: return .fixed(F(value: .u32))
            case 6, 8: return .fixed(F(value: .u16))
            default: return nil
            }
        case 21:
            switch v {
            case 1, 3: return .fixed(F(flags: true, value: .u32))
            case 2, 4: return .fixed(F(flags: true, value: .u16))
            case 9, 11: return .fixed(F(value: .u32))
            case 10, 12: return .fixed(F(value: .u16))
            case 5, 7: return .fixed(F(flags: true, value: .u32, time: .absolute))
            case 6, 8: return .fixed(F(flags: true, value: .u16, time: .absolute))
            default: return nil
            }
        case 22, 23:
            switch v {
            case 1, 3: return .fixed(F(flags: true, value: .u32))
            case 2, 4: return .fixed(F(flags: true, value: .u16))
            case 5, 7: return .fixed(F(flags: true, value: .u32, time: .absolute))
            case 6, 8: return .fixed(F(flags: true, value: .u16, time: .absolute))
            default: return nil
            }
        case 30:
            switch v {
            case 1: return .fixed(F(flags: true, value: .i32))
            case 2: return .fixed(F(flags: true, value: .i16))
            case 3: return .fixed(F(value: .i32))
            case 4: return .fixed(F(value: .i16))
            case 5: return .fixed(F(flags: true, value: .f32))
            case 6: return .fixed(F(flags: true, value: .f64))
            default: return nil
            }
        case 31:
            switch v {
            case 1: return .fixed(F(flags: true, value: .i32))
            case 2: return .fixed(F(flags: true, value: .i16))
            case 5: return .fixed(F(value: .i32))
            case 6: return .fixed(F(value: .i16))
            case 7: return .fixed(F(flags: true, value: .f32))
            case 8: return .fixed(F(flags: true, value: .f64))
            case 3: return .fixed(F(flags: true, value: .i32, time: .absolute))
            case 4: return .fixed(F(flags: true, value: .i16, time: .absolute))
            default: return nil
            }
        case 32, 33, 42, 43:
            switch v {
            case 1: return .fixed(F(flags: true, value: .i32))
            case 2: return .fixed(F(flags: true, value: .i16))
            case 5: return .fixed(F(flags: true, value: .f32))
            case 6: return .fixed(F(flags: true, value: .f64))
            case 3: return .fixed(F(flags: true, value: .i32, time: .absolute))
            case 4: return .fixed(F(flags: true, value: .i16, time: .absolute))
            case 7: return .fixed(F(flags: true, value: .f32, time: .absolute))
            case 8: return .fixed(F(flags: true, value: .f64, time: .absolute))
            default: return nil
            }
        case 34:
            switch v {
            case 1: return .fixed(F(value: .u16))
            case 2: return .fixed(F(value: .u32))
            case 3: return .fixed(F(value: .f32))
            default: return nil
            }
        case 40:
            switch v {
            case 1: return .fixed(F(flags: true, value: .i32))
            case 2: return .fixed(F(flags: true, value: .i16))
            case 3: return .fixed(F(flags: true, value: .f32))
            case 4: return .fixed(F(flags: true, value: .f64))
            default: return nil
            }
        case 41:
            switch v {
            case 1: return .fixed(F(value: .i32, status: true))
            case 2: return .fixed(F(value: .i16, status: true))
            case 3: return .fixed(F(value: .f32, status: true))
            case 4: return .fixed(F(value: .f64, status: true))
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
            switch v {
            case 3: return .opaque(6)
            case 4: return .opaque(2)
            default: return nil
            }
        case 121:
            switch v {
            case 1: return .opaque(7)
            default: return nil
            }
        case 122:
            switch v {
            case 1: return .opaque(7)
            case 2: return .opaque(13)
            default: return nil
            }
        default: return nil
        }
    }
}

/// How one fixed-size point is laid out and logged.
struct DNP3PointFormat: Equatable {
    enum Value: Equatable { case none, u8, u16, u32, i16, i32, f32, f64 }
    enum Time: Equatable { case none, absolute, relative }
    enum State: Equatable { case none, binary, doubleBit }
    enum Special: Equatable { case none, crob, interval, intervalUnits, delaySeconds, delayMilliseconds }

    var flags = false
    var value = Value.none
    var status = false
    var time = Time.none
    var state = State.none
    var special = Special.none

    var size: Int {
        var s = flags ? 1 : 0
        switch value {
        case .none: break
        case .u8: s += 1
        case .u16, .i16: s += 2
        case .u32, .i32, .f32: s += 4
        case .f64: s += 8
        }
        if status { s += 1 }
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
        case .delaySeconds, .delayMilliseconds: s += 2
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
            case .opaque(let s): length = n * (idx + s)
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

    /// Writes `"objects": [...]` (and `"objects_error"` when the walk stopped early) for the
    /// fragment, straight from its bytes.
    static func write(_ w: inout JSONWriter, _ fragment: ByteView, fc: UInt8, limits: DNP3Limits) {
        var off = objectsOffset(fc)
        var objects = 0
        var budget = limits.maxLoggedPointsPerFragment
        var error: DNP3ObjectError? = nil
        w.beginArray("objects")
        walk: while objects < limits.maxObjectsPerFragment {
            switch next(fragment, off, fc: fc) {
            case .end: break walk
            case .error(let e, let h, let data):
                error = e
                if let h { writeObject(&w, h, fragment, data, fc: fc, budget: &budget, limits: limits) }
                break walk
            case .object(let h, let data, let n):
                writeObject(&w, h, fragment, data, fc: fc, budget: &budget, limits: limits)
                objects += 1
                off = n
            }
        }
        w.endArray()
        if let error { w.field("objects_error", error.name) }
    }

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
        } else if h.hasCount {
            w.field("count", Int(h.count))
        }
        let n = max(0, h.pointCount)
        let shown = min(n, limits.maxLoggedPointsPerObject, max(0, budget))
        if n > 0 && listsPoints(h, fc: fc) {
            w.field("point_count", n)
            w.beginArray("points")
            let written = writePoints(&w, h, v, data, fc: fc, limit: shown)
            w.endArray()
            budget -= written
            if written < n { w.field("points_truncated", true) }
        }
        w.endObject()
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
            if idx > 0 {
                guard let i = sizePrefix(v, p, idx) else { return k }
                index = UInt64(i)
                p += idx
            }
            if sizeWidth > 0 {
                guard let size = sizePrefix(v, p, sizeWidth), let body = v.slice(p + sizeWidth, size) else { return k }
                w.beginObject()
                w.field("index", index)
                w.field("size", size)
                if case .fixed(let f)? = layout, size >= f.size { writeFixed(&w, f, body, 0) }
                w.endObject()
                p += sizeWidth + size
                k += 1
                continue
            }
            guard hasData, let layout else {
                w.beginObject(); w.field("index", index); w.endObject()
                k += 1
                continue
            }
            switch layout {
            case .packed(let bits):
                let bit = k * bits
                guard let byte = v.u8(at: data + bit / 8) else { return k }
                let value = (Int(byte) >> (bit % 8)) & ((1 << bits) - 1)
                w.beginObject(); w.field("index", index); w.field("value", value); w.endObject()
            case .fixed(let f):
                guard v.slice(p, f.size) != nil else { return k }
                w.beginObject(); w.field("index", index)
                writeFixed(&w, f, v, p)
                w.endObject()
                p += f.size
            case .octets(let s):
                guard let body = v.slice(p, s) else { return k }
                w.beginObject(); w.field("index", index); w.field("value", bytes: body); w.endObject()
                p += s
            case .opaque(let s):
                guard v.slice(p, s) != nil else { return k }
                w.beginObject(); w.field("index", index); w.field("size", s); w.endObject()
                p += s
            case .empty:
                w.beginObject(); w.field("index", index); w.endObject()
            case .attribute:
                guard let type = v.u8(at: p), let len = v.u8(at: p + 1),
                      let body = v.slice(p + 2, Int(len)) else { return k }
                w.beginObject()
                w.field("index", index)
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

    /// A floating-point value: JSONWriter's fixed-point form holds magnitudes below about 9e12;
    /// larger integral-range values are written as integers, anything beyond Int64 as a string
    /// (cold path), NaN and infinities as null.
    static func writeDouble(_ w: inout JSONWriter, _ key: StaticString, _ d: Double) {
        w.key(key)
        if !d.isFinite || abs(d) < 9e12 {
            w.value(d)
        } else if abs(d) < 9.2e18 {
            w.value(Int(d.rounded()))
        } else {
            w.value(String(describing: d))
        }
    }

    /// A 48-bit little-endian value (DNP3 absolute time: ms since 1970-01-01 UTC).
    static func u48(_ v: ByteView, _ p: Int) -> UInt64? {
        guard let lo = v.u32le(at: p), let hi = v.u16le(at: p + 4) else { return nil }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// Writes the fields of a fixed-size point at `p` (the caller proved `f.size` bytes).
    static func writeFixed(_ w: inout JSONWriter, _ f: DNP3PointFormat, _ v: ByteView, _ p0: Int) {
        var p = p0
        if f.flags, let flags = v.u8(at: p) {
            w.field("flags", Int(flags))
            switch f.state {
            case .binary: w.field("value", Int(flags >> 7))
            case .doubleBit: w.field("value", Int(flags >> 6))
            case .none: break
            }
            p += 1
        }
        switch f.value {
        case .none: break
        case .u8: if let x = v.u8(at: p) { w.field("value", Int(x)) }; p += 1
        case .u16: if let x = v.u16le(at: p) { w.field("value", Int(x)) }; p += 2
        case .i16: if let x = v.u16le(at: p) { w.field("value", Int(Int16(bitPattern: x))) }; p += 2
        case .u32: if let x = v.u32le(at: p) { w.field("value", Int(x)) }; p += 4
        case .i32: if let x = v.u32le(at: p) { w.field("value", Int(Int32(bitPattern: x))) }; p += 4
        case .f32:
            if let x = v.u32le(at: p) { writeDouble(&w, "value", Double(Float(bitPattern: x))) }
            p += 4
        case .f64:
            if let lo = v.u32le(at: p), let hi = v.u32le(at: p + 4) {
                writeDouble(&w, "value", Double(bitPattern: UInt64(hi) << 32 | UInt64(lo)))
            }
            p += 8
        }
        if f.status { if let s = v.u8(at: p) { w.field("status", Int(s)) }; p += 1 }
        switch f.time {
        case .none: break
        case .absolute: if let t = u48(v, p) { w.field("timestamp", t) }; p += 6
        case .relative: if let t = v.u16le(at: p) { w.field("relative_time_ms", Int(t)) }; p += 2
        }
        switch f.special {
        case .none: break
        case .crob:
            if let code = v.u8(at: p), let count = v.u8(at: p + 1), let on = v.u32le(at: p + 2),
               let off = v.u32le(at: p + 6), let status = v.u8(at: p + 10) {
                w.field("control_code", Int(code))
                w.field("count", Int(count))
                w.field("on_time", Int(on))
                w.field("off_time", Int(off))
                w.field("status", Int(status))
            }
        case .interval:
            if let i = v.u32le(at: p) { w.field("interval", Int(i)) }
        case .intervalUnits:
            if let i = v.u32le(at: p), let u = v.u8(at: p + 4) { w.field("interval", Int(i)); w.field("units", Int(u)) }
        case .delaySeconds:
            if let d = v.u16le(at: p) { w.field("delay_ms", Int(d) * 1000) }
        case .delayMilliseconds:
            if let d = v.u16le(at: p) { w.field("delay_ms", Int(d)) }
        }
    }

    /// Device attribute values (g0, IEEE 1815-2012 table 11-16 data type codes): VSTR (1) as a
    /// string, UINT (2) / INT (3) up to 8 octets, FLT (4) of 4 or 8 octets, OSTR/BSTR (5/6) as
    /// an escaped string, DNP3TIME (7) as ms; anything else by its length only.
    static func writeAttribute(_ w: inout JSONWriter, _ type: UInt8, _ body: ByteView) {
        switch type {
        case 1, 5, 6:
            w.field("value", bytes: body)
        case 2, 3:
            guard body.count >= 1 && body.count <= 8 else { return }
            var x: UInt64 = 0
            for i in stride(from: body.count - 1, through: 0, by: -1) { x = x << 8 | UInt64(body._u8(i)) }
            if type == 3 && body.count < 8 && x & (1 << UInt64(body.count * 8 - 1)) != 0 {
                x |= ~UInt64(0) << UInt64(body.count * 8)
            }
            if type == 2 { w.field("value", x) } else { w.field("value", Int(Int64(bitPattern: x))) }
        case 4:
            if body.count == 4, let x = body.u32le(at: 0) { writeDouble(&w, "value", Double(Float(bitPattern: x))) }
            if body.count == 8, let lo = body.u32le(at: 0), let hi = body.u32le(at: 4) {
                writeDouble(&w, "value", Double(bitPattern: UInt64(hi) << 32 | UInt64(lo)))
            }
        case 7:
            if body.count == 6, let t = u48(body, 0) { w.field("value", t) }
        default:
            break
        }
    }
}

// UNSAFE: a lookup searches a registry's bytes with memmem(3) through their buffer's base
// address, within its count.
import CSpanSightHints
#if canImport(Glibc)
import Glibc
#endif

/// MAC vendor lookup from the IEEE registries as Debian's `ieee-data` package ships them
/// (/usr/share/ieee-data/oui.csv for MA-L 24-bit prefixes, mam.csv for MA-M 28-bit,
/// oui36.csv for MA-S 36-bit), read at run time so a newer package needs no rebuild. The
/// longest assignment wins. A locally administered address has no vendor by construction.
///
/// Start-up reads the files' bytes only. A lookup searches them for the prefix's row (memmem,
/// a fraction of a millisecond) and keeps the answer; past `scanLimit` distinct prefixes the
/// files are parsed into tables once, and lookups become table reads. (Parsing 50,000 rows at
/// every start cost a small capture's run most of its time.) One thread at a time.
public final class OUIRegistry: @unchecked Sendable {
    public static let defaultDirectory = "/usr/share/ieee-data"
    /// The registries read from the directory, with the prefix length of each.
    static let files: [(name: String, bits: Int)] = [("oui.csv", 24), ("mam.csv", 28), ("oui36.csv", 36)]
    /// Their file names (inputs of a run, which no output may overwrite).
    public static var fileNames: [String] { files.map(\.name) }
    /// Distinct prefixes searched for before the files are parsed whole.
    static let scanLimit = 48

    /// Where a name is in `names`.
    struct NameRange { var start: UInt32; var count: UInt32 }
    /// Each registry's bytes (dropped once parsed), by prefix length in bits.
    private var raw: [(bits: Int, bytes: [UInt8])] = []
    /// Once parsed: prefix tables per length in bits (24, 28, 36); the names' UTF-8 back to back
    /// in `names` (a String is made only for a name looked up).
    private var tables: [Int: [UInt64: NameRange]]? = nil
    private var names: [UInt8] = []
    /// Before: the answers of the searches so far, by length and prefix.
    private var searched: [UInt64: String?] = [:]
    /// Files read, for the report ("which registry").
    public private(set) var sources: [String] = []
    public var isEmpty: Bool { sources.isEmpty }

    public init(directory: String = OUIRegistry.defaultDirectory) {
        for (file, bits) in OUIRegistry.files {
            let path = directory + "/" + file
            guard let bytes = OUIRegistry.readFile(path), OUIRegistry.hasRows(bytes) else { continue }
            raw.append((bits, bytes))
            sources.append(path)
        }
    }

    /// Entries given directly (tests).
    public init(entries: [(String, String)]) {
        var t: [Int: [UInt64: NameRange]] = [24: [:], 28: [:], 36: [:]]
        for (hex, name) in entries {
            guard let v = UInt64(hex, radix: 16) else { continue }
            t[hex.count * 4, default: [:]][v] = NameRange(start: UInt32(names.count), count: UInt32(name.utf8.count))
            names.append(contentsOf: name.utf8)
        }
        tables = t
        sources = ["(given)"]
    }

    /// A line after the header.
    static func hasRows(_ b: [UInt8]) -> Bool {
        guard let nl = b.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) else { return false }
        return b[nl...].contains { $0 != 0x0A && $0 != 0x0D }
    }

    /// Parses every registry into tables (past `scanLimit` searches) and drops the raw bytes.
    private func parseAll() {
        var t: [Int: [UInt64: NameRange]] = [24: [:], 28: [:], 36: [:]]
        for (bits, bytes) in raw {
            var table: [UInt64: NameRange] = [:]
            table.reserveCapacity(bytes.count / 80)
            OUIRegistry.parse(bytes, hexDigits: bits / 4) { key, name in
                table[key] = NameRange(start: UInt32(names.count), count: UInt32(name.count))
                names.append(contentsOf: name)
            }
            t[bits] = table
        }
        tables = t
        raw = []
        searched = [:]
    }

    /// The name on the row of `prefix` (`bits` long) in its registry's bytes, searched.
    private func search(_ prefix: UInt64, bits: Int) -> String? {
        guard let bytes = raw.first(where: { $0.bits == bits })?.bytes else { return nil }
        let digits = bits / 4
        // ",HEX," with the prefix in upper case, as the registries write it.
        var needle: [UInt8] = [0x2C]
        for k in stride(from: digits - 1, through: 0, by: -1) {
            let v = UInt8(truncatingIfNeeded: prefix >> UInt64(4 * k)) & 0xF
            needle.append(v < 10 ? 0x30 + v : 0x41 + v - 10)
        }
        needle.append(0x2C)
        // Every row of it, the last one winning (as when the file is parsed whole: a few
        // assignments are listed twice).
        var from = 0
        var name: String? = nil
        while from < bytes.count {
            let hit: Int? = bytes.withUnsafeBytes { h in
                needle.withUnsafeBytes { n in
                    guard let base = h.baseAddress,
                          let p = CSpanSightHints_find(base + from, h.count - from, n.baseAddress, n.count) else { return nil }
                    return base.distance(to: UnsafeRawPointer(p))
                }
            }
            guard let at = hit else { break }
            // The assignment column: one comma (the registry's) since the line began.
            var start = at
            while start > 0 && bytes[start - 1] != 0x0A && bytes[start - 1] != 0x0D { start -= 1 }
            if !bytes[start..<at].contains(0x2C) && !bytes[start..<at].contains(0x22) && start < at {
                var end = at
                while end < bytes.count && bytes[end] != 0x0A && bytes[end] != 0x0D { end += 1 }
                // The row alone, after a header line for `parse`.
                OUIRegistry.parse([0x68, 0x0A] + bytes[start..<end], hexDigits: digits) { key, n in
                    if key == prefix { name = String(decoding: n, as: UTF8.self) }
                }
            }
            from = at + 1
        }
        return name
    }

    /// The organisation behind a MAC address, or nil.
    public func vendor(_ mac: UInt64) -> String? {
        for bits in [36, 28, 24] {
            let prefix = mac >> UInt64(48 - bits)
            if let t = tables {
                if let r = t[bits]?[prefix] {
                    return String(decoding: names[Int(r.start)..<Int(r.start + r.count)], as: UTF8.self)
                }
                continue
            }
            let key = UInt64(bits) << 56 | prefix
            if let known = searched[key] {
                if let name = known { return name }
                continue
            }
            if searched.count >= OUIRegistry.scanLimit {
                parseAll()
                return vendor(mac)
            }
            let found = search(prefix, bits: bits)
            searched[key] = .some(found)
            if let found { return found }
        }
        return nil
    }

    /// CSV rows "Registry,Assignment,Organization Name,Organization Address" (RFC 4180 quoting:
    /// a quoted field, "" for a quote), the first line a header, read as bytes: only the name of
    /// a row whose assignment has `hexDigits` hex digits is handed on, as its bytes. (Decoding
    /// the whole file as Characters, a String per name, took 0.2 s of every start.)
    static func parse(_ b: [UInt8], hexDigits: Int, _ add: (UInt64, ArraySlice<UInt8>) -> Void) {
        let n = b.count
        var i = 0
        var header = true
        var field: [UInt8] = []
        field.reserveCapacity(512)
        while i < n {
            // One line: [i, end), lines split at CR or LF, empty ones skipped.
            var end = i
            while end < n && b[end] != 0x0A && b[end] != 0x0D { end += 1 }
            defer { i = end + 1 }
            if end == i { continue }
            if header { header = false; continue }
            var k = i
            var index = 0
            var assignment: UInt64 = 0
            var assignmentOK = false
            while k <= end && index < 3 {
                // One field from k: up to a comma outside quotes, or the line's end.
                field.removeAll(keepingCapacity: true)
                var quoted = false
                while k < end {
                    let c = b[k]
                    if quoted {
                        if c == 0x22 {
                            if k + 1 < end && b[k + 1] == 0x22 { field.append(0x22); k += 1 } else { quoted = false }
                        } else {
                            field.append(c)
                        }
                    } else if c == 0x22 {
                        quoted = true
                    } else if c == 0x2C {
                        break
                    } else {
                        field.append(c)
                    }
                    k += 1
                }
                k += 1  // past the comma (or the line's end)
                switch index {
                case 1:
                    assignmentOK = field.count == hexDigits
                    for c in field where assignmentOK {
                        guard let v = hexValue(c) else { assignmentOK = false; break }
                        assignment = assignment << 4 | UInt64(v)
                    }
                    if !assignmentOK { index = 3 }
                case 2:
                    var lo = 0, hi = field.count
                    while lo < hi && (field[lo] == 0x20 || field[lo] == 0x09) { lo += 1 }
                    while hi > lo && (field[hi - 1] == 0x20 || field[hi - 1] == 0x09) { hi -= 1 }
                    if lo < hi { add(assignment, field[lo..<hi]) }
                default:
                    break
                }
                index += 1
            }
        }
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// The file's bytes, read whole (nil when it cannot be opened).
    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 18)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buf[0..<n])
        }
        return bytes
    }
}

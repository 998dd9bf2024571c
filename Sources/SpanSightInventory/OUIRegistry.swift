#if canImport(Glibc)
import Glibc
#endif

/// MAC vendor lookup from the IEEE registries as Debian's `ieee-data` package ships them
/// (/usr/share/ieee-data/oui.csv for MA-L 24-bit prefixes, mam.csv for MA-M 28-bit,
/// oui36.csv for MA-S 36-bit), read at run time so a newer package needs no rebuild. The
/// longest assignment wins. A locally administered address has no vendor by construction.
public final class OUIRegistry: @unchecked Sendable {
    public static let defaultDirectory = "/usr/share/ieee-data"
    /// The registries read from the directory, with the prefix length of each.
    static let files: [(name: String, bits: Int)] = [("oui.csv", 24), ("mam.csv", 28), ("oui36.csv", 36)]
    /// Their file names (inputs of a run, which no output may overwrite).
    public static var fileNames: [String] { files.map(\.name) }

    /// Prefix tables per length in bits (24, 28, 36).
    private var tables: [Int: [UInt64: String]] = [24: [:], 28: [:], 36: [:]]
    /// Files read, for the report ("which registry").
    public private(set) var sources: [String] = []
    public var isEmpty: Bool { tables.values.allSatisfy { $0.isEmpty } }

    public init(directory: String = OUIRegistry.defaultDirectory) {
        for (file, bits) in OUIRegistry.files {
            let path = directory + "/" + file
            guard let text = OUIRegistry.readFile(path) else { continue }
            var t: [UInt64: String] = [:]
            OUIRegistry.parse(text, hexDigits: bits / 4) { t[$0] = $1 }
            if !t.isEmpty {
                tables[bits] = t
                sources.append(path)
            }
        }
    }

    /// Entries given directly (tests).
    public init(entries: [(String, String)]) {
        for (hex, name) in entries {
            guard let v = UInt64(hex, radix: 16) else { continue }
            tables[hex.count * 4, default: [:]][v] = name
        }
        sources = ["(given)"]
    }

    /// The organisation behind a MAC address, or nil.
    public func vendor(_ mac: UInt64) -> String? {
        for bits in [36, 28, 24] {
            if let name = tables[bits]?[mac >> UInt64(48 - bits)] { return name }
        }
        return nil
    }

    /// CSV rows "Registry,Assignment,Organization Name,Organization Address"; the name may be
    /// quoted (with "" for a quote).
    static func parse(_ text: String, hexDigits: Int, _ add: (UInt64, String) -> Void) {
        var first = true
        for line in text.split(whereSeparator: { $0.isNewline }) {
            if first { first = false; continue }
            let fields = csvFields(line, max: 3)
            guard fields.count >= 3, fields[1].count == hexDigits, let v = UInt64(fields[1], radix: 16) else { continue }
            let name = fields[2].trimmingSpaces()
            if !name.isEmpty { add(v, name) }
        }
    }

    /// The first `max` comma-separated fields of a CSV line (RFC 4180 quoting).
    static func csvFields(_ line: Substring, max: Int) -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false
        var i = line.startIndex
        while i < line.endIndex && out.count < max {
            let c = line[i]
            if quoted {
                if c == "\"" {
                    let n = line.index(after: i)
                    if n < line.endIndex && line[n] == "\"" { cur.append("\""); i = n } else { quoted = false }
                } else { cur.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(cur); cur = ""
            } else if c != "\r" {
                cur.append(c)
            }
            i = line.index(after: i)
        }
        if out.count < max { out.append(cur) }
        return out
    }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buf[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

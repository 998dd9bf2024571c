import Foundation
import XCTest
@testable import SpanSightInventory

/// The MAC vendor registries, read as bytes, give what an RFC 4180 reading of them gives.
final class OUIRegistryTests: XCTestCase {
    /// The reference: every line (CR/LF split, header skipped) read Character by Character,
    /// the first three fields, the assignment of `hexDigits` hex digits, the name trimmed.
    static func reference(_ text: String, hexDigits: Int) -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }).dropFirst() {
            var fields: [String] = [], cur = "", quoted = false
            var i = line.startIndex
            while i < line.endIndex && fields.count < 3 {
                let c = line[i]
                if quoted {
                    if c == "\"" {
                        let n = line.index(after: i)
                        if n < line.endIndex && line[n] == "\"" { cur.append("\""); i = n } else { quoted = false }
                    } else { cur.append(c) }
                } else if c == "\"" { quoted = true } else if c == "," { fields.append(cur); cur = "" } else { cur.append(c) }
                i = line.index(after: i)
            }
            if fields.count < 3 { fields.append(cur) }
            guard fields.count >= 3, fields[1].utf8.count == hexDigits, fields[1].allSatisfy(\.isHexDigit),
                  let v = UInt64(fields[1], radix: 16) else { continue }
            let name = fields[2].trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
            if !name.isEmpty { out[v] = name }
        }
        return out
    }

    static func parsed(_ bytes: [UInt8], hexDigits: Int) -> [UInt64: String] {
        var t: [UInt64: String] = [:]
        OUIRegistry.parse(bytes, hexDigits: hexDigits) { t[$0] = String(decoding: $1, as: UTF8.self) }
        return t
    }

    func testQuotingTrimmingAndLineEnds() {
        let csv = "Registry,Assignment,Organization Name,Organization Address\r\n"
            + "MA-L,001B1B,Siemens AG,Nuernberg DE\r\n"
            + "MA-L,00800F,\"Standard Microsystems, Corp.\",\"12 Hauppauge, NY\"\n"
            + "MA-L,ABCDEF,\"Quote \"\"Inc\"\"\"  ,x\n\n"
            + "MA-L,0011,Too Short,x\n"
            + "MA-L,GG0000,Not Hex,x\n"
            + "MA-L,123456,   ,blank name\n"
            + "MA-L,A1B2C3,  Spaced Name\t\n"
            + "MA-L,C0FFEE\n"
            + "MA-L,0A0B0C,Ünïcode GmbH,x"
        let want: [UInt64: String] = [0x001B1B: "Siemens AG", 0x00800F: "Standard Microsystems, Corp.",
                                      0xABCDEF: "Quote \"Inc\"", 0xA1B2C3: "Spaced Name", 0x0A0B0C: "Ünïcode GmbH"]
        XCTAssertEqual(Self.parsed(Array(csv.utf8), hexDigits: 6), want)
        XCTAssertEqual(Self.reference(csv, hexDigits: 6), want)
    }

    /// Every row of the installed registries (Debian's ieee-data) reads the same both ways.
    func testInstalledRegistriesAgreeWithTheReference() throws {
        var checked = 0
        for (file, bits) in OUIRegistry.files {
            let path = OUIRegistry.defaultDirectory + "/" + file
            guard let bytes = OUIRegistry.readFile(path) else { continue }
            let ours = Self.parsed(bytes, hexDigits: bits / 4)
            XCTAssertEqual(ours, Self.reference(String(decoding: bytes, as: UTF8.self), hexDigits: bits / 4), file)
            XCTAssertGreaterThan(ours.count, 1000, file)
            checked += 1
        }
        if checked == 0 { throw XCTSkip("no IEEE registry in \(OUIRegistry.defaultDirectory) (Debian's ieee-data)") }
        XCTAssertEqual(OUIRegistry().vendor(0x001B1B_000001), "Siemens AG,", "as the registry writes it")
    }

    /// A lookup by search (before `scanLimit` prefixes) and by the parsed tables (after) give
    /// the answer of the whole parse, longest assignment first, on a sample of the installed
    /// registries' rows (every 61st of each, and addresses no row covers).
    func testSearchedAndParsedLookupsAgree() throws {
        var tables: [Int: [UInt64: String]] = [:]
        for (file, bits) in OUIRegistry.files {
            guard let bytes = OUIRegistry.readFile(OUIRegistry.defaultDirectory + "/" + file) else { continue }
            tables[bits] = Self.parsed(bytes, hexDigits: bits / 4)
        }
        guard !tables.isEmpty else { throw XCTSkip("no IEEE registry in \(OUIRegistry.defaultDirectory) (Debian's ieee-data)") }
        func expected(_ mac: UInt64) -> String? {
            for bits in [36, 28, 24] { if let n = tables[bits]?[mac >> UInt64(48 - bits)] { return n } }
            return nil
        }
        var macs: [UInt64] = [0x02_00_00_00_00_01, 0xFE_FF_FF_FF_FF_FF]
        for (bits, t) in tables.sorted(by: { $0.key < $1.key }) {
            for (i, key) in t.keys.sorted().enumerated() where i % 61 == 0 {
                macs.append(key << UInt64(48 - bits) | 0x5)
            }
        }
        XCTAssertGreaterThan(macs.count, 100)
        // Searched: a fresh registry for every 15 addresses (at most 45 prefixes, under the limit).
        var searched = 0
        for start in stride(from: 0, to: macs.count, by: 15) {
            let r = OUIRegistry()
            for mac in macs[start..<min(start + 15, macs.count)] {
                XCTAssertEqual(r.vendor(mac), expected(mac), String(mac, radix: 16))
                searched += 1
            }
        }
        // Parsed: one registry past the limit.
        let r = OUIRegistry()
        for mac in macs { XCTAssertEqual(r.vendor(mac), expected(mac), String(mac, radix: 16)) }
        XCTAssertEqual(searched, macs.count)
    }
}

import Foundation
import SpanSightEngine
@testable import SpanSightHL7
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Crafted messages that try to smuggle what a patient wrote (names, a record number, a date
/// of birth, free text naming them) into an output: through the acknowledgment's error text,
/// a missing segment terminator, a raw CR inside a PID field, and the header, EVN, MSA and ERR
/// fields an event writes. Every value written must come from a closed set (HL7 tables, ids of
/// the right data type, listed segment ids); the rest is withheld (its length) with an anomaly.
/// The vectors are ours (no capture has them); the patient is made up and spelled so that
/// none of its tokens occurs anywhere else.
final class HL7PHITests: XCTestCase {
    /// What the crafted patient wrote: surname, given name (whose last letters a raw CR turns
    /// into a segment id), city (the same at a segment end), record number, date of birth, and
    /// the free text of the acknowledgments.
    static let tokens = ["QUIXOTE", "ZEBEDI", "QXW", "LAMAN", "VQK", "MRN4711", "19310417", "Unknown patient"]

    static let pid = "PID|1||MRN4711^^^SENDFAC^MR||QUIXOTE^ZEBEDIQXW||19310417|M|||1 CALLE^^LAMANVQK\r"

    static func msh(_ id: String, _ type: String = "ADT^A01^ADT_A01", app: String = "SENDAPP|SENDFAC|RECVAPP|RECVFAC",
                    tail: String = "") -> String {
        "MSH|^~\\&|\(app)|20240102101500||\(type)|\(id)|P|2.5\(tail)\r"
    }

    static func ack(_ id: String, _ code: String = "AA", body: String = "") -> String {
        "MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240102101501||ACK^A01^ACK|K\(id)|P|2.5\rMSA|\(code)|\(id)\r" + body
    }

    struct Case: Sendable {
        var name: String
        var message: String
        var ack: String?
        /// Anomalies the pair must raise (others may come too).
        var anomalies: [String]
        /// Checks of the first `hl7` event of the pair.
        var check: @Sendable ([String: Any]) -> Void = { _ in }
    }

    static let cases: [Case] = [
        // 1. The acknowledgment's error text: MSA-3, ERR-3.2 (a valid code with a sender's own
        // words), ERR-7 and ERR-8.
        Case(name: "ack-error-text", message: msh("H1") + "EVN|A01|20240102101500\r" + pid,
             ack: ack("H1", "AE", body: "ERR||PID^1^3|204^Unknown patient QUIXOTE ZEBEDIQXW MRN4711^HL70357|E||||QUIXOTE ZEBEDIQXW 19310417|Unknown patient QUIXOTE MRN4711\r")
                .replacingOccurrences(of: "MSA|AE|H1\r", with: "MSA|AE|H1|Unknown patient QUIXOTE ZEBEDIQXW MRN4711\r"),
             anomalies: ["hl7.invalid_field_value"]) { t in
            let e = t.obj("ack")?.obj("error")
            XCTAssertEqual(e?.str("location"), "PID^1^3")
            XCTAssertEqual(e?.str("code"), "204")
            XCTAssertEqual(e?.str("coding_system"), "HL70357")
            XCTAssertEqual(e?.str("severity"), "E")
            XCTAssertNil(e?["text"])
            XCTAssertEqual(e?.obj("withheld")?.int("text"), "Unknown patient QUIXOTE ZEBEDIQXW MRN4711".utf8.count)
        },
        // 2. v2.3 ERR-1 (ELD) with the error's text, ERR-2 a name, ERR-3 a local code and
        // system, ERR-4 a name.
        Case(name: "err-fields", message: msh("H2") + pid,
             ack: ack("H2", "AR", body: "ERR|PID^1^5^204&Unknown patient QUIXOTE&HL70357|QUIXOTE^ZEBEDIQXW|MRN4711^QUIXOTE^L|QUIXOTE\r"),
             anomalies: ["hl7.invalid_field_value"]) { t in
            let e = t.obj("ack")?.obj("error")
            XCTAssertEqual(Set(e?.obj("withheld")?.keys.map { $0 } ?? []),
                           ["code_and_location", "location", "code", "text", "coding_system", "severity"])
            XCTAssertNil(e?["severity_name"])
        },
        // 3. The segment terminator between MSH and PID is missing: PID-5 would be MSH-18.
        Case(name: "msh-runs-into-pid", message: msh("H3", tail: "|" + pid), ack: ack("H3"),
             anomalies: ["hl7.missing_segment_terminator", "hl7.invalid_field_value"]) { t in
            XCTAssertNil(t["character_set"])
            XCTAssertEqual(t.obj("withheld")?.int("character_set"), "QUIXOTE^ZEBEDIQXW".count)
            XCTAssertEqual(t.str("version"), "2.5")
            XCTAssertEqual(t["segments"] as? [String], ["MSH"])
        },
        // 3b. ... glued to MSH-12 (`2.5PID`); PID-6 would be MSH-18.
        Case(name: "version-runs-into-pid", message: msh("H3b", tail: "PID|1||MRN4711||QUIXOTE^ZEBEDIQXW|LAMANVQK|19310417\r"),
             ack: ack("H3b"), anomalies: ["hl7.missing_segment_terminator", "hl7.invalid_field_value"]) { t in
            XCTAssertNil(t["version"])
            XCTAssertNil(t["character_set"])
            XCTAssertEqual(t.obj("withheld")?.int("version"), 6)
            XCTAssertEqual(t.str("control_id"), "H3b")
        },
        // 3c. ... glued to MSH-2: nothing of the "MSH" is the header's.
        Case(name: "encoding-runs-into-pid", message: "MSH|^~\\&" + pid, ack: nil,
             anomalies: ["hl7.missing_segment_terminator", "hl7.invalid_encoding_characters"]) { t in
            XCTAssertNil(t["control_id"], "PID-8 as MSH-10")
            XCTAssertNil(t["sending_application"])
        },
        // 3d. ... right after MSH-2 (`MSH|^~\&|PID|1|...`): PID-7 (date of birth) would be MSH-10.
        Case(name: "msh-3-is-pid", message: "MSH|^~\\&|" + pid, ack: nil,
             anomalies: ["hl7.missing_segment_terminator"]) { t in
            XCTAssertNil(t["control_id"])
            XCTAssertNotNil(t.obj("withheld")?.int("control_id"))
        },
        // 3e. EVN runs into PID.
        Case(name: "evn-runs-into-pid", message: msh("H3e") + "EVN|A01|20240102101500" + pid, ack: ack("H3e"),
             anomalies: ["hl7.missing_segment_terminator"]) { t in
            XCTAssertEqual(t.obj("event")?.str("type"), "A01")
            XCTAssertEqual(t.obj("event")?.obj("withheld")?.int("recorded_datetime"), 17)
        },
        // 4. A raw CR inside PID-5 and at the end of PID-11: the name's and the city's last
        // letters start "segments" of a valid shape (QXW|..., VQK).
        Case(name: "raw-cr-in-pid", message: msh("H4") + "PID|1||MRN4711^^^SENDFAC^MR||QUIXOTE^ZEBEDI\rQXW||19310417|M|||1 CALLE^^LAMAN\rVQK\r",
             ack: ack("H4"), anomalies: ["hl7.unknown_segment_id"]) { t in
            XCTAssertEqual(t["segments"] as? [String], ["MSH", "PID"])
            XCTAssertEqual(t.int("invalid_segments"), 2)
            XCTAssertEqual(t.int("segment_count"), 4)
        },
        // 5. Names in MSH-3..6 of the message and of its acknowledgment.
        Case(name: "names-in-msh-3-6", message: msh("H5", app: "QUIXOTE^ZEBEDIQXW|QUIXOTE ZEBEDIQXW|MRN4711^^^SENDFAC|LAMANVQK\\T\\X"),
             ack: "MSH|^~\\&|QUIXOTE^ZEBEDIQXW|ZEBEDIQXW MRN4711|SENDAPP|SENDFAC|20240102101501||ACK^A01^ACK|KH5|P|2.5\rMSA|AA|H5\r",
             anomalies: ["hl7.invalid_field_value"]) { t in
            for k in ["sending_application", "sending_facility", "receiving_application", "receiving_facility"] {
                XCTAssertNil(t[k], k)
                XCTAssertNotNil(t.obj("withheld")?.int(k), k)
            }
            XCTAssertNil(t.obj("ack")?["sending_application"])
            XCTAssertEqual(t.obj("ack")?.obj("withheld")?.int("sending_facility"), 17)
        },
        // 6. Names as MSH-10 control ids (acknowledged by the same MSA-2), a retry of one and
        // an acknowledgment of nobody.
        Case(name: "control-id-names", message: msh("QUIXOTE^ZEBEDIQXW") + pid + msh("QUIXOTE^ZEBEDIQXW"),
             ack: ack("QUIXOTE^ZEBEDIQXW") + ack("ZEBEDIQXW MRN4711"),
             anomalies: ["hl7.invalid_field_value", "hl7.duplicate_control_id", "hl7.unexpected_ack"]) { t in
            XCTAssertNil(t["control_id"])
            XCTAssertEqual(t.obj("withheld")?.int("control_id"), 17)
        },
        // 7. EVN fields.
        Case(name: "evn-fields", message: msh("H7") + "EVN|QUIXOTE|ZEBEDIQXW 19310417\r" + pid, ack: ack("H7"),
             anomalies: ["hl7.invalid_field_value"]) { t in
            XCTAssertEqual(t.obj("event")?.obj("withheld")?.int("type"), 7)
            XCTAssertEqual(t.obj("event")?.obj("withheld")?.int("recorded_datetime"), 18)
        },
        // 8. ERR-3: a table 0357 code with a patient in its text.
        Case(name: "err-3-text", message: msh("H8") + pid,
             ack: ack("H8", "AE", body: "ERR|||207^Application internal error for QUIXOTE ZEBEDIQXW^HL70357|E\r"),
             anomalies: ["hl7.invalid_field_value"]) { t in
            XCTAssertEqual(t.obj("ack")?.obj("error")?.str("code"), "207")
            XCTAssertNil(t.obj("ack")?.obj("error")?["text"])
        },
        // 9. MSH-7, MSH-9, MSH-11, MSH-12 and MSH-18 hold names; MSA-1 a name.
        Case(name: "header-codes", message: "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|19310417QUIXOTE||QUIXOTE^ZEBEDIQXW^MRN4711|H9|QUIXOTE|ZEBEDIQXW||||||LAMANVQK\r",
             ack: ack("H9", "QUIXOTE"), anomalies: ["hl7.invalid_field_value", "hl7.unknown_ack_code"]) { t in
            XCTAssertEqual(Set(t.obj("withheld")?.keys.map { $0 } ?? []),
                           ["message_datetime", "message_type", "trigger_event", "message_structure", "processing_id", "version", "character_set"])
            XCTAssertEqual(t.obj("ack")?.str("code_name"), "unknown")
            XCTAssertEqual(t.obj("ack")?.obj("withheld")?.int("code"), 7)
        },
        // 10. The acknowledgment's MSA runs into its ERR (its text never read), in a batch whose
        // header names the patient (BHS fields are not read).
        Case(name: "msa-runs-into-err-batch", message: "BHS|^~\\&|QUIXOTE|ZEBEDIQXW\r" + msh("H10") + pid + "BTS|1\r",
             ack: ack("H10", "AE").replacingOccurrences(of: "MSA|AE|H10\r", with: "MSA|AE|H10|Unknown patient QUIXOTE ZEBEDIQXW MRN4711ERR|||204^Unknown patient QUIXOTE^HL70357|E\r"),
             anomalies: []) { t in
            XCTAssertEqual(t.obj("batch")?.int("messages"), 1)
            XCTAssertEqual(t.obj("ack")?.int("error_count"), nil)
        },
    ]

    /// Each case through a session: its anomalies, its checks, and none of the tokens in
    /// anything the session wrote or observed.
    func testEachCaseInASession() {
        let key = HL7Pseudonymizer(key: Array("0123456789abcdef0123456789abcdef".utf8))
        for c in Self.cases {
            var deliveries = [HL7Delivery(direction: .toServer, bytes: mllp(c.message))]
            if let a = c.ack { deliveries.append(HL7Delivery(direction: .toClient, bytes: mllp(a))) }
            for p in [nil, key] {
                let s = runHL7(deliveries, pseudonymizer: p, observing: true)
                for a in c.anomalies { XCTAssertTrue(s.anomalies.contains(a), "\(c.name): \(a) in \(s.anomalies)") }
                XCTAssertFalse(s.transactions.isEmpty, c.name)
                if let t = s.transactions.first { c.check(t) }
                let written = s.lines.joined(separator: "\n") + s.observations.map { "\($0)" }.joined(separator: "\n")
                for token in Self.tokens where written.contains(token) {
                    XCTFail("\(c.name)\(p == nil ? "" : " with key"): \(token) written: \(written)")
                }
            }
        }
    }

    /// The same cases split at every offset: the same events.
    /// Every case, with its withheld and refused values, gives the same sink calls however its
    /// bytes are cut (whole, a byte at a time, at every offset, random pieces).
    func testCasesEverySplit() {
        for c in Self.cases {
            var conv = [HL7Delivery(direction: .toServer, bytes: mllp(c.message))]
            if let a = c.ack { conv.append(HL7Delivery(direction: .toClient, bytes: mllp(a))) }
            SplitInvariance.verify(conv, c.name) { HL7Session() }
        }
    }

    /// Valid values still come through (the checks refuse no real header): the fixtures'
    /// and the corpus's values, table codes, ids, and a valid character set and Z-segment.
    func testValidValuesAreWritten() {
        let msg = "MSH|^~\\&|LAB^1.2.840.114350^ISO|MAIN-HOSP|EHR|HOSP_2|20180129192342.245+0100||ORU^R01^ORU_R01|934576120110613083617|T|2.3.1|||AL|NE|PRT|UNICODE UTF-8\rEVN|R01|202401021015\rPID|1\rZPI|1\r"
        let ack = "MSH|^~\\&|EHR|HOSP_2|LAB|MAIN-HOSP|20180129192343||ACK^R01^ACK|K-1|T|2.3.1\rMSA|AE|934576120110613083617\rERR|OBX^1^5^103&Table value not found&HL70357|OBX^1^5^1^2|103^table value not found^HL70357|W\r"
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(msg)), HL7Delivery(direction: .toClient, bytes: mllp(ack))])
        XCTAssertEqual(s.anomalies, [])
        guard let t = s.transactions.first else { return XCTFail("no event") }
        XCTAssertNil(t["withheld"])
        XCTAssertEqual(t.str("sending_application"), "LAB")
        XCTAssertEqual(t.str("receiving_facility"), "HOSP_2")
        XCTAssertEqual(t.str("message_datetime"), "20180129192342.245+0100")
        XCTAssertEqual(t.str("control_id"), "934576120110613083617")
        XCTAssertEqual(t.str("version"), "2.3.1")
        XCTAssertEqual(t.str("character_set"), "UNICODE UTF-8")
        XCTAssertEqual(t["segments"] as? [String], ["MSH", "EVN", "PID", "ZPI"])
        XCTAssertEqual(t.obj("event")?.str("recorded_datetime"), "202401021015")
        let e = t.obj("ack")?.obj("error")
        XCTAssertEqual(e?.str("code_and_location"), "OBX^1^5^103&Table value not found&HL70357")
        XCTAssertEqual(e?.str("location"), "OBX^1^5^1^2")
        XCTAssertEqual(e?.str("text"), "table value not found", "the table's text, case aside")
        XCTAssertEqual(e?.str("severity_name"), "warning")
        XCTAssertNil(e?["withheld"])
    }

    /// The checks one by one.
    func testChecks() {
        func v(_ s: String, _ body: (ByteView) -> Bool) -> Bool { ByteView.with(Array(s.utf8)) { body($0) } }
        let sep = { () -> HL7Separators in
            var s = HL7Separators()
            s.field = 0x7C; s.component = 0x5E; s.repetition = 0x7E; s.escape = 0x5C; s.subcomponent = 0x26
            return s
        }()
        for ok in ["2024", "202401", "20240102", "2024010210", "202401021015", "20240102101500", "20240102101500.1234", "20240102101500-0500", "2024+0100"] {
            XCTAssertTrue(v(ok) { HL7Check.dateTime($0) }, ok)
        }
        for bad in ["", "1", "20241301", "20240132", "2024010224", "20240102101560.", "2024010210150", "20240102101500.12345", "202401+01", "QUIXOTE", "19310417 "] {
            XCTAssertFalse(v(bad) { HL7Check.dateTime($0) }, bad)
        }
        for ok in ["2.1", "2.3.1", "2.5", "2.5.1", "2.8.2", "2.10"] { XCTAssertTrue(v(ok) { HL7Check.version($0) }, ok) }
        for bad in ["2", "2.", "2..1", "2.5.", "2.5.1.1", "v2.5", "2.5a", "2.100"] { XCTAssertFalse(v(bad) { HL7Check.version($0) }, bad) }
        for ok in ["SENDAPP", "LAB^1.2.3^ISO", "^1.2.3^ISO", "X^host.example^DNS", "APP^^"] { XCTAssertTrue(v(ok) { HL7Check.hd($0, sep) }, ok) }
        for bad in ["DOE^JOHN", "DOE JOHN", "A^1.2^XYZ", "A^^ISO", "A^B^L^D", "A&B", "A\\T\\B", "ÄPP"] {
            XCTAssertFalse(v(bad) { HL7Check.hd($0, sep) }, bad)
        }
        for ok in ["ASCII", "8859/1", "UNICODE UTF-8", "ISO IR87", "GB 18030-2000"] { XCTAssertTrue(v(ok) { HL7Check.characterSet($0) }, ok) }
        for bad in ["UTF-8", "unicode utf-8", "QUIXOTE", "8859/16", "1"] { XCTAssertFalse(v(bad) { HL7Check.characterSet($0) }, bad) }
        for ok in ["PID^1^3", "PID^1^3^1^2^1", "ZPI^1", "MSH^^9"] { XCTAssertTrue(v(ok) { HL7Check.errorLocation($0, sep) }, ok) }
        for bad in ["QUIXOTE^1", "PID^one", "PID^1^3^1^2^1^7", "XYZ^1", "PID^1&2"] {
            XCTAssertFalse(v(bad) { HL7Check.errorLocation($0, sep) }, bad)
        }
        XCTAssertTrue(v("PID^1^3^101&Required field missing&HL70357") { HL7Check.errorCodeAndLocation($0, sep) })
        XCTAssertTrue(v("PID^1^3^101") { HL7Check.errorCodeAndLocation($0, sep) })
        XCTAssertFalse(v("PID^1^3^101&Required field missing: QUIXOTE&HL70357") { HL7Check.errorCodeAndLocation($0, sep) })
        XCTAssertFalse(v("PID^1^3^999") { HL7Check.errorCodeAndLocation($0, sep) })
        XCTAssertFalse(v("PID^1^3^101&&HL70357&X") { HL7Check.errorCodeAndLocation($0, sep) }, "no alternate code")
        XCTAssertEqual(v("207") { HL7Check.errorCode($0) >= 0 }, true)
        XCTAssertEqual(v("0207") { HL7Check.errorCode($0) >= 0 }, false)
        for ok in ["MSG00001", "934576120110613083617", "20180129192342.245", "c0a8-01_ff:1"] { XCTAssertTrue(v(ok) { HL7Check.controlID($0, sep) }, ok) }
        for bad in ["DOE^JOHN", "DOE JOHN", String(repeating: "9", count: 65), "ID\\F\\1", "ID|1"] {
            XCTAssertFalse(v(bad) { HL7Check.controlID($0, sep) }, bad)
        }
        for ok in ["ACK", "ADT_A01", "Z01"] { XCTAssertTrue(v(ok) { HL7Check.structure($0) }, ok) }
        for bad in ["ADT_A1", "adt", "ADT-A01", "QUIXOTE"] { XCTAssertFalse(v(bad) { HL7Check.structure($0) }, bad) }
    }

    /// The known segment list: ids of the right shape, each once, a Z-segment listed, a
    /// name's letters not.
    func testSegmentList() {
        let names = HL7SegmentIDs.names.description.split(separator: " ").map(String.init)
        XCTAssertGreaterThan(names.count, 190)
        XCTAssertEqual(Set(names).count, names.count, "no duplicate")
        XCTAssertEqual(names, names.sorted())
        for n in names {
            XCTAssertEqual(n.count, 3, n)
            let id = n.utf8.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            XCTAssertTrue(HL7SegmentIDs.isListed(id), n)
        }
        // The bitmap literal is the list, bit for bit.
        var bits = [UInt64](repeating: 0, count: HL7SegmentIDs.known.count)
        for n in names {
            let k = HL7SegmentIDs.index(n.utf8.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            bits[k >> 6] |= 1 << UInt64(k & 63)
        }
        XCTAssertEqual(bits, HL7SegmentIDs.known)
        func listed(_ s: String) -> Bool { HL7SegmentIDs.isListed(s.utf8.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
        XCTAssertTrue(listed("ZPI"))
        XCTAssertTrue(listed("PV1"))
        for n in ["QXW", "VQK", "JON", "AAA", "A00", "PI1"] { XCTAssertFalse(listed(n), n) }
    }

    /// A direction's memo of MSH-3..6 (`HL7HeaderMemo`) never changes what the checks find:
    /// random headers (valid and hostile MSH-3..6, short and long, repeated and not, other
    /// delimiters, fields that end with a segment id) read one after another with one memo give
    /// the same results as each read alone.
    func testHeaderMemoGivesTheSameChecks() {
        var rng = SplitMix(seed: 16)
        let values = ["SENDAPP", "SENDFAC", "FAC", "PID", "LAB^1.2.3^ISO", "QUIXOTE^ZEBEDIQXW", "A B", "X\\T\\Y", "",
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "H", "HOSP_2", "1", "2.5PID"]
        let heads = ["MSH|^~\\&|", "MSH!@#$%!", "MSH|^~\\&#|"]
        var memo = HL7HeaderMemo()
        var previous: [String] = []
        for trial in 0..<3000 {
            // Half the headers repeat the previous one's MSH-3..6 (what the memo is for).
            var f = trial % 2 == 1 && !previous.isEmpty ? previous
                : (0..<4).map { _ in values[Int(rng.next() % UInt64(values.count))] }
            previous = f
            let head = heads[Int(rng.next() % UInt64(heads.count))]
            if head.hasPrefix("MSH!") { f = f.map { $0.replacingOccurrences(of: "^", with: "@").replacingOccurrences(of: "|", with: "!") } }
            let fs = head.hasPrefix("MSH!") ? "!" : "|"
            let tail = ["20240101", "", "ADT^A01", "C\(trial)", "P", "2.5"].prefix(Int(rng.next() % 7))
            let text = head + (f + tail).joined(separator: fs) + (rng.next() % 2 == 0 ? fs + "1" : "")
            let bytes = Array(text.utf8)
            ByteView.with(bytes) { frame in
                let shared = HL7Message(header: frame, at: 0, frame: frame, memo: &memo)
                let alone = HL7Message(header: frame, at: 0, frame: frame)
                XCTAssertEqual(shared.invalid, alone.invalid, text)
                XCTAssertEqual(shared.withheld, alone.withheld, text)
                XCTAssertEqual(shared.runInField, alone.runInField, text)
            }
        }
    }

    // MARK: every output of the tool

    /// A capture of every case (one TCP connection to port 2575, acknowledgments after their
    /// messages), written with the test packet builder.
    static func capture() -> [UInt8] {
        let c = "10.20.0.5", s = "10.20.0.9"
        let cp: UInt16 = 45123, sp: UInt16 = 2575
        var seq: [UInt32] = [7000, 91000]
        var packets: [(micros: Int64, bytes: [UInt8])] = []
        var t: Int64 = 1_704_190_500_000_000
        func send(_ fromClient: Bool, _ payload: [UInt8], flags: UInt8 = PacketBuilder.ackFlag | PacketBuilder.psh) {
            let i = fromClient ? 0 : 1
            let frame = fromClient
                ? PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: seq[0], ack: seq[1], flags: flags, payload: payload)
                : PacketBuilder.tcp(src: s, sport: sp, dst: c, dport: cp, seq: seq[1], ack: seq[0], flags: flags, payload: payload)
            packets.append((t, frame))
            t += 2_000
            seq[i] &+= UInt32(payload.count) + (flags & (PacketBuilder.syn | PacketBuilder.fin) != 0 ? 1 : 0)
        }
        send(true, [], flags: PacketBuilder.syn)
        send(false, [], flags: PacketBuilder.syn | PacketBuilder.ackFlag)
        send(true, [], flags: PacketBuilder.ackFlag)
        for k in cases {
            send(true, mllp(k.message))
            if let a = k.ack { send(false, mllp(a)) }
        }
        send(true, [], flags: PacketBuilder.fin | PacketBuilder.ackFlag)
        send(false, [], flags: PacketBuilder.fin | PacketBuilder.ackFlag)
        send(true, [], flags: PacketBuilder.ackFlag)
        return PcapFileWriter.data(packets: packets)
    }

    struct Run {
        var status: Int32
        var stdout: Data
        var stderr: Data
    }

    func tool(_ args: [String], in dir: URL) throws -> Run {
        let p = Process()
        p.executableURL = HL7CorpusTests.binary
        p.arguments = args
        p.currentDirectoryURL = dir
        let out = dir.appendingPathComponent("stdout-\(UUID().uuidString)"), err = dir.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let o = try FileHandle(forWritingTo: out), e = try FileHandle(forWritingTo: err)
        p.standardOutput = o
        p.standardError = e
        try p.run()
        p.waitUntilExit()
        try o.close()
        try e.close()
        return Run(status: p.terminationStatus, stdout: try Data(contentsOf: out), stderr: try Data(contentsOf: err))
    }

    /// The tool on the crafted capture in every output mode, with and without a pseudonym key:
    /// events (standard output and -o), the summary, --assets JSON and CSV, --map HTML and DOT,
    /// the --db store (its file's bytes), `assets` in all three formats and from the store,
    /// `learn --baseline`, `policy` (JSON and nft), `simulate` and `read --baseline`. None may
    /// hold a token of the patient. Every file the runs leave is searched, as bytes.
    func testNoPatientTokenInAnyOutput() throws {
        guard FileManager.default.isExecutableFile(atPath: HL7CorpusTests.binary.path) else {
            return XCTFail("spansight binary not built: run `swift build --build-tests` first")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-phi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("crafted.pcap"), key = dir.appendingPathComponent("pseudonym.key")
        let pcap = Self.capture()
        try Data(pcap).write(to: input)
        try Data("c0ffee-test-key-of-32-bytes-long\n".utf8).write(to: key)
        // A check of the check: every token is in the capture.
        let raw = Data(pcap)
        for token in Self.tokens { XCTAssertNotNil(raw.range(of: Data(token.utf8)), "\(token) in the capture") }

        var outputs: [(String, Data)] = []
        func run(_ name: String, _ args: [String], expect: Int32 = 0) throws {
            let r = try tool(args, in: dir)
            XCTAssertEqual(r.status, expect, "\(name): \(String(decoding: r.stderr, as: UTF8.self))")
            outputs.append(("\(name) stdout", r.stdout))
            outputs.append(("\(name) stderr", r.stderr))
        }
        let files = ["--assets", "assets.json", "--assets", "assets.csv", "--map", "map.html", "--map", "map.dot", "--db", "store.sqlite"]
        try run("read", ["read", "--no-progress", "--alerts", input.path])
        try run("read -o", ["read", "--no-progress", "--alerts", input.path, "-o", "events.ndjson"] + files)
        try run("read key", ["read", "--no-progress", "--alerts", "--pseudonym-key", key.path, input.path])
        try run("read key -o", ["read", "--no-progress", "--alerts", "--pseudonym-key", key.path, input.path,
                                "-o", "events-key.ndjson", "--assets", "assets-key.json", "--assets", "assets-key.csv",
                                "--map", "map-key.html", "--map", "map-key.dot", "--db", "store-key.sqlite"])
        for format in ["table", "json", "csv"] { try run("assets \(format)", ["assets", input.path, "--format", format]) }
        try run("assets --db", ["assets", "--db", "store.sqlite", "--format", "json"])
        try run("learn", ["learn", input.path, "--baseline", "baseline.json"])
        try run("policy json", ["policy", "--baseline", "baseline.json", "--format", "json"])
        try run("policy nft", ["policy", "--baseline", "baseline.json", "--format", "nft"])
        try run("simulate", ["simulate", "--baseline", "baseline.json", input.path])
        try run("read --baseline", ["read", "--no-progress", "--baseline", "baseline.json", input.path])
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        where f != input.lastPathComponent && f != key.lastPathComponent && !f.hasPrefix("stdout-") && !f.hasPrefix("stderr-") {
            outputs.append((f, try Data(contentsOf: dir.appendingPathComponent(f))))
        }

        // The runs did what they should: HL7 events with pseudonyms, the new anomalies, the
        // HL7 identities in the inventory, message types in the baseline.
        let text = { (name: String) in String(decoding: outputs.first { $0.0 == name }?.1 ?? Data(), as: UTF8.self) }
        let events = text("read stdout")
        XCTAssertGreaterThanOrEqual(events.components(separatedBy: "\"event_type\":\"hl7\"").count - 1, Self.cases.count)
        for a in ["invalid_field_value", "missing_segment_terminator", "unknown_segment_id", "unknown_ack_code"] {
            XCTAssertTrue(events.contains("\"hl7.\(a)\""), a)
        }
        XCTAssertTrue(text("events-key.ndjson").contains("\"patient_pseudonyms\""))
        XCTAssertTrue(text("assets.json").contains("SENDAPP"))
        XCTAssertTrue(text("baseline.json").contains("ADT^A01"))
        XCTAssertFalse(text("policy nft stdout").isEmpty)
        for name in ["events.ndjson", "assets.csv", "map.html", "map.dot", "store.sqlite", "baseline.json"] {
            XCTAssertFalse(text(name).isEmpty, name)
        }

        var checked = 0
        for (name, bytes) in outputs {
            checked += 1
            for token in Self.tokens {
                if bytes.range(of: Data(token.utf8)) != nil || bytes.range(of: Data(token.lowercased().utf8)) != nil {
                    XCTFail("\(name): patient token \(token)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 30)
    }
}

import SpanSightEngine
@testable import SpanSightHL7
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Message/ACK vectors. Each says where it comes from; segments end with CR as HL7 v2
/// chapter 2 requires, frames are MLLP (VT ... FS CR, HL7 v2 Implementation Guide, appendix C).
final class HL7VectorTests: XCTestCase {
    struct Vector: Sendable {
        var name: String
        var message: String
        var ack: String
        var check: @Sendable ([String: Any]) -> Void
    }

    static let vectors: [Vector] = [
        // HL7 v2 chapter 2, "General acknowledgment" sample: LAB acknowledges ADT's message
        // ZZ9380; no trigger event in ACK ("ACK^"). The acknowledged message is ours (the spec
        // shows only the ACK): an A01 from ADT to LAB of the same facility.
        Vector(name: "spec-general-ack",
               message: "MSH|^~\\&|ADT|767543|LAB|767543|19900314130400||ADT^A01|ZZ9380|P|2.1\rEVN|A01|19900314130400\rPID|||99999^^^ADT^MR||PATIENT^TEST\r",
               ack: "MSH|^~\\&|LAB|767543|ADT|767543|19900314130405||ACK^|XX3657|P|2.1\rMSA|AA|ZZ9380\r") { t in
            XCTAssertEqual(t.str("message_type"), "ADT")
            XCTAssertEqual(t.str("trigger_event"), "A01")
            XCTAssertEqual(t.str("sending_application"), "ADT")
            XCTAssertEqual(t.str("receiving_application"), "LAB")
            XCTAssertEqual(t.str("sending_facility"), "767543")
            XCTAssertEqual(t.str("message_datetime"), "19900314130400")
            XCTAssertEqual(t.obj("event")?.str("type"), "A01")
            XCTAssertEqual(t.obj("event")?.str("recorded_datetime"), "19900314130400")
            let a = t.obj("ack")
            XCTAssertEqual(a?.str("code"), "AA")
            XCTAssertEqual(a?.str("code_name"), "application_accept")
            XCTAssertEqual(a?.str("control_id"), "ZZ9380")
            XCTAssertEqual(a?.str("message_control_id"), "XX3657")
            XCTAssertEqual(a?.str("message_type"), "ACK")
            XCTAssertNil(a?.str("trigger_event"))
        },
        // fixtures/hl7-mllp-python-hl7.pcap frames 13/14 (python-hl7 0.4.5): ADT^A08 answered
        // AE with a v2.5 ERR (location, HL7 table 0357 code, severity).
        Vector(name: "fixture-a08-ae-err",
               message: "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240102101700||ADT^A08^ADT_A01|MSG00003|P|2.5\rEVN|A08|20240102101700\rPID|1||||DOE^JANE^Q||19800101|F\rPV1|1|I|WARD1^101^A\r",
               ack: "MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240102101500||ACK^A08^ACK|ACKMSG00003|P|2.5\rMSA|AE|MSG00003\rERR||PID^1^3^1|101^Required field missing^HL70357|E|||PID-3 patient identifier missing\r") { t in
            XCTAssertEqual(t.str("message_structure"), "ADT_A01")
            XCTAssertEqual(t.str("operation"), "write")
            XCTAssertEqual(t["segments"] as? [String], ["MSH", "EVN", "PID", "PV1"])
            XCTAssertEqual(t.int("segment_count"), 4)
            let e = t.obj("ack")?.obj("error")
            XCTAssertEqual(t.obj("ack")?.str("code_name"), "application_error")
            XCTAssertEqual(e?.str("location"), "PID^1^3^1")
            XCTAssertEqual(e?.str("code"), "101")
            XCTAssertEqual(e?.str("text"), "Required field missing")
            XCTAssertEqual(e?.str("coding_system"), "HL70357")
            XCTAssertEqual(e?.str("severity"), "E")
            XCTAssertEqual(e?.str("severity_name"), "error")
            XCTAssertNil(e?["user_message"], "ERR-8 is free text: never written")
        },
        // v2.3 ERR-1 (error code and location, ELD) with an application reject; the message
        // uses delimiters other than the recommended ones (chapter 2 allows any): field `!`,
        // component `@`, repetition `#`, escape `$`, subcomponent `%`.
        Vector(name: "odd-delimiters-ar",
               message: "MSH!@#$%!SEND@1.2.3@ISO!FAC@fac.example@DNS!RECV!RFAC!20240101000000!!ORM@O01@ORM_O01!C1!T@A!2.3@USA!!!AL!NE!!UNICODE UTF-8#8859/1\rPID!1!!42@@@AUTH@MR\rORC!NW\r",
               ack: "MSH!@#$%!RECV!RFAC!SEND!FAC!20240101000001!!ACK@O01!A1!T!2.3\rMSA!AR!C1\rERR!ORC@1@1@207%Application internal error%HL70357\r") { t in
            XCTAssertEqual(t.str("sending_application"), "SEND", "HD: first component (namespace id)")
            XCTAssertEqual(t.str("sending_facility"), "FAC")
            XCTAssertEqual(t.str("message_type"), "ORM")
            XCTAssertEqual(t.str("trigger_event"), "O01")
            XCTAssertEqual(t.str("processing_id"), "T")
            XCTAssertEqual(t.str("version"), "2.3")
            XCTAssertEqual(t.str("character_set"), "UNICODE UTF-8", "first repetition")
            XCTAssertEqual(t.str("operation"), "association")
            XCTAssertEqual(t.obj("ack")?.str("code"), "AR")
            XCTAssertEqual(t.obj("ack")?.obj("error")?.str("code_and_location"), "ORC@1@1@207%Application internal error%HL70357")
        },
        // Enhanced mode (chapter 2, accept acknowledgment): a commit accept CA to a query.
        Vector(name: "enhanced-ca-query",
               message: "MSH|^~\\&|CLIENT|HOSP|SERVER|HOSP|20240101120000||QBP^Q22^QBP_Q21|Q1|P|2.5|||AL|NE\rQPD|Q22^Find Candidates^HL70471|QRY1\rRCP|I|10^RD\r",
               ack: "MSH|^~\\&|SERVER|HOSP|CLIENT|HOSP|20240101120001||ACK^Q22^ACK|R1|P|2.5\rMSA|CA|Q1\r") { t in
            XCTAssertEqual(t.str("operation"), "read")
            XCTAssertEqual(t.obj("ack")?.str("code_name"), "commit_accept")
            XCTAssertEqual(t["segments"] as? [String], ["MSH", "QPD", "RCP"])
        },
        // Commit error and commit reject with CR LF segment ends (seen from file-based senders;
        // the LF after each CR is not a segment).
        Vector(name: "crlf-ce",
               message: "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|U1|P|2.4\r\nOBR|1\r\nOBX|1|NM|X||1\r\n",
               ack: "MSH|^~\\&|C|D|A|B|20240101||ACK^R01|U2|P|2.4\r\nMSA|CE|U1\r\n") { t in
            XCTAssertEqual(t["segments"] as? [String], ["MSH", "OBR", "OBX"])
            XCTAssertEqual(t.obj("ack")?.str("code_name"), "commit_error")
        },
        Vector(name: "cr",
               message: "MSH|^~\\&|A|B|C|D|20240101||ADT^A40^ADT_A39|M40|P|2.5\rEVN||20240101\rPID|1\rMRG|1\r",
               ack: "MSH|^~\\&|C|D|A|B|20240101||ACK^A40|K40|P|2.5\rMSA|CR|M40\r") { t in
            XCTAssertEqual(t.str("operation"), "write", "A40 merge")
            XCTAssertNil(t.obj("event")?.str("type"), "EVN-1 empty")
            XCTAssertEqual(t.obj("ack")?.str("code_name"), "commit_reject")
        },
    ]

    func testVectors() {
        for v in Self.vectors {
            let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(v.message)),
                            HL7Delivery(direction: .toClient, bytes: mllp(v.ack))])
            XCTAssertEqual(s.anomalies, [], v.name)
            XCTAssertEqual(s.transactions.count, 1, v.name)
            guard let t = s.transactions.first else { continue }
            XCTAssertEqual(t.str("status"), "acknowledged", v.name)
            XCTAssertEqual(t.obj("ack")?["latency_ms"] as? Double, 1.0, v.name)
            v.check(t)
        }
    }

    /// Every prefix of every vector (as a frame, and as a frame that the flow's end cuts) gives
    /// events or anomalies, never a trap; the truncated frame is reported as unterminated.
    func testEveryPrefixNeverTraps() {
        for v in Self.vectors {
            for text in [v.message, v.ack] {
                let frame = mllp(text)
                for n in 0...frame.count {
                    let s = runHL7([HL7Delivery(direction: .toServer, bytes: Array(frame[0..<n]))])
                    if n >= 5 && n < frame.count - 1 {
                        XCTAssertTrue(s.anomalies.contains("hl7.missing_end_block"), "\(v.name) prefix \(n)")
                    }
                    // The prefix of the content as a whole frame: MSH cut anywhere.
                    if n > 1 && n < frame.count - 2 {
                        _ = runHL7([HL7Delivery(direction: .toServer, bytes: Array(frame[0..<n]) + [0x1C, 0x0D])])
                    }
                }
            }
        }
    }
}

/// The MSH field walk against a plain split of the segment (fields on the field separator, the
/// first repetition on the repetition separator, components on the component separator), on
/// random headers: any number of fields (past MSH-18 and short of MSH-3), empty fields,
/// repetitions and components anywhere, recommended, unusual and missing delimiters (an
/// undefined delimiter splits nothing), and headers that start inside their frame.
final class HL7HeaderWalkTests: XCTestCase {
    func testHeaderFieldsMatchAPlainSplit() {
        var rng = SplitMix(seed: 11)
        // MSH-1 and MSH-2: recommended, unusual, then fewer than four encoding characters.
        let encodings: [[UInt8]] = [Array("|^~\\&".utf8), Array("!@#$%".utf8), Array("|^".utf8), Array("|^~".utf8), Array("|".utf8)]
        for trial in 0..<4000 {
            let delims = encodings[trial % encodings.count]
            let fs = delims[0]
            let cs: UInt8? = delims.count > 1 ? delims[1] : nil
            let rs: UInt8? = delims.count > 2 ? delims[2] : nil
            let alphabet: [UInt8] = Array("AB12 .^~&\\".utf8) + delims.dropFirst() + delims.dropFirst()
            var fields: [[UInt8]] = []
            for _ in 0..<Int.random(in: 0...22, using: &rng) {
                fields.append((0..<Int.random(in: 0...9, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.filter { $0 != fs })
            }
            var seg: [UInt8] = Array("MSH".utf8) + [fs] + delims.dropFirst()
            for f in fields { seg += [fs] + f }
            // Half the headers follow other bytes in their frame (a batch's FHS and BHS).
            let lead: [UInt8] = trial % 2 == 0 ? [] : Array("BHS|^~\\&|X\r".utf8)
            let frameBytes = lead + seg
            let m = ByteView.with(frameBytes) { frame in
                HL7Message(header: frame.suffix(from: lead.count), at: lead.count, frame: frame)
            }

            func split(_ b: [UInt8], _ c: UInt8?) -> [[UInt8]] {
                guard let c else { return [b] }
                return b.split(separator: c, omittingEmptySubsequences: false).map(Array.init)
            }
            func field(_ n: Int) -> [UInt8]? { n - 3 < fields.count ? fields[n - 3] : (n == 3 ? [] : nil) }
            func rep(_ n: Int) -> [UInt8] { field(n).map { split($0, rs)[0] } ?? [] }
            func comp(_ n: Int, _ k: Int) -> [UInt8] { let c = split(rep(n), cs); return k <= c.count && field(n) != nil ? c[k - 1] : [] }
            let expected: [(String, Span, [UInt8])] = [
                ("MSH-3", m.sendingApplication, comp(3, 1)), ("MSH-4", m.sendingFacility, comp(4, 1)),
                ("MSH-5", m.receivingApplication, comp(5, 1)), ("MSH-6", m.receivingFacility, comp(6, 1)),
                ("MSH-7", m.dateTime, comp(7, 1)), ("MSH-9.1", m.messageType, comp(9, 1)),
                ("MSH-9.2", m.triggerEvent, comp(9, 2)), ("MSH-9.3", m.structure, comp(9, 3)),
                ("MSH-10", m.controlID, field(10) ?? []), ("MSH-11", m.processingID, comp(11, 1)),
                ("MSH-12", m.version, comp(12, 1)), ("MSH-16", m.applicationAckType, rep(16)),
                ("MSH-18", m.characterSet, rep(18)),
            ]
            ByteView.with(frameBytes) { frame in
                for (name, span, want) in expected {
                    XCTAssertEqual(span.view(frame).array, want, "\(name) of \(String(decoding: seg, as: UTF8.self))")
                }
            }
        }
    }
}

/// A message stored without its text (no events built) reads as an empty message, even in a
/// slot that held a message with text before.
final class HL7TableTests: XCTestCase {
    func testSlotStoredWithoutTextReadsEmpty() {
        var table = HL7Table(capacity: 4)
        let text = Array("MSH|^~\\&|SEND|FAC|RECV|RFAC|20240101||ADT^A01|C1|P|2.5\rPID|1||42\r".utf8)
        ByteView.with(text) { frame in
            let mshEnd = text.firstIndex(of: 0x0D)!
            let m = HL7Message(header: frame.prefix(mshEnd), at: 0, frame: frame)
            let ids: [UInt32] = [HL7Segment.MSH, HL7Segment.PID]
            ids.withUnsafeBufferPointer { segs in
                table.insert(m, frame: frame, entry: OpenMessage(), segments: segs, pseudonyms: nil)
                let first = table.find(m.controlID.view(frame), direction: .toServer)!
                table.withStored(first) { s in XCTAssertEqual(s.field(.sendingApplication).array, Array("SEND".utf8)) }
                table.remove(first)
                table.insert(m, frame: frame, entry: OpenMessage(), segments: segs, storeText: false, pseudonyms: nil)
                let again = table.find(m.controlID.view(frame), direction: .toServer)!
                XCTAssertEqual(again, first, "the slot is reused")
                table.withStored(again) { s in
                    for f in StoredField.all { XCTAssertEqual(s.field(f).count, 0, "\(f)") }
                    XCTAssertEqual(s.segments.count, 0)
                    var pseudonyms = 0
                    s.forEachPseudonym { _, _ in pseudonyms += 1 }
                    XCTAssertEqual(pseudonyms, 0)
                }
            }
        }
    }
}

import Foundation
import SpanSightEngine
@testable import SpanSightModbus
import XCTest

/// The `modbus` event in Suricata's EVE layout: its names (the strings sawp-modbus prints, which
/// Suricata's rust/src/modbus/log.rs writes), places and types; our fields beside them.
final class ModbusSuricataTests: XCTestCase {
    /// One transaction and Suricata's four descriptive fields expected on each side.
    struct Case {
        var name: String
        var request: [UInt8]
        var response: [UInt8]?
        /// function_code, access_type, category, error_flags of the request, then of the response.
        var want: [String]
    }

    static let cases: [Case] = [
        Case(name: "read", request: [0x03, 0, 0, 0, 2], response: [0x03, 4, 0, 1, 0, 2],
             want: ["RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "NONE",
                    "RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "read coils", request: [0x01, 0, 0, 0, 3], response: [0x01, 1, 5],
             want: ["RdCoils", "READ | COILS", "PUBLIC_ASSIGNED", "NONE",
                    "RdCoils", "READ | COILS", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "single write", request: [0x05, 0, 1, 0xFF, 0], response: [0x05, 0, 1, 0xFF, 0],
             want: ["WrSingleCoil", "WRITE | COILS | SINGLE | WRITE_SINGLE", "PUBLIC_ASSIGNED", "NONE",
                    "WrSingleCoil", "WRITE | COILS | SINGLE | WRITE_SINGLE", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "single write, coil value neither on nor off", request: [0x05, 0, 1, 0x12, 0x34], response: nil,
             want: ["WrSingleCoil", "WRITE | COILS | SINGLE | WRITE_SINGLE", "PUBLIC_ASSIGNED", "DATA_VALUE"]),
        Case(name: "multiple write", request: [0x10, 0, 1, 0, 2, 4, 0, 10, 1, 2], response: [0x10, 0, 1, 0, 2],
             want: ["WrMultRegs", "WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "NONE",
                    "WrMultRegs", "WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "multiple write, 124 registers in 2 bytes", request: [0x10, 0, 0, 0, 0x7C, 0x02, 0, 1], response: nil,
             want: ["WrMultRegs", "WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "DATA_VALUE | DATA_LENGTH"]),
        Case(name: "multiple coils", request: [0x0F, 0, 0, 0, 3, 1, 5], response: [0x0F, 0, 0, 0, 3],
             want: ["WrMultCoils", "WRITE | COILS | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "NONE",
                    "WrMultCoils", "WRITE | COILS | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "mask write", request: [0x16, 0, 4, 0, 0xF2, 0, 0x25], response: nil,
             want: ["MaskWrReg", "WRITE | HOLDING", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "read/write", request: [0x17, 0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 1], response: [0x17, 2, 0, 9],
             want: ["RdWrMultRegs", "READ | WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "NONE",
                    "RdWrMultRegs", "READ | WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "trailing byte", request: [0x03, 0, 0, 0, 2, 0xEE], response: nil,
             want: ["RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "DATA_LENGTH"]),
        // The response's byte count fits its own length but not the request's quantity.
        Case(name: "byte count against the request", request: [0x03, 0, 0, 0, 2], response: [0x03, 2, 0, 1],
             want: ["RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "NONE",
                    "RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "DATA_LENGTH"]),
        // Exceptions: access type of the function without 0x80; category as the function's.
        Case(name: "exception", request: [0x01, 0, 0, 0, 1], response: [0x81, 0x02],
             want: ["RdCoils", "READ | COILS", "PUBLIC_ASSIGNED", "NONE",
                    "RdCoils", "READ | COILS", "PUBLIC_ASSIGNED", "NONE"]),
        // Memory Parity Error is for file records only: sawp's EXC_CODE.
        Case(name: "exception code the function cannot return", request: [0x03, 0, 0, 0, 1], response: [0x83, 0x08],
             want: ["RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "NONE",
                    "RdHoldRegs", "READ | HOLDING", "PUBLIC_ASSIGNED", "EXC_CODE"]),
        // An FC 8 exception has no sub-function: category NONE, as sawp derives it from the data.
        Case(name: "diagnostic exception", request: [0x08, 0, 1, 0, 0], response: [0x88, 0x03],
             want: ["Diagnostic", "NONE", "PUBLIC_ASSIGNED", "NONE",
                    "Diagnostic", "NONE", "NONE", "EXC_CODE"]),
        Case(name: "diagnostic, reserved sub-function", request: [0x08, 0, 5, 0, 0], response: [0x08, 0, 5, 0, 0],
             want: ["Diagnostic", "NONE", "RESERVED", "NONE", "Diagnostic", "NONE", "RESERVED", "NONE"]),
        Case(name: "MEI, unknown type", request: [0x2B, 0x05, 1], response: nil,
             want: ["MEI", "NONE", "RESERVED", "NONE"]),
        Case(name: "device identification", request: [0x2B, 0x0E, 1, 0], response: nil,
             want: ["MEI", "NONE", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "named, not decoded (Program484)", request: [0x09], response: nil,
             want: ["Program484", "NONE", "PUBLIC_ASSIGNED", "NONE"]),
        Case(name: "user-defined 65", request: [0x41, 0x53, 0x53], response: [0x41, 0x01],
             want: ["Unknown", "NONE", "USER_DEFINED", "NONE", "Unknown", "NONE", "USER_DEFINED", "NONE"]),
        // Unknown codes go by the raw byte: 0x30 is public unassigned, 0x80|0x30 (its exception) NONE.
        Case(name: "unknown 0x30 and its exception 0xB0", request: [0x30, 0x01], response: [0xB0, 0x01],
             want: ["Unknown", "NONE", "PUBLIC_UNASSIGNED", "NONE", "Unknown", "NONE", "NONE", "NONE"]),
    ]

    func run(_ c: Case) -> (q: [String: Any], r: [String: Any]?) {
        var d = [Delivery(direction: .toServer, bytes: adu(1, c.request))]
        if let r = c.response { d.append(Delivery(direction: .toClient, bytes: adu(1, r))) }
        let t = runSession(d).transactions
        XCTAssertEqual(t.count, 1, c.name)
        return (t.first?.obj("request") ?? [:], t.first?.obj("response"))
    }

    static func described(_ side: [String: Any]) -> [String] {
        ["function_code", "access_type", "category", "error_flags"].map { side.str($0) ?? "<absent>" }
    }

    func testFunctionCodeAccessTypeCategoryErrorFlags() {
        for c in Self.cases {
            let (q, r) = run(c)
            XCTAssertEqual(Self.described(q) + (r.map(Self.described) ?? []), c.want, c.name)
        }
    }

    func testNestedObjectsAsSuricataWritesThem() {
        let ex = run(Self.cases.first { $0.name == "unknown 0x30 and its exception 0xB0" }!).r
        XCTAssertEqual(ex?.obj("exception")?.int("raw"), 1)
        XCTAssertEqual(ex?.obj("exception")?.str("code"), "IllegalFunction")
        XCTAssertEqual(ex?.obj("exception")?.str("name"), "illegal_function")
        XCTAssertEqual(run(Self.cases.first { $0.name == "user-defined 65" }!).q.str("data"), "5353")
        let diag = run(Self.cases.first { $0.name == "diagnostic, reserved sub-function" }!)
        XCTAssertEqual(diag.q.obj("diagnostic")?.int("raw"), 5)
        XCTAssertEqual(diag.q.obj("diagnostic")?.str("code"), "Reserved")
        XCTAssertEqual(diag.q.obj("diagnostic")?.str("name"), "reserved")
        XCTAssertEqual(diag.q.obj("diagnostic")?.str("data"), "0000")
        let mask = run(Self.cases.first { $0.name == "mask write" }!).q
        XCTAssertEqual(mask["write"] as? [String: Int], ["address": 4, "and_mask": 0xF2, "or_mask": 0x25])
        let mei = run(Self.cases.first { $0.name == "MEI, unknown type" }!).q.obj("mei")
        XCTAssertEqual(mei?.int("raw"), 5); XCTAssertEqual(mei?.str("code"), "Unknown"); XCTAssertEqual(mei?.str("data"), "01")
        // None of the keys the Suricata objects replaced.
        for c in Self.cases {
            let (q, r) = run(c)
            for side in [q, r ?? [:]] {
                for old in ["address", "quantity", "value", "and_mask", "or_mask", "read_address", "read_quantity",
                            "write_address", "write_quantity", "subfunction", "subfunction_raw", "mei_type"] {
                    XCTAssertNil(side[old], "\(c.name): \(old)")
                }
                XCTAssertFalse(side["mei"] is String, c.name)
            }
        }
    }

    /// Suricata's ranges for codes it does not name, at every boundary.
    func testUnnamedCategoryRanges() {
        let want: [(UInt8, String)] = [
            (0, "NONE"), (1, "PUBLIC_UNASSIGNED"), (8, "PUBLIC_UNASSIGNED"), (9, "RESERVED"), (14, "RESERVED"),
            (15, "PUBLIC_UNASSIGNED"), (40, "PUBLIC_UNASSIGNED"), (41, "RESERVED"), (42, "RESERVED"),
            (43, "PUBLIC_UNASSIGNED"), (64, "PUBLIC_UNASSIGNED"), (65, "USER_DEFINED"), (72, "USER_DEFINED"),
            (73, "PUBLIC_UNASSIGNED"), (89, "PUBLIC_UNASSIGNED"), (90, "RESERVED"), (91, "RESERVED"),
            (92, "PUBLIC_UNASSIGNED"), (99, "PUBLIC_UNASSIGNED"), (100, "USER_DEFINED"), (110, "USER_DEFINED"),
            (111, "PUBLIC_UNASSIGNED"), (124, "PUBLIC_UNASSIGNED"), (125, "RESERVED"), (127, "RESERVED"),
            (128, "NONE"), (0xB0, "NONE"), (255, "NONE"),
        ]
        for (raw, name) in want {
            XCTAssertEqual(SuricataModbusNames.unnamedCategory(raw).description, name, "\(raw)")
        }
    }

    /// The hot path's three-members-at-once fragment says what the three tables say, for every
    /// code it covers, and covers exactly the named codes whose category is fixed (not 8, 43).
    func testDescribedFunctionMatchesTheTables() {
        for raw in 0...255 {
            let r = UInt8(raw)
            let fixed = SuricataModbusNames.isNamed(r) && r & 0x7F != 8 && r & 0x7F != 43
            guard let d = SuricataModbusNames.describedFunction(r) else { XCTAssertFalse(fixed, "\(raw)"); continue }
            XCTAssertTrue(fixed, "\(raw)")
            let want = #","function_code":""# + SuricataModbusNames.functionCode(r).description + #"","access_type":""#
                + SuricataModbusNames.accessType(r).description + #"","category":"PUBLIC_ASSIGNED""#
            XCTAssertEqual(d.description, want, "\(raw)")
        }
    }

    /// Suricata's `modbus.id` and the envelope's `tx_id`: the flow's transactions numbered from 0
    /// as they begin (a request when it arrives, an unmatched response when seen), whatever
    /// their status; no direction.
    func testTransactionIDs() {
        let s = runSession([Delivery(direction: .toClient, bytes: adu(5, [0x03, 0x02, 0, 1])),
                            Delivery(direction: .toServer, bytes: adu(6, [0x03, 0, 0, 0, 1])),
                            Delivery(direction: .toClient, bytes: adu(6, [0x03, 0x02, 0, 1])),
                            Delivery(direction: .toServer, bytes: adu(7, [0x06, 0, 0, 0, 1])),
                            Delivery(direction: .toServer, bytes: adu(7, [0x06, 0, 0, 0, 2]))])
        let t = s.transactions
        XCTAssertEqual(t.map { $0.str("status") ?? "" }, ["unmatched_response", "complete", "unanswered", "unanswered"])
        XCTAssertEqual(t.map { $0.int("id") ?? -1 }, [0, 1, 2, 3])
        XCTAssertEqual(s.txIDs, [0, 1, 2, 3])
        XCTAssertTrue(s.directions.allSatisfy { $0 == nil })
    }

    func testEmptyDeviceObjectsAreLeftOut() {
        let s = runSession([Delivery(direction: .toServer, bytes: adu(1, [0x2B, 0x0E, 1, 0])),
                            Delivery(direction: .toClient, bytes: adu(1, [0x2B, 0x0E, 1, 1, 0, 0, 0]))])
        let r = s.transactions.first?.obj("response")
        XCTAssertEqual(r?.int("number_of_objects"), 0)
        XCTAssertNil(r?["objects"])
    }

    /// Every event of the spec vectors and of the cases above: Suricata's fields on every side,
    /// each of Suricata's type (../shared/suricata/schema.json with our additions allowed).
    func testEventsHaveSuricatasTypes() throws {
        guard let schema = SuricataSchema.modbus else { throw XCTSkip("Suricata's schema absent: \(SuricataSchema.url.path)") }
        var events = runSession(ModbusStreamTests.conversation()).transactions
        for c in Self.cases {
            var d = [Delivery(direction: .toServer, bytes: adu(1, c.request))]
            if let r = c.response { d.append(Delivery(direction: .toClient, bytes: adu(1, r))) }
            events += runSession(d).transactions
        }
        XCTAssertGreaterThan(events.count, Self.cases.count)
        for e in events {
            XCTAssertEqual(SuricataSchema.typeErrors(e, schema), [String](), "\(e)")
            XCTAssertNotNil(e.int("id"))
            for side in ["request", "response"] {
                guard let p = e.obj(side) else { continue }
                for k in ["transaction_id", "protocol_id", "unit_id", "function_raw"] { XCTAssertNotNil(p.int(k), "\(side).\(k) \(e)") }
                for k in ["function_code", "access_type", "category", "error_flags"] { XCTAssertNotNil(p.str(k), "\(side).\(k) \(e)") }
            }
        }
    }
}

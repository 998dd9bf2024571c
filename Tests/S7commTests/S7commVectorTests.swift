import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Byte vectors per function, built from the layouts of RFC 1006, ISO 8073 and the public S7comm
/// descriptions (S7Bytes says which bytes each builder makes); the SZL records are the bytes the
/// snap7 server answered in fixtures/s7comm-snap7.pcap (fixtures/logs/s7comm-snap7.client.txt).
final class S7commVectorTests: XCTestCase {
    typealias B = S7Bytes

    /// The SZL 0x0011 records of the fixture (4 records of 28 bytes).
    static let moduleRecords: [UInt8] = hex("""
        00 01 36 45 53 37 20 33 31 35 2d 32 45 48 31 34 2d 30 41 42 30 20 00 c0 00 04 00 01 00 06 36 45 53 37 20 33 31 35 \
        2d 32 45 48 31 34 2d 30 41 42 30 20 00 c0 00 04 00 01 00 07 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 \
        20 00 c0 56 03 02 06 00 81 42 6f 6f 74 20 4c 6f 61 64 65 72 20 20 20 20 20 20 20 20 20 00 00 41 20 09 09
        """)

    /// The SZL 0x001C records of the fixture (10 records of 34 bytes).
    static let componentRecords: [UInt8] = {
        func rec(_ index: UInt8, _ text: String) -> [UInt8] {
            let t = Array(text.utf8)
            return [0, index] + t + [UInt8](repeating: 0, count: 32 - t.count)
        }
        return rec(1, "SNAP7-SERVER") + rec(2, "CPU 315-2 PN/DP") + rec(3, "") + rec(4, "Original Siemens Equipment")
            + rec(5, "S C-C2UR28922012") + rec(7, "CPU 315-2 PN/DP") + rec(8, "MMC 267FF11F")
            + [0x00, 0x09, 0x00, 0x2A, 0xF6, 0x00, 0x00, 0x01] + [UInt8](repeating: 0, count: 26) + rec(0x0A, "") + rec(0x0B, "")
    }()

    static func hex(_ s: String) -> [UInt8] {
        s.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt8($0, radix: 16) }
    }

    /// An SZL answer: userdata response (parameter with data unit reference, last-unit flag,
    /// error code), data: return code, octet string, the list header and records.
    static func szlAnswer(ref: Int, id: Int, index: Int, recordLength: Int, count: Int, records: [UInt8],
                          unit: UInt8 = 0, more: Bool = false) -> [UInt8] {
        let payload = B.be16(id) + B.be16(index) + B.be16(recordLength) + B.be16(count) + records
        return B.dt(B.s7(7, ref: ref, param: B.userdataParam(type: 8, group: 4, sub: 1, ext: (unit, more ? 1 : 0, 0)),
                         data: B.userdataData(payload)))
    }

    func testConnectSetupReadAndErrorItem() throws {
        let req = B.dt(B.s7(1, ref: 0x0B00, param: B.readVar([
            B.item(ts: 0x01, count: 1, db: 1, area: 0x84, byte: 20, bit: 3),
            B.item(count: 2, area: 0x83, byte: 0),
            B.item(count: 2, db: 99, area: 0x84, byte: 0),
        ])))
        // snap7's error item: return code 0x0A, transport size NULL and the length 4 without a value.
        let rspData = B.dataItem(0xFF, [0x01], last: false) + B.dataItem(0xFF, [0x40, 0x41], last: false) + [0x0A, 0x00, 0x00, 0x04]
        let rsp = B.dt(B.s7(3, ref: 0x0B00, param: [0x04, 0x03], data: rspData))
        let s = runSession([
            Delivery(direction: .toServer, bytes: B.connect()),
            Delivery(direction: .toClient, bytes: B.connect(cc: true)),
            Delivery(direction: .toServer, bytes: B.dt(B.s7(1, ref: 0, param: B.setup(pdu: 480)))),
            Delivery(direction: .toClient, bytes: B.dt(B.s7(3, ref: 0, param: B.setup(pdu: 240)))),
            Delivery(direction: .toServer, bytes: req),
            Delivery(direction: .toClient, bytes: rsp),
        ])
        XCTAssertEqual(s.anomalies, [])
        let t = s.transactions
        XCTAssertEqual(t.count, 3)
        let cotp = try XCTUnwrap(t[0].obj("cotp"))
        XCTAssertEqual(cotp.obj("request")?.str("pdu_type"), "CR")
        XCTAssertEqual(cotp.obj("request")?.str("calling_tsap"), "0100")
        XCTAssertEqual(cotp.obj("request")?.str("called_tsap"), "0102")
        XCTAssertEqual(cotp.obj("request")?.int("called_slot"), 2)
        XCTAssertEqual(cotp.obj("request")?.str("connection_type"), "pg")
        XCTAssertEqual(cotp.obj("response")?.int("tpdu_size"), 1024)
        XCTAssertEqual(t[1].obj("response")?.int("pdu_length"), 240)
        let items = try XCTUnwrap(t[2].obj("request")?.arr("items"))
        XCTAssertEqual(items.map { $0.str("address") ?? "" }, ["20.3", "0.0", "0.0"])
        XCTAssertEqual(items.map { $0.str("area") ?? "" }, ["DB", "M", "DB"])
        XCTAssertEqual(items.map { $0.int("db") ?? -1 }, [1, -1, 99])
        XCTAssertEqual(items[0].str("transport_size"), "bit")
        let results = try XCTUnwrap(t[2].obj("response")?.arr("items"))
        XCTAssertEqual(results.map { $0.str("return_code") ?? "" }, ["success", "success", "object_does_not_exist"])
        XCTAssertEqual(results.map { $0.str("data") ?? "" }, ["01", "4041", ""])
        XCTAssertEqual(results.map { $0.int("length") ?? -1 }, [1, 2, -1], "a failed item has no value, whatever its length field")
        XCTAssertEqual(t[2].str("status"), "complete")
    }

    func testWriteVarFillByteAndResults() throws {
        // Odd values not last carry a fill byte (any value: snap7 sends uninitialised memory).
        let data: [UInt8] = [0x00, 0x04, 0x00, 0x08, 0x5A, 0xEF] + [0x00, 0x04, 0x00, 0x10, 0xC3, 0x3C]
        let req = B.dt(B.s7(1, ref: 7, param: [0x05, 0x02] + B.item(count: 1, area: 0x83, byte: 20)
                                + B.item(count: 2, area: 0x82, byte: 8), data: data))
        let rsp = B.dt(B.s7(3, ref: 7, param: [0x05, 0x02], data: [0xFF, 0x05]))
        let s = runSession([Delivery(direction: .toServer, bytes: req), Delivery(direction: .toClient, bytes: rsp)], observing: true)
        XCTAssertEqual(s.anomalies, [])
        let t = try XCTUnwrap(s.transactions.first)
        XCTAssertEqual(t.obj("request")?.arr("items")?.map { $0.str("data") ?? "" }, ["5a", "c33c"])
        XCTAssertEqual(t.obj("response")?.arr("items")?.map { $0.str("return_code") ?? "" }, ["success", "address_out_of_range"])
        let c = try XCTUnwrap(s.commands.first)
        XCTAssertEqual("\(c.name)", "write_var")
        XCTAssertEqual(c.operation, .write)
        XCTAssertEqual(c.subfunction, 0x83)
        XCTAssertEqual(c.addressStart, 20)
        XCTAssertEqual(c.addressCount, 3)
        XCTAssertEqual(c.detail, "M 20.0 x1 +1 items")
        XCTAssertEqual(s.outcomes, ["server s7comm.item_error false 5"])
        XCTAssertEqual(s.operations, [OperationClass.write])
    }

    func testSZLIdentitiesAndEventIdentification() throws {
        let s = runSession([
            Delivery(direction: .toServer, bytes: B.szlRequest(ref: 0x0300, id: 0x0011, index: 0)),
            Delivery(direction: .toClient, bytes: Self.szlAnswer(ref: 0x0300, id: 0x0011, index: 0, recordLength: 28, count: 4,
                                                                records: Self.moduleRecords)),
            Delivery(direction: .toServer, bytes: B.szlRequest(ref: 0x0200, id: 0x001C, index: 0)),
            Delivery(direction: .toClient, bytes: Self.szlAnswer(ref: 0x0200, id: 0x001C, index: 0, recordLength: 34, count: 10,
                                                                records: Self.componentRecords)),
        ], observing: true)
        XCTAssertEqual(s.anomalies, [])
        XCTAssertEqual(s.identities, [
            "s7comm.order_code=6ES7 315-2EH14-0AB0", "s7comm.firmware=V3.2.6",
            "s7comm.as_name=SNAP7-SERVER", "s7comm.module_name=CPU 315-2 PN/DP", "s7comm.copyright=Original Siemens Equipment",
            "s7comm.serial_number=S C-C2UR28922012", "s7comm.module_type=CPU 315-2 PN/DP", "s7comm.memory_card_serial=MMC 267FF11F",
        ])
        let first = try XCTUnwrap(s.transactions.first?.obj("response"))
        XCTAssertEqual(first.int("szl_id"), 0x11)
        XCTAssertEqual(first.str("szl_name"), "module_identification")
        XCTAssertEqual(first.int("szl_record_count"), 4)
        XCTAssertEqual(first.obj("identification")?.str("order_code"), "6ES7 315-2EH14-0AB0")
        XCTAssertEqual(first.obj("identification")?.str("firmware"), "V3.2.6")
        XCTAssertEqual(s.transactions[1].obj("response")?.obj("identification")?.str("serial_number"), "S C-C2UR28922012")
        XCTAssertEqual(s.commands.map { "\($0.name) \($0.operation) \(String($0.function, radix: 16)) \($0.subfunction)" },
                       ["read_szl discovery 1401 17", "read_szl discovery 1401 28"])
        XCTAssertEqual(s.roles, ["client s7comm.client", "server s7comm.server"])
    }

    /// A connect request that repeats its called TSAP (found by the fuzzer: `called_tsap`
    /// twice in one object): each parameter is written once, the first of its code.
    func testRepeatedCOTPParameterWritesItOnce() throws {
        var cr = B.connect(calling: [0x01, 0x00], called: [0x0A])
        cr += [0xC2, 2, 0x01, 0x02]
        cr[3] = UInt8(cr.count)      // the TPKT length
        cr[4] += 4                   // the COTP length indicator
        let s = runSession([
            Delivery(direction: .toServer, bytes: cr),
            Delivery(direction: .toClient, bytes: B.connect(cc: true)),
            Delivery(direction: .toServer, bytes: B.dt(B.s7(1, ref: 0, param: B.setup()))),
            Delivery(direction: .toClient, bytes: B.dt(B.s7(3, ref: 0, param: B.setup()))),
        ])
        let line = try XCTUnwrap(s.lines.first { $0.contains("\"called_tsap\"") })
        XCTAssertEqual(line.components(separatedBy: "\"called_tsap\"").count, 3, "once in the request, once in the confirm: \(line)")
        XCTAssertTrue(line.contains("\"called_tsap\":\"0a\""), line)
    }

    /// An answer that repeats a record's index (found by the fuzzer: `module_type` twice in
    /// one object, which is not valid JSON): each field is written once, from its first record.
    func testRepeatedSZLIndexWritesTheFieldOnce() throws {
        let twice = Array(Self.componentRecords[(5 * 34)..<(6 * 34)])   // index 7, module type
        var second = twice
        second.replaceSubrange(2..<7, with: Array("OTHER".utf8))
        let s = runSession([
            Delivery(direction: .toServer, bytes: B.szlRequest(ref: 0x0200, id: 0x001C, index: 0)),
            Delivery(direction: .toClient, bytes: Self.szlAnswer(ref: 0x0200, id: 0x001C, index: 0, recordLength: 34, count: 2,
                                                                records: twice + second)),
        ])
        let line = try XCTUnwrap(s.lines.first { $0.contains("\"identification\"") })
        XCTAssertEqual(line.components(separatedBy: "\"module_type\"").count, 2, line)
        XCTAssertEqual(s.transactions.first?.obj("response")?.obj("identification")?.str("module_type"), "CPU 315-2 PN/DP")
    }

    /// A list longer than one PDU: the first answer says more follows (last data unit 0x01)
    /// and the client asks for the rest with a follow-up request (data 0A 00 00 00). A record
    /// cut between the two answers is assembled; the identities are those of the whole list.
    func testSZLAnswerContinuedInAFollowUp() throws {
        let whole = Self.componentRecords
        for cut in [34 * 3, 34 * 3 + 17, 1, whole.count - 1] {
            let follow = B.dt(B.s7(7, ref: 0x0600, param: B.userdataParam(type: 4, group: 4, sub: 1, seq: 3),
                                   data: [0x0A, 0x00, 0x00, 0x00]))
            let rest = B.dt(B.s7(7, ref: 0x0600, param: B.userdataParam(type: 8, group: 4, sub: 1, seq: 3, ext: (3, 0, 0)),
                                 data: B.userdataData(Array(whole[cut...]))))
            let s = runSession([
                Delivery(direction: .toServer, bytes: B.szlRequest(ref: 0x0500, id: 0x001C, index: 0)),
                Delivery(direction: .toClient, bytes: Self.szlAnswer(ref: 0x0500, id: 0x001C, index: 0, recordLength: 34, count: 10,
                                                                    records: Array(whole[..<cut]), unit: 3, more: true)),
                Delivery(direction: .toServer, bytes: follow),
                Delivery(direction: .toClient, bytes: rest),
            ], observing: true)
            XCTAssertEqual(s.anomalies, [], "cut \(cut)")
            XCTAssertEqual(s.identities.count, 6, "cut \(cut): \(s.identities)")
            XCTAssertEqual(s.identities.last, "s7comm.memory_card_serial=MMC 267FF11F")
            XCTAssertEqual(s.transactions[1].obj("request")?["follow_up"] as? Bool, true)
            XCTAssertEqual(s.transactions[1].obj("response")?["continuation"] as? Bool, true)
            XCTAssertEqual(s.transactions[1].obj("response")?.int("data_bytes"), whole.count - cut)
        }
    }

    func testPLCControlUploadDownloadCommands() throws {
        func pi(_ ref: Int, _ block: [UInt8], _ name: String) -> [UInt8] {
            B.dt(B.s7(1, ref: ref, param: [0x28, 0, 0, 0, 0, 0, 0, 0xFD] + B.be16(block.count) + block
                                          + [UInt8(name.utf8.count)] + Array(name.utf8)))
        }
        let stop = B.dt(B.s7(1, ref: 1, param: [0x29, 0, 0, 0, 0, 0, 9] + Array("P_PROGRAM".utf8)))
        let dele = pi(2, [0x01, 0x00] + Array("0A00005B".utf8), "_DELE")
        let cold = pi(3, Array("C ".utf8), "P_PROGRAM")
        let modu = pi(4, Array("EP".utf8), "_MODU")
        let garb = pi(5, [], "_GARB")
        let inse = pi(6, [0x01, 0x00] + Array("0800001P".utf8), "_INSE")
        let upload = B.dt(B.s7(1, ref: 7, param: [0x1D, 0, 0, 0, 0, 0, 0, 0, 9] + Array("_0A00001A".utf8)))
        let request = B.dt(B.s7(1, ref: 8, param: [0x1A, 0, 0, 0, 0, 0, 0, 0, 9] + Array("_0800001P".utf8)
                                  + [13] + Array("1000192000100".utf8)))
        // The PLC fetches the block: its download block job travels to the client.
        let block = B.dt(B.s7(1, ref: 9, param: [0x1B, 0, 0, 0, 0, 0, 0, 0, 9] + Array("_0800001P".utf8)))
        let blockAck = B.dt(B.s7(3, ref: 9, param: [0x1B, 0x00], data: B.be16(4) + [0x00, 0xFB, 1, 2, 3, 4]))
        var acks: [UInt8] = []
        for (ref, f) in [(1, 0x29), (2, 0x28), (3, 0x28), (4, 0x28), (5, 0x28), (6, 0x28)] {
            acks += B.dt(B.s7(3, ref: ref, param: [UInt8(f)]))
        }
        acks += B.dt(B.s7(3, ref: 7, param: [0x1D, 0x00, 0x01, 0x00, 0, 0, 0, 7, 7] + Array("0000192".utf8)))
        acks += B.dt(B.s7(3, ref: 8, param: [0x1A]))
        let s = runSession([
            Delivery(direction: .toServer, bytes: stop + dele + cold + modu + garb + inse + upload + request),
            Delivery(direction: .toClient, bytes: acks + block),
            Delivery(direction: .toServer, bytes: blockAck),
        ], observing: true)
        XCTAssertEqual(s.anomalies, [])
        XCTAssertEqual(s.commands.map { "\($0.issuer) \($0.name) \($0.operation) \($0.detail ?? "-") \($0.target ?? "-")" }, [
            "client plc_stop control P_PROGRAM -", "client plc_delete_block file _DELE DB5", "client plc_start control P_PROGRAM C ",
            "client plc_copy_ram_to_rom file _MODU EP", "client plc_compress_memory control _GARB -",
            "client plc_insert_block file _INSE OB1", "client start_upload file _0A00001A -",
            "client request_download file _0800001P -", "server download_block file _0800001P -",
        ])
        let t = s.transactions
        XCTAssertEqual(t.map { $0.str("status") ?? "" }, [String](repeating: "complete", count: 9))
        XCTAssertEqual(t[1].obj("request")?.arr("blocks")?.first?.str("block_type"), "DB")
        XCTAssertEqual(t[1].obj("request")?.arr("blocks")?.first?.int("block_number"), 5)
        XCTAssertEqual(t[2].obj("request")?.str("arguments"), "C ")
        XCTAssertEqual(t[6].obj("request")?.str("block_type"), "DB")
        XCTAssertEqual(t[6].obj("response")?.int("upload_id"), 7)
        XCTAssertEqual(t[6].obj("response")?.int("block_length"), 192)
        XCTAssertEqual(t[7].obj("request")?.int("load_memory_length"), 192)
        XCTAssertEqual(t[7].obj("request")?.int("mc7_length"), 100)
        XCTAssertEqual(t[8].obj("response")?.int("data_bytes"), 4)
        XCTAssertNil(t[8].obj("response")?["data"], "block bytes are counted, never written")
        XCTAssertEqual(s.directions.last, .toClient, "a PLC's job names the way it travelled")
    }

    func testClockPasswordAndPush() throws {
        let setClock = B.dt(B.s7(7, ref: 0x0700, param: B.userdataParam(type: 4, group: 7, sub: 2),
                                 data: B.userdataData([0x00, 0x19, 0x24, 0x01, 0x02, 0x10, 0x15, 0x00, 0x00, 0x01])))
        let password = B.dt(B.s7(7, ref: 0x0800, param: B.userdataParam(type: 4, group: 5, sub: 1),
                                 data: B.userdataData([0x33, 0x3C, 0x1E, 0x1D, 0x3E, 0x3A, 0x0E, 0x5E])))
        let stopPush = B.dt(B.s7(7, ref: 0x0000, param: B.userdataParam(type: 0, group: 0, sub: 0),
                                 data: B.userdataData([], rc: 0xFF)))
        let s = runSession([Delivery(direction: .toServer, bytes: setClock + password), Delivery(direction: .toClient, bytes: stopPush)],
                           observing: true)
        let t = s.transactions
        XCTAssertEqual(t.map { $0.str("status") ?? "" }, ["notification", "unanswered", "unanswered"])
        XCTAssertEqual(t[0].obj("notification")?.str("cpu_mode"), "stop")
        XCTAssertEqual(t[1].obj("request")?.str("time"), "2024-01-02T10:15:00.000000+0000")
        XCTAssertEqual(t[2].obj("request")?.int("password_bytes"), 8)
        XCTAssertFalse(s.lines.joined().contains("333c1e1d"), "the password is never logged")
        XCTAssertEqual(s.commands.map { "\($0.name) \($0.operation)" }, ["set_clock time", "plc_password association"])
    }

    func testCOTPRefusalConfirmFirstAndNotifications() throws {
        // DR answering a CR: the connection refused (reason 0x80 normal... here 0x85 protocol error).
        let dr = B.tpkt([0x06, 0x80, 0x00, 0x01, 0x00, 0x02, 0x85])
        let s = runSession([Delivery(direction: .toServer, bytes: B.connect()), Delivery(direction: .toClient, bytes: dr)], observing: true)
        XCTAssertEqual(s.transactions.first?.obj("cotp")?.obj("response")?.str("reason"), "protocol_error")
        XCTAssertEqual(s.outcomes, ["server s7comm.connection_refused false 133"])
        // The engine hands a probe buffer of the other direction over first: a CC before its CR pairs.
        let r = runSession([Delivery(direction: .toClient, bytes: B.connect(cc: true)), Delivery(direction: .toServer, bytes: B.connect())])
        XCTAssertEqual(r.transactions.count, 1)
        XCTAssertEqual(r.transactions.first?.str("status"), "complete")
        XCTAssertNil(r.transactions.first?["latency_ms"])
        XCTAssertEqual(r.directions, [.toServer])
        // A CR alone is unanswered at the end; a DC is a notification.
        let u = runSession([Delivery(direction: .toServer, bytes: B.connect()),
                            Delivery(direction: .toClient, bytes: B.tpkt([0x05, 0xC0, 0x00, 0x01, 0x00, 0x02]))])
        XCTAssertEqual(u.transactions.map { $0.str("status") ?? "" }, ["notification", "unanswered"])
    }

    /// An S7 PDU cut into three DT TPDUs (EOT on the last only) gives the event one DT gives.
    func testMultiTPDUReassembly() {
        let pdu = B.s7(1, ref: 0x1200, param: B.readVar([B.item(count: 16, db: 1, area: 0x84, byte: 0),
                                                          B.item(count: 4, area: 0x81, byte: 2)]))
        let rsp = B.dt(B.s7(3, ref: 0x1200, param: [0x04, 0x02], data: B.dataItem(0xFF, Array(0..<16), last: false)
                                  + B.dataItem(0xFF, [9, 9, 9, 9])))
        let one = runSession([Delivery(direction: .toServer, bytes: B.dt(pdu)), Delivery(direction: .toClient, bytes: rsp)])
        let parts = B.dt(Array(pdu[0..<5]), eot: false) + B.dt([], eot: false) + B.dt(Array(pdu[5..<20]), eot: false) + B.dt(Array(pdu[20...]))
        let three = runSession([Delivery(direction: .toServer, bytes: parts), Delivery(direction: .toClient, bytes: rsp)])
        XCTAssertEqual(three.lines, one.lines)
        XCTAssertEqual(one.anomalies, [])
    }

    func testNames() {
        XCTAssertEqual("\(S7commNames.area(0x84))", "DB")
        XCTAssertEqual("\(S7commNames.function(0x29))", "plc_stop")
        XCTAssertEqual("\(S7commNames.returnCode(0x0A))", "object_does_not_exist")
        XCTAssertEqual("\(S7commNames.userdataFunction(group: 4, subfunction: 1))", "read_szl")
        XCTAssertEqual("\(S7commNames.szl(0x0111))", "module_identification")
        XCTAssertEqual(S7commJSON.daysFromCivil(1970, 1, 1), 0)
        XCTAssertEqual(S7commJSON.daysFromCivil(2024, 1, 2), 19_724)
        // Every anomaly name is the protocol's, once, numbered 1... in order.
        let names = S7comm.Anomalies.all.map { "\($0.name)" }
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertTrue(names.allSatisfy { $0.hasPrefix("s7comm.") })
        XCTAssertEqual(S7comm.Anomalies.all.map(\.number), Array(1...names.count))
    }
}

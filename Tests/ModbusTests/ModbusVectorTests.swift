import SpanSightEngine
@testable import SpanSightModbus
import SpanSightWire
import XCTest

/// Byte vectors per function code. Unless a comment says otherwise, each PDU pair is the
/// example of its section in the Modbus Application Protocol Specification V1.1b3 (section 6.x),
/// wrapped in an MBAP header (Modbus Messaging on TCP/IP, 3.1.3).
final class ModbusVectorTests: XCTestCase {
    struct Vector: Sendable {
        var name: String
        var request: [UInt8]
        var response: [UInt8]
        var check: @Sendable ([String: Any], [String: Any]) -> Void
    }

    static let vectors: [Vector] = [
        // 6.1 Read Coils: 19 coils from 20; response CD 6B 05.
        Vector(name: "fc1", request: [0x01, 0x00, 0x13, 0x00, 0x13], response: [0x01, 0x03, 0xCD, 0x6B, 0x05]) { q, r in
            XCTAssertEqual(q.str("function"), "read_coils"); XCTAssertEqual(q.str("function_code"), "RdCoils")
            XCTAssertEqual(q.obj("read")?.int("address"), 19); XCTAssertEqual(q.obj("read")?.int("quantity"), 19)
            XCTAssertEqual(r.int("byte_count"), 3); XCTAssertEqual(r.obj("read")?.str("data"), "cd6b05")
            // 0xCD = 1100 1101 -> coils 20..27 LSB first: 1,0,1,1,0,0,1,1; only 19 bits are coils.
            XCTAssertEqual((r["values"] as? [Int])?.prefix(8), [1, 0, 1, 1, 0, 0, 1, 1])
            XCTAssertEqual((r["values"] as? [Int])?.count, 19)
        },
        // 6.2 Read Discrete Inputs: 22 inputs from 197.
        Vector(name: "fc2", request: [0x02, 0x00, 0xC4, 0x00, 0x16], response: [0x02, 0x03, 0xAC, 0xDB, 0x35]) { q, r in
            XCTAssertEqual(q.str("function"), "read_discrete_inputs")
            XCTAssertEqual(q.obj("read")?.int("address"), 196); XCTAssertEqual(q.obj("read")?.int("quantity"), 22)
            XCTAssertEqual((r["values"] as? [Int])?.count, 22)
        },
        // 6.3 Read Holding Registers 108-110: values 555, 0, 100.
        Vector(name: "fc3", request: [0x03, 0x00, 0x6B, 0x00, 0x03], response: [0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]) { q, r in
            XCTAssertEqual(q.str("function"), "read_holding_registers")
            XCTAssertEqual(r["values"] as? [Int], [555, 0, 100]); XCTAssertEqual(r.obj("read")?.str("data"), "022b00000064")
        },
        // 6.4 Read Input Register 9: value 10.
        Vector(name: "fc4", request: [0x04, 0x00, 0x08, 0x00, 0x01], response: [0x04, 0x02, 0x00, 0x0A]) { q, r in
            XCTAssertEqual(q.str("function"), "read_input_registers")
            XCTAssertEqual(r["values"] as? [Int], [10])
        },
        // 6.5 Write Single Coil 173 ON.
        Vector(name: "fc5", request: [0x05, 0x00, 0xAC, 0xFF, 0x00], response: [0x05, 0x00, 0xAC, 0xFF, 0x00]) { q, r in
            XCTAssertEqual(q.obj("write")?.int("address"), 172); XCTAssertEqual(q.obj("write")?.int("data"), 0xFF00)
            XCTAssertEqual(r.obj("write")?.int("address"), 172); XCTAssertEqual(r.obj("write")?.int("data"), 0xFF00)
        },
        // 6.6 Write Single Register 2 = 3.
        Vector(name: "fc6", request: [0x06, 0x00, 0x01, 0x00, 0x03], response: [0x06, 0x00, 0x01, 0x00, 0x03]) { q, _ in
            XCTAssertEqual(q.str("function"), "write_single_register"); XCTAssertEqual(q.obj("write")?.int("data"), 3)
        },
        // 6.7 Read Exception Status: output data 0x6D.
        Vector(name: "fc7", request: [0x07], response: [0x07, 0x6D]) { _, r in
            XCTAssertEqual(r.int("output_data"), 0x6D); XCTAssertEqual(r.str("data"), "6d")
        },
        // 6.8 Diagnostics, sub-function 0 return query data A5 37.
        Vector(name: "fc8", request: [0x08, 0x00, 0x00, 0xA5, 0x37], response: [0x08, 0x00, 0x00, 0xA5, 0x37]) { q, r in
            let d = q.obj("diagnostic")
            XCTAssertEqual(d?.str("name"), "return_query_data"); XCTAssertEqual(d?.str("code"), "RetQueryData")
            XCTAssertEqual(d?.str("data"), "a537"); XCTAssertNil(q["data"])
            XCTAssertEqual(r.obj("diagnostic")?.int("raw"), 0)
        },
        // 6.9 Get Comm Event Counter: status FFFF, count 0108.
        Vector(name: "fc11", request: [0x0B], response: [0x0B, 0xFF, 0xFF, 0x01, 0x08]) { _, r in
            XCTAssertEqual(r.int("status"), 0xFFFF); XCTAssertEqual(r.int("event_count"), 0x108)
            XCTAssertEqual(r.str("data"), "ffff0108")
        },
        // 6.10 Get Comm Event Log: 2 events 20 00.
        Vector(name: "fc12", request: [0x0C], response: [0x0C, 0x08, 0x00, 0x00, 0x01, 0x08, 0x01, 0x21, 0x20, 0x00]) { _, r in
            XCTAssertEqual(r.int("event_count"), 0x108); XCTAssertEqual(r.int("message_count"), 0x121)
            XCTAssertEqual(r.str("events"), "2000"); XCTAssertEqual(r.str("data"), "080000010801212000")
        },
        // 6.11 Write Multiple Coils: 10 coils from 20, CD 01.
        Vector(name: "fc15", request: [0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01], response: [0x0F, 0x00, 0x13, 0x00, 0x0A]) { q, r in
            XCTAssertEqual(q["values"] as? [Int], [1, 0, 1, 1, 0, 0, 1, 1, 1, 0])
            // Suricata's request write.data would be the bytes (its schema types data integer):
            // left out; the response's data is the quantity.
            XCTAssertEqual(q["write"] as? [String: Int], ["address": 19, "quantity": 10])
            XCTAssertEqual(r["write"] as? [String: Int], ["address": 19, "data": 10])
        },
        // 6.12 Write Multiple Registers: 000A 0102 at 2.
        Vector(name: "fc16", request: [0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02], response: [0x10, 0x00, 0x01, 0x00, 0x02]) { q, r in
            XCTAssertEqual(q["values"] as? [Int], [10, 258])
            XCTAssertEqual(q["write"] as? [String: Int], ["address": 1, "quantity": 2])
            XCTAssertEqual(r["write"] as? [String: Int], ["address": 1, "data": 2])
        },
        // 6.13 Report Server ID: layout byte count, server id, run indicator (content is device
        // specific, so these bytes are ours: id "AB", run indicator ON).
        Vector(name: "fc17", request: [0x11], response: [0x11, 0x03, 0x41, 0x42, 0xFF]) { _, r in
            XCTAssertEqual(r.str("server_id"), "AB"); XCTAssertEqual(r.str("run_indicator_status"), "on")
        },
        // 6.14 Read File Record: two sub-requests (file 4 rec 1 len 2, file 3 rec 9 len 2).
        Vector(name: "fc20",
               request: [0x14, 0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06, 0x00, 0x03, 0x00, 0x09, 0x00, 0x02],
               response: [0x14, 0x0C, 0x05, 0x06, 0x0D, 0xFE, 0x00, 0x20, 0x05, 0x06, 0x33, 0xCD, 0x00, 0x40]) { q, r in
            let qs = q["file_records"] as? [[String: Any]]
            XCTAssertEqual(qs?.count, 2); XCTAssertEqual(qs?.last?.int("record_number"), 9)
            XCTAssertEqual(q.str("data"), "0e0600040001000206000300090002")
            let rs = r["file_records"] as? [[String: Any]]
            XCTAssertEqual(rs?.first?.str("data"), "0dfe0020")
        },
        // 6.15 Write File Record: file 4 record 7, 3 registers.
        Vector(name: "fc21",
               request: [0x15, 0x0D, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06, 0xAF, 0x04, 0xBE, 0x10, 0x0D],
               response: [0x15, 0x0D, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06, 0xAF, 0x04, 0xBE, 0x10, 0x0D]) { q, _ in
            let qs = q["file_records"] as? [[String: Any]]
            XCTAssertEqual(qs?.first?.str("data"), "06af04be100d")
        },
        // 6.16 Mask Write Register 4: AND 00F2, OR 0025.
        Vector(name: "fc22", request: [0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25], response: [0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25]) { q, r in
            XCTAssertEqual(q["write"] as? [String: Int], ["address": 4, "and_mask": 0xF2, "or_mask": 0x25])
            XCTAssertEqual(r["write"] as? [String: Int], ["address": 4, "and_mask": 0xF2, "or_mask": 0x25])
        },
        // 6.17 Read/Write Multiple registers: read 6 from 4, write 3 at 15.
        Vector(name: "fc23",
               request: [0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF],
               response: [0x17, 0x0C, 0x00, 0xFE, 0x0A, 0xCD, 0x00, 0x01, 0x00, 0x03, 0x00, 0x0D, 0x00, 0xFF]) { q, r in
            XCTAssertEqual(q["read"] as? [String: Int], ["address": 3, "quantity": 6])
            XCTAssertEqual(q["write"] as? [String: Int], ["address": 14, "quantity": 3])
            XCTAssertEqual(r.obj("read")?.str("data"), "00fe0acd00010003000d00ff")
            XCTAssertEqual(q["values"] as? [Int], [255, 255, 255])
            XCTAssertEqual((r["values"] as? [Int])?.count, 6)
        },
        // 6.18 Read FIFO Queue at 04DE: 2 values 01B8 1284.
        Vector(name: "fc24", request: [0x18, 0x04, 0xDE], response: [0x18, 0x00, 0x06, 0x00, 0x02, 0x01, 0xB8, 0x12, 0x84]) { q, r in
            XCTAssertEqual(q.int("fifo_pointer_address"), 0x4DE); XCTAssertEqual(q.str("data"), "04de")
            XCTAssertEqual(r.int("fifo_count"), 2); XCTAssertEqual(r["values"] as? [Int], [0x1B8, 0x1284])
        },
        // 6.21 Read Device Identification, basic, from object 0 (the spec example's three
        // strings, with their lengths computed from the strings).
        Vector(name: "fc43/14", request: [0x2B, 0x0E, 0x01, 0x00],
               response: [0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03]
                + [0x00, 22] + Array("Company identification".utf8)
                + [0x01, 15] + Array("Product code XX".utf8)
                + [0x02, 5] + Array("V2.11".utf8)) { q, r in
            XCTAssertEqual(q.int("read_device_id"), 1); XCTAssertEqual(q.int("object_id"), 0)
            XCTAssertEqual(q.obj("mei")?.int("raw"), 14); XCTAssertEqual(q.obj("mei")?.str("code"), "RdDevId")
            XCTAssertEqual(q.obj("mei")?.str("name"), "read_device_identification"); XCTAssertEqual(q.obj("mei")?.str("data"), "0100")
            XCTAssertEqual(r.obj("mei")?.str("data")?.prefix(10), "0101000003")
            XCTAssertEqual(r.int("conformity_level"), 1); XCTAssertEqual(r["more_follows"] as? Bool, false)
            let objs = r["objects"] as? [[String: Any]]
            XCTAssertEqual(objs?.map { $0.str("name") ?? "" }, ["VendorName", "ProductCode", "MajorMinorRevision"])
            XCTAssertEqual(objs?.last?.str("value"), "V2.11")
        },
        // 6.20 CANopen General Reference (43/13): payload kept raw (bytes ours).
        Vector(name: "fc43/13", request: [0x2B, 0x0D, 0x01, 0x02], response: [0x2B, 0x0D, 0x03]) { q, r in
            XCTAssertEqual(q.obj("mei")?.str("name"), "canopen_general_reference")
            XCTAssertEqual(q.obj("mei")?.str("code"), "CANOpenGenRefReqResp"); XCTAssertEqual(q.obj("mei")?.str("data"), "0102")
            XCTAssertEqual(r.obj("mei")?.str("data"), "03"); XCTAssertNil(q["data"]); XCTAssertNil(r["data"])
        },
        // 7 Exception example: read coils at 1185 -> 81 02 illegal data address.
        Vector(name: "exception", request: [0x01, 0x04, 0xA1, 0x00, 0x01], response: [0x81, 0x02]) { _, r in
            XCTAssertEqual(r.int("function_raw"), 0x81); XCTAssertEqual(r.str("function"), "read_coils")
            XCTAssertEqual(r.obj("exception")?.str("code"), "IllegalDataAddr")
            XCTAssertEqual(r.obj("exception")?.str("name"), "illegal_data_address")
        },
        // User-defined code 65 (bytes ours), kept raw.
        Vector(name: "fc65", request: [0x41, 0x53, 0x53], response: [0x41, 0x01]) { q, r in
            XCTAssertEqual(q.str("function"), "user_defined"); XCTAssertEqual(q.str("data"), "5353")
            XCTAssertEqual(r.str("data"), "01")
        },
    ]

    func testEveryVectorPairsWithoutAnomaly() {
        for (i, v) in Self.vectors.enumerated() {
            let tid = UInt16(100 + i)
            let sink = runSession([Delivery(direction: .toServer, bytes: adu(tid, v.request)),
                            Delivery(direction: .toClient, bytes: adu(tid, v.response))])
            XCTAssertEqual(sink.anomalies, [String](), v.name)
            let t = sink.transactions
            XCTAssertEqual(t.count, 1, v.name)
            guard let e = t.first, let q = e.obj("request"), let r = e.obj("response") else { XCTFail(v.name); continue }
            XCTAssertEqual(e.str("status"), "complete", v.name)
            XCTAssertEqual(e["latency_ms"] as? Double, 1.0, v.name)
            XCTAssertEqual(e.int("id"), 0, v.name)
            XCTAssertEqual(sink.txIDs, [0], v.name)
            XCTAssertEqual(q.int("transaction_id"), Int(tid), v.name)
            XCTAssertEqual(q.int("function_raw"), Int(v.request[0]), v.name)
            XCTAssertEqual(r.int("length"), v.response.count + 1, v.name)
            v.check(q, r)
        }
    }

    /// Every prefix of every vector: through the stream framer nothing is decoded (need more)
    /// and the flow's end reports the bytes held as an incomplete message; as a datagram it is
    /// an invalid_length anomaly; decoded with a length field that lies (claims the prefix is
    /// whole) it never traps.
    func testEveryPrefixNeverTraps() {
        for v in Self.vectors {
            for pdu in [v.request, v.response] {
                let whole = adu(7, pdu)
                for n in 0..<whole.count {
                    let prefix = Array(whole[0..<n])
                    let tcp = runSession([Delivery(direction: .toClient, bytes: prefix)], finish: true)
                    XCTAssertEqual(tcp.anomalies, n == 0 ? [] : ["modbus.incomplete_message"], "\(v.name) prefix \(n)")
                    XCTAssertEqual(tcp.lines.count, n == 0 ? 0 : 1, "\(v.name) prefix \(n)")
                    if n > 0 { XCTAssertEqual(tcp.events.first?.obj("anomaly")?.int("pending_bytes"), n, "\(v.name) prefix \(n)") }
                    if n > 0 {
                        let udp = runSession([Delivery(direction: .toClient, bytes: prefix)], udp: true)
                        XCTAssertEqual(udp.anomalies, ["modbus.invalid_length"], "\(v.name) prefix \(n)")
                    }
                    if n >= 1 {
                        let lying = adu(7, Array(pdu[0..<min(n, pdu.count)]))
                        for isRequest in [true, false] {
                            _ = ByteView.with(lying) { ModbusDecoder.decode($0, isRequest: isRequest) }
                        }
                    }
                }
            }
        }
    }

    /// Truncating a fixed-layout PDU (but keeping the MBAP length honest about the bytes) is
    /// reported, never silently accepted.
    func testTruncatedPDUsAreFlagged() {
        for v in Self.vectors where [0x01, 0x03, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x18].contains(v.request[0]) {
            for n in 1..<v.request.count {
                let p = ByteView.with(adu(1, Array(v.request[0..<n]))) { ModbusDecoder.decode($0, isRequest: true) }
                XCTAssertFalse(p?.flaws.isEmpty ?? true, "\(v.name) request cut at \(n)")
            }
        }
    }

    func testSpecLimitsAreAnomalies() {
        func anomalies(_ req: [UInt8], _ rsp: [UInt8]? = nil) -> [String] {
            var d = [Delivery(direction: .toServer, bytes: adu(1, req))]
            if let r = rsp { d.append(Delivery(direction: .toClient, bytes: adu(1, r))) }
            return runSession(d, finish: false).anomalies
        }
        XCTAssertEqual(anomalies([0x01, 0, 0, 0x07, 0xD1]), ["modbus.invalid_quantity"])      // 2001 coils
        XCTAssertEqual(anomalies([0x01, 0, 0, 0x07, 0xD0]), [String]())                               // 2000 coils
        XCTAssertEqual(anomalies([0x03, 0, 0, 0, 0]), ["modbus.invalid_quantity"])            // 0 registers
        XCTAssertEqual(anomalies([0x04, 0, 0, 0, 0x7E]), ["modbus.invalid_quantity"])         // 126 registers
        XCTAssertEqual(anomalies([0x05, 0, 1, 0x12, 0x34]), ["modbus.invalid_coil_value"])
        XCTAssertEqual(anomalies([0x0F, 0, 0, 0, 0x0A, 0x01, 0xFF]), ["modbus.invalid_byte_count"])   // 10 coils need 2 bytes
        XCTAssertEqual(anomalies([0x10, 0, 0, 0, 0x7C, 0x02, 0, 1]), ["modbus.invalid_quantity", "modbus.invalid_byte_count"])
        XCTAssertEqual(anomalies([0x17, 0, 0, 0, 0x7E, 0, 0, 0, 1, 2, 0, 1]), ["modbus.invalid_quantity"])
        XCTAssertEqual(anomalies([0x17, 0, 0, 0, 1, 0, 0, 0, 0x7A, 2, 0, 1]), ["modbus.invalid_quantity", "modbus.invalid_byte_count"])
        // Response byte count that disagrees with the request's quantity (but not with its length).
        XCTAssertEqual(anomalies([0x03, 0, 0, 0, 2], [0x03, 0x02, 0, 1]), ["modbus.invalid_byte_count"])
        // MBAP length longer than the PDU implies.
        XCTAssertEqual(anomalies([0x03, 0, 0, 0, 2, 0xEE]), ["modbus.invalid_length"])
        // Response with another function code than its request.
        XCTAssertEqual(anomalies([0x03, 0, 0, 0, 1], [0x04, 0x02, 0, 1]), ["modbus.function_mismatch"])
        // Device identification: object length running past the PDU.
        XCTAssertEqual(anomalies([0x2B, 0x0E, 1, 0], [0x2B, 0x0E, 1, 1, 0, 0, 1, 0x00, 0x09, 0x41]), ["modbus.malformed_pdu"])
    }
}

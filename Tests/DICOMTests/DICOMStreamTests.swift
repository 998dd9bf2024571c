@testable import SpanSightDICOM
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// A whole association built from the PS3.8 / PS3.7 layouts (see `Wire`): negotiation, every
/// DIMSE service class the dissector names, multi-fragment commands and data sets, release.
/// UIDs are the standard's (PS3.6 annex A); the rest are our values.
enum Conversation {
    static let verification = "1.2.840.10008.1.1"
    static let ctStorage = "1.2.840.10008.5.1.4.1.1.2"
    static let patientFind = "1.2.840.10008.5.1.4.1.2.1.1"
    static let studyMove = "1.2.840.10008.5.1.4.1.2.2.2"
    static let mpps = "1.2.840.10008.3.1.2.3.3"
    static let mrStorage = "1.2.840.10008.5.1.4.1.1.4"
    static let jpegBaseline = "1.2.840.10008.1.2.4.50"
    static let instance = "1.2.826.0.1.3680043.2.1125.1.1"

    static func rq(_ cmd: Int, _ id: Int, _ sop: String, dataset: Bool, extra: [(Int, Wire.Value)] = []) -> [UInt8] {
        Wire.commandSet([(0x0002, .ui(sop)), (0x0100, .us(cmd)), (0x0110, .us(id)), (0x0800, .us(dataset ? 0x0001 : 0x0101))] + extra)
    }

    static func rsp(_ cmd: Int, _ id: Int, _ sop: String, status: Int, dataset: Bool = false, extra: [(Int, Wire.Value)] = []) -> [UInt8] {
        Wire.commandSet([(0x0002, .ui(sop)), (0x0100, .us(cmd)), (0x0120, .us(id)), (0x0800, .us(dataset ? 0x0001 : 0x0101)),
                         (0x0900, .us(status))] + extra)
    }

    static let requestUserInfo = Wire.userInfo(extra:
        Wire.item(0x53, Wire.be16(4) + Wire.be16(2))
        + Wire.item(0x54, Wire.be16(ctStorage.utf8.count) + Wire.text(ctStorage) + [1, 1])
        + Wire.item(0x56, Wire.be16(patientFind.utf8.count) + Wire.text(patientFind) + [1, 0, 1]))

    static func deliveries() -> [Delivery] {
        let data1 = [UInt8](repeating: 0xAB, count: 100), data2 = [UInt8](repeating: 0xCD, count: 50)
        let store = rq(0x0001, 2, ctStorage, dataset: true, extra: [(0x0700, .us(2)), (0x1000, .ui(instance))])
        let findID = [UInt8](repeating: 0x11, count: 20), match = [UInt8](repeating: 0x22, count: 30)
        return [
            Delivery(direction: .toServer, bytes: Wire.associateRQ(contexts: [
                (1, verification, [Wire.implicitLE]), (3, ctStorage, [Wire.implicitLE, Wire.explicitLE]),
                (5, patientFind, [Wire.implicitLE]), (7, studyMove, [Wire.implicitLE]), (9, mpps, [Wire.implicitLE]),
                (11, mrStorage, [jpegBaseline]),
            ], userInfo: requestUserInfo)),
            Delivery(direction: .toClient, bytes: Wire.associateAC(contexts: [
                (1, 0, Wire.implicitLE), (3, 0, Wire.explicitLE), (5, 0, Wire.implicitLE), (7, 0, Wire.implicitLE),
                (9, 0, Wire.implicitLE), (11, 4, Wire.implicitLE),
            ])),
            // C-ECHO.
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(1, command: true, rq(0x0030, 1, verification, dataset: false)))),
            Delivery(direction: .toClient, bytes: Wire.pdata(Wire.pdv(1, command: true, rsp(0x8030, 1, verification, status: 0)))),
            // C-STORE: the command in two fragments (two PDVs of one PDU), the data set in two PDUs.
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(3, command: true, last: false, Array(store[0..<30])),
                                                             Wire.pdv(3, command: true, Array(store[30...])))
                + Wire.pdata(Wire.pdv(3, command: false, last: false, data1)) + Wire.pdata(Wire.pdv(3, command: false, data2))),
            Delivery(direction: .toClient, bytes: Wire.pdata(Wire.pdv(3, command: true, rsp(0x8001, 2, ctStorage, status: 0,
                                                                                          extra: [(0x1000, .ui(instance))])))),
            // C-FIND: identifier, two pending matches with data sets, success.
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(5, command: true, rq(0x0020, 3, patientFind, dataset: true,
                                                                                          extra: [(0x0700, .us(0))])),
                                                             Wire.pdv(5, command: false, findID))),
            Delivery(direction: .toClient, bytes:
                Wire.pdata(Wire.pdv(5, command: true, rsp(0x8020, 3, patientFind, status: 0xFF00, dataset: true)), Wire.pdv(5, command: false, match))
                + Wire.pdata(Wire.pdv(5, command: true, rsp(0x8020, 3, patientFind, status: 0xFF00, dataset: true)), Wire.pdv(5, command: false, match))
                + Wire.pdata(Wire.pdv(5, command: true, rsp(0x8020, 3, patientFind, status: 0x0000)))),
            // C-MOVE to ARCHIVE: pending with sub-operation counts, then refused: out of resources.
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(7, command: true, rq(0x0021, 4, studyMove, dataset: true,
                                                                                          extra: [(0x0600, .ae("ARCHIVE")), (0x0700, .us(1))])),
                                                             Wire.pdv(7, command: false, findID))),
            Delivery(direction: .toClient, bytes:
                Wire.pdata(Wire.pdv(7, command: true, rsp(0x8021, 4, studyMove, status: 0xFF00, extra: [(0x1020, .us(1)), (0x1021, .us(1)), (0x1022, .us(0)), (0x1023, .us(0))])))
                + Wire.pdata(Wire.pdv(7, command: true, rsp(0x8021, 4, studyMove, status: 0xA702, extra: [(0x1021, .us(1)), (0x1022, .us(1)), (0x1023, .us(0))])))),
            // N-ACTION (storage of MPPS here is only a test context) answered with processing failure.
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(9, command: true, rq(0x0130, 5, mpps, dataset: false,
                                                                                          extra: [(0x1008, .us(1)), (0x1001, .ui(instance))])))),
            Delivery(direction: .toClient, bytes: Wire.pdata(Wire.pdv(9, command: true, rsp(0x8130, 5, mpps, status: 0x0110)))),
            // A C-ECHO never answered, then release.
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(1, command: true, rq(0x0030, 6, verification, dataset: false)))
                + Wire.releaseRQ),
            Delivery(direction: .toClient, bytes: Wire.releaseRP),
        ]
    }
}

final class DICOMStreamTests: XCTestCase {
    func testConversationDecodes() throws {
        let s = runSession(Conversation.deliveries(), observing: true)
        XCTAssertEqual(s.anomalies, ["dicom.unanswered_request"])
        XCTAssertEqual(s.associations.count, 1)
        let a = try XCTUnwrap(s.associations.first)
        XCTAssertEqual(a.str("end"), "release")
        XCTAssertEqual(a.str("result"), "accepted")
        XCTAssertEqual(a.str("called_ae"), "STORESCP")
        XCTAssertEqual(a.str("calling_ae"), "STORESCU")
        XCTAssertEqual(a.int("protocol_version"), 1)
        XCTAssertEqual(a.str("application_context_name"), "DICOM Application Context Name")
        XCTAssertEqual(a.int("max_pdu_length"), 16384)
        XCTAssertEqual(a.str("implementation_class_uid"), "1.2.3.4.5")
        XCTAssertEqual(a.str("implementation_version_name"), "SPANSIGHT_1")
        XCTAssertEqual(a.obj("async_ops_window")?.int("invoked"), 4)
        XCTAssertEqual(a.arr("role_selections").first?.str("sop_class_name"), "CT Image Storage")
        XCTAssertEqual(a.int("extended_negotiations"), 1)
        XCTAssertEqual(a.obj("acceptor")?.int("max_pdu_length"), 32768)
        XCTAssertEqual(a.obj("acceptor")?.str("implementation_version_name"), "SCP_2")
        XCTAssertEqual(a.obj("release")?.str("requested_by"), "client")
        XCTAssertEqual(a.obj("release")?["completed"] as? Bool, true)
        let ctx = a.arr("presentation_contexts")
        XCTAssertEqual(ctx.map { $0.int("id") ?? 0 }, [1, 3, 5, 7, 9, 11])
        XCTAssertEqual(ctx.map { $0.str("result") ?? "" }, ["acceptance", "acceptance", "acceptance", "acceptance", "acceptance",
                                                           "transfer_syntaxes_not_supported"])
        XCTAssertEqual(ctx[1].str("abstract_syntax_name"), "CT Image Storage")
        XCTAssertEqual(ctx[1].arr("proposed_transfer_syntaxes").map { $0.str("name") ?? "" },
                       ["Implicit VR Little Endian", "Explicit VR Little Endian"])
        XCTAssertEqual(ctx[1].str("transfer_syntax"), Wire.explicitLE)
        XCTAssertNil(ctx[5].str("transfer_syntax"))
        XCTAssertEqual(a.obj("pdu_counts")?.int("p_data_tf"), 16)
        XCTAssertEqual(a.int("datasets"), 5)
        XCTAssertEqual(a.int("dataset_bytes"), 150 + 20 + 30 + 30 + 20)

        let ops = a.arr("dimse")
        XCTAssertEqual(ops.map { $0.str("command") ?? "" }, ["C-ECHO", "C-STORE", "C-FIND", "C-MOVE", "N-ACTION", "C-ECHO"])
        XCTAssertEqual(ops.map { $0.str("state") ?? "" }, ["complete", "complete", "complete", "complete", "complete", "unanswered"])
        XCTAssertEqual(ops.map { $0.str("status") ?? "-" }, ["success", "success", "success", "refused_out_of_resources",
                                                            "processing_failure", "-"])
        XCTAssertEqual(ops[1].int("request_datasets"), 1)
        XCTAssertEqual(ops[1].int("request_dataset_bytes"), 150)
        XCTAssertEqual(ops[1].str("priority"), "low")
        XCTAssertEqual(ops[1].str("affected_sop_instance"), Conversation.instance)
        XCTAssertEqual(ops[2].int("responses"), 3)
        XCTAssertEqual(ops[2].int("pending_responses"), 2)
        XCTAssertEqual(ops[2].int("response_datasets"), 2)
        XCTAssertEqual(ops[2].int("response_dataset_bytes"), 60)
        XCTAssertEqual(ops[3].str("move_destination"), "ARCHIVE")
        XCTAssertEqual(ops[3].obj("sub_operations")?.int("failed"), 1)
        XCTAssertEqual(ops[3].str("status_class"), "failure")
        XCTAssertEqual(ops[0].str("affected_sop_class_name"), "Verification SOP Class")
        XCTAssertNotNil(ops[0]["latency_ms"] as? Double)

        XCTAssertEqual(Array(s.observations.prefix(6)), [
            "role client dicom.scu", "role server dicom.scp",
            "identity client dicom.ae_title=STORESCU",
            "identity client dicom.implementation_class_uid=1.2.3.4.5",
            "identity client dicom.implementation_version_name=SPANSIGHT_1",
            "command client association 1 a_associate_rq 1.2.840.10008.3.1.1.1 STORESCP",
        ])
        XCTAssertTrue(s.observations.contains("identity server dicom.implementation_class_uid=9.8.7"))
        // The called AE title becomes the server's identity with the A-ASSOCIATE-AC only.
        XCTAssertTrue(s.observations.contains("identity server dicom.ae_title=STORESCP"))
        XCTAssertTrue(s.observations.contains("command client read 33 c_move_rq \(Conversation.studyMove) ARCHIVE"))
        XCTAssertTrue(s.observations.contains("outcome server dicom.dimse_failure false \(0xA702)"))
        XCTAssertTrue(s.observations.contains("outcome server dicom.dimse_failure false \(0x0110)"))
        XCTAssertEqual(s.operations, [.association, .discovery, .write, .read, .read, .control, .discovery])
        XCTAssertEqual(s.pdus, 2 + 16 + 2)
    }

    /// Same sink calls whole, a byte at a time, cut at every offset of every delivery and in
    /// random pieces (`SplitInvariance`), observing.
    func testSameEventsWholeByteAtATimeAndEverySplit() {
        let whole = SplitInvariance.verify(Conversation.deliveries()) { DICOMSession(limits: DICOMLimits()) }
        XCTAssertEqual(whole.objects("dicom").first?.arr("dimse").count, 6)
        XCTAssertEqual(whole.anomalies, ["dicom.unanswered_request"])
        XCTAssertFalse(whole.observations.isEmpty, "observations compared too")
    }

    /// The same on the TCP flows of the pynetdicom fixtures, as the engine delivered them.
    func testFixtureFlowsAtEverySplit() throws {
        let flows = try SplitInvariance.verifyFixtureFlows(["dicom-pynetdicom.pcap", "dicom-pynetdicom-port4242.pcap"],
                                                           entry: DICOM.entry) { DICOMSession() }
        XCTAssertGreaterThan(flows.count, 1)
    }

    /// Every prefix of every direction's stream ends in events or anomalies, never a trap.
    func testEveryPrefixNeverTraps() {
        let conv = Conversation.deliveries()
        for dir in [Direction.toServer, .toClient] {
            let stream = conv.filter { $0.direction == dir }.flatMap(\.bytes)
            for n in 0...stream.count {
                let s = runSession([Delivery(direction: dir, bytes: Array(stream[0..<n]))])
                XCTAssertLessThanOrEqual(s.associations.count, 2)
            }
        }
    }

    /// With events off the session builds no strings and logs no operations, yet reports the
    /// same anomalies and PDU count.
    func testEventsOffSameAnomalies() {
        let on = runSession(Conversation.deliveries())
        let off = runSession(Conversation.deliveries(), events: false)
        XCTAssertEqual(off.associations.count, 0)
        XCTAssertEqual(off.anomalies, on.anomalies)
        XCTAssertEqual(off.pdus, on.pdus)
    }

    func testRejectNamed() throws {
        let s = runSession([
            Delivery(direction: .toServer, bytes: Wire.associateRQ(called: "WRONG_AE", contexts: [(1, Conversation.verification, [Wire.implicitLE])])),
            Delivery(direction: .toClient, bytes: Wire.reject(result: 1, source: 1, reason: 7)),
        ], observing: true)
        XCTAssertEqual(s.anomalies, [])
        let a = try XCTUnwrap(s.associations.first)
        XCTAssertEqual(a.str("result"), "rejected")
        XCTAssertEqual(a.str("end"), "reject")
        XCTAssertEqual(a.obj("reject")?.str("result"), "rejected_permanent")
        XCTAssertEqual(a.obj("reject")?.str("source"), "service_user")
        XCTAssertEqual(a.obj("reject")?.str("reason"), "called_ae_title_not_recognized")
        XCTAssertNil(a.arr("presentation_contexts").first?.str("result"))
        XCTAssertTrue(s.observations.contains("outcome server dicom.association_rejected false \(1 << 16 | 1 << 8 | 7)"))
        XCTAssertEqual(s.associations.count, 1)
    }

    func testAbortNamedAndProviderAbort() throws {
        var conv = Array(Conversation.deliveries()[0..<4])
        conv.append(Delivery(direction: .toClient, bytes: Wire.abort(source: 2, reason: 2)))
        let s = runSession(conv, observing: true)
        let a = try XCTUnwrap(s.associations.first)
        XCTAssertEqual(a.str("result"), "aborted")
        XCTAssertEqual(a.obj("abort")?.str("from"), "server")
        XCTAssertEqual(a.obj("abort")?.str("source"), "service_provider")
        XCTAssertEqual(a.obj("abort")?.str("reason"), "unexpected_pdu")
        XCTAssertTrue(s.observations.contains("outcome server dicom.association_aborted false \(2 << 8 | 2)"))
    }

    /// A gap inside a data set fragment keeps the stream in sync (the position is known);
    /// a gap anywhere else resynchronises on the next plausible PDU.
    func testGapInsideDataSetAndResync() throws {
        var conv = Conversation.deliveries()
        let store = conv[4].bytes
        // Cut 40 bytes out of the first data set PDU (it starts after the two command PDVs).
        let firstData = store.count - (6 + 6 + 50) - (6 + 6 + 100)
        let at = firstData + 12 + 30
        conv[4] = Delivery(direction: .toServer, bytes: Array(store[0..<at]))
        conv.insert(Delivery(direction: .toServer, bytes: [], gap: 40), at: 5)
        conv.insert(Delivery(direction: .toServer, bytes: Array(store[(at + 40)...])), at: 6)
        let s = runSession(conv)
        XCTAssertEqual(s.anomalies, ["dicom.unanswered_request"])
        XCTAssertEqual(s.associations.first?.arr("dimse")[1].int("request_dataset_bytes"), 150)
        // A gap inside a PDU header: resync on the next PDU (the C-STORE response).
        var conv2 = Conversation.deliveries()
        conv2[4] = Delivery(direction: .toServer, bytes: Array(store[0..<3]))
        conv2.insert(Delivery(direction: .toServer, bytes: [], gap: 7), at: 5)
        conv2.insert(Delivery(direction: .toServer, bytes: Array(store[10...])), at: 6)
        let g = runSession(conv2)
        XCTAssertEqual(g.anomalies.first, "dicom.resync")
        XCTAssertEqual(g.associations.first?.str("end"), "release")
    }

    func testGarbageResync() {
        let echo = Wire.pdata(Wire.pdv(1, command: true, Conversation.rq(0x0030, 1, Conversation.verification, dataset: false)))
        let garbage: [UInt8] = [0x09, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, 0x05]
        let s = runSession([Delivery(direction: .toServer, bytes: echo + garbage + echo)])
        XCTAssertEqual(s.anomalies, ["dicom.invalid_pdu_type", "dicom.resync", "dicom.duplicate_message_id", "dicom.unanswered_request"])
        XCTAssertEqual(s.associations.first?.arr("dimse").count, 2)
    }
}

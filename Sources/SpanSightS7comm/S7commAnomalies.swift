import SpanSightEngine

extension S7comm {
    /// The anomaly catalogue: every anomaly the S7comm dissector reports, by stable name
    /// (docs/s7comm.md); alert signature ids are the module's `anomalyBase` + the number.
    /// Numbers are never reused: append new ones.
    public enum Anomalies {
        // TPKT (RFC 1006) and the stream.
        public static let invalidTPKTVersion = Anomaly(1, "s7comm.invalid_tpkt_version", severity: 3, confidence: 70)
        public static let invalidTPKTReserved = Anomaly(2, "s7comm.invalid_tpkt_reserved", severity: 3, confidence: 50)
        public static let invalidTPKTLength = Anomaly(3, "s7comm.invalid_tpkt_length", severity: 3, confidence: 70)
        public static let resync = Anomaly(4, "s7comm.resync", severity: 3, confidence: 50)
        public static let skippedBytes = Anomaly(5, "s7comm.skipped_bytes", severity: 3, confidence: 50)
        public static let incompleteMessage = Anomaly(6, "s7comm.incomplete_message", severity: 3, confidence: 50)
        // COTP (ISO 8073).
        public static let badCOTP = Anomaly(7, "s7comm.bad_cotp", severity: 3, confidence: 70)
        public static let tpduSizeExceeded = Anomaly(8, "s7comm.tpdu_size_exceeded", severity: 3, confidence: 60)
        public static let fragmentOverflow = Anomaly(9, "s7comm.fragment_overflow", .availability, severity: 2, confidence: 70, .denialOfService)
        // The S7 PDU.
        public static let invalidProtocolID = Anomaly(10, "s7comm.invalid_protocol_id", severity: 3, confidence: 70)
        public static let unknownROSCTR = Anomaly(11, "s7comm.unknown_rosctr", severity: 3, confidence: 70)
        public static let invalidPDULength = Anomaly(12, "s7comm.invalid_pdu_length", severity: 3, confidence: 70)
        public static let trailingBytes = Anomaly(13, "s7comm.trailing_bytes", severity: 3, confidence: 40)
        public static let pduSizeExceeded = Anomaly(14, "s7comm.pdu_size_exceeded", severity: 3, confidence: 60)
        public static let malformedPDU = Anomaly(15, "s7comm.malformed_pdu", severity: 3, confidence: 70)
        public static let unknownFunction = Anomaly(16, "s7comm.unknown_function", severity: 2, confidence: 70)
        public static let itemCountMismatch = Anomaly(17, "s7comm.item_count_mismatch", severity: 3, confidence: 60)
        // Transactions.
        public static let functionMismatch = Anomaly(18, "s7comm.function_mismatch", severity: 3, confidence: 60)
        public static let unsolicitedResponse = Anomaly(19, "s7comm.unsolicited_response", severity: 2, confidence: 60, .spoofReporting)
        public static let unansweredRequest = Anomaly(20, "s7comm.unanswered_request", .availability, severity: 3, confidence: 50)
        public static let tooManyTransactions = Anomaly(21, "s7comm.too_many_transactions", .availability, severity: 2, confidence: 70, .denialOfService)
        // Probe refusals (layer proto_detect).
        public static let probeRejectedProtocolID = Anomaly(22, "s7comm.probe_rejected_protocol_id", severity: 3, confidence: 40)
        public static let probeRejectedTSAP = Anomaly(23, "s7comm.probe_rejected_tsap", severity: 3, confidence: 40)

        public static let all: [Anomaly] = [
            invalidTPKTVersion, invalidTPKTReserved, invalidTPKTLength, resync, skippedBytes, incompleteMessage,
            badCOTP, tpduSizeExceeded, fragmentOverflow,
            invalidProtocolID, unknownROSCTR, invalidPDULength, trailingBytes, pduSizeExceeded, malformedPDU,
            unknownFunction, itemCountMismatch,
            functionMismatch, unsolicitedResponse, unansweredRequest, tooManyTransactions,
            probeRejectedProtocolID, probeRejectedTSAP,
        ]
    }
}

import SpanSightEngine

extension Modbus {
    /// The anomaly catalogue: every anomaly the Modbus dissector reports, by stable name (docs/modbus.md);
    /// alert signature ids are 1000 + the number. Numbers are never reused: append new ones.
    public enum Anomalies {
        public static let invalidLength = Anomaly(1, "modbus.invalid_length", severity: 3, confidence: 70)
        public static let invalidProtocolId = Anomaly(2, "modbus.invalid_protocol_id", severity: 3, confidence: 70)
        public static let malformedPdu = Anomaly(3, "modbus.malformed_pdu", severity: 3, confidence: 70)
        public static let functionMismatch = Anomaly(4, "modbus.function_mismatch", severity: 3, confidence: 60)
        public static let invalidByteCount = Anomaly(5, "modbus.invalid_byte_count", severity: 3, confidence: 70)
        public static let invalidCoilValue = Anomaly(6, "modbus.invalid_coil_value", severity: 2, confidence: 80)
        public static let invalidQuantity = Anomaly(7, "modbus.invalid_quantity", severity: 2, confidence: 80)
        public static let resync = Anomaly(8, "modbus.resync", severity: 3, confidence: 50)
        public static let tooManyTransactions = Anomaly(9, "modbus.too_many_transactions", .availability, severity: 2, confidence: 70, .denialOfService)
        public static let unansweredRequest = Anomaly(10, "modbus.unanswered_request", .availability, severity: 3, confidence: 50)
        public static let unitIdMismatch = Anomaly(11, "modbus.unit_id_mismatch", severity: 3, confidence: 60)
        public static let unsolicitedResponse = Anomaly(12, "modbus.unsolicited_response", severity: 2, confidence: 60, .spoofReporting)
        public static let skippedBytes = Anomaly(13, "modbus.skipped_bytes", severity: 3, confidence: 50)
        public static let incompleteMessage = Anomaly(14, "modbus.incomplete_message", severity: 3, confidence: 50)
        public static let probeRejectedProtocolId = Anomaly(15, "modbus.probe_rejected_protocol_id", severity: 3, confidence: 50)
        public static let probeRejectedLength = Anomaly(16, "modbus.probe_rejected_length", severity: 3, confidence: 50)

        public static let all: [Anomaly] = [
            invalidLength, invalidProtocolId, malformedPdu, functionMismatch,
            invalidByteCount, invalidCoilValue, invalidQuantity, resync,
            tooManyTransactions, unansweredRequest, unitIdMismatch, unsolicitedResponse,
            skippedBytes, incompleteMessage, probeRejectedProtocolId, probeRejectedLength,
        ]
    }
}

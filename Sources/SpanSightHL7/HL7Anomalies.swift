import SpanSightEngine

extension HL7 {
    /// The anomaly catalogue: every anomaly the HL7 dissector reports, by stable name (docs/hl7.md);
    /// alert signature ids are 1400 + the number. Numbers are never reused: append new ones.
    public enum Anomalies {
        public static let missingEndBlock = Anomaly(1, "hl7.missing_end_block", severity: 3, confidence: 60)
        public static let badEndBlock = Anomaly(2, "hl7.bad_end_block", severity: 3, confidence: 60)
        public static let junkBetweenFrames = Anomaly(3, "hl7.junk_between_frames", severity: 3, confidence: 50)
        public static let messageTooLarge = Anomaly(4, "hl7.message_too_large", severity: 2, confidence: 70, .denialOfService)
        public static let invalidSegmentId = Anomaly(5, "hl7.invalid_segment_id", severity: 3, confidence: 70)
        public static let unknownSegmentId = Anomaly(6, "hl7.unknown_segment_id", severity: 3, confidence: 50)
        public static let missingSegmentTerminator = Anomaly(7, "hl7.missing_segment_terminator", severity: 3, confidence: 50)
        public static let invalidEncodingCharacters = Anomaly(8, "hl7.invalid_encoding_characters", severity: 3, confidence: 70)
        public static let missingRequiredField = Anomaly(9, "hl7.missing_required_field", severity: 3, confidence: 60)
        public static let invalidFieldValue = Anomaly(10, "hl7.invalid_field_value", severity: 3, confidence: 60)
        public static let unknownAckCode = Anomaly(11, "hl7.unknown_ack_code", severity: 3, confidence: 60)
        public static let unexpectedAck = Anomaly(12, "hl7.unexpected_ack", severity: 3, confidence: 60)
        public static let duplicateControlId = Anomaly(13, "hl7.duplicate_control_id", severity: 3, confidence: 60)
        public static let unansweredMessage = Anomaly(14, "hl7.unanswered_message", .availability, severity: 3, confidence: 50)
        public static let tooManyTransactions = Anomaly(15, "hl7.too_many_transactions", .availability, severity: 2, confidence: 70, .denialOfService)
        public static let emptyBatch = Anomaly(16, "hl7.empty_batch", severity: 3, confidence: 50)
        public static let batchCountMismatch = Anomaly(17, "hl7.batch_count_mismatch", severity: 3, confidence: 60)
        public static let probeRejectedMissingStartBlock = Anomaly(18, "hl7.probe_rejected_missing_start_block", severity: 3, confidence: 50)
        public static let probeRejectedNotHl7 = Anomaly(19, "hl7.probe_rejected_not_hl7", severity: 3, confidence: 50)

        public static let all: [Anomaly] = [
            missingEndBlock, badEndBlock, junkBetweenFrames, messageTooLarge,
            invalidSegmentId, unknownSegmentId, missingSegmentTerminator, invalidEncodingCharacters,
            missingRequiredField, invalidFieldValue, unknownAckCode, unexpectedAck,
            duplicateControlId, unansweredMessage, tooManyTransactions, emptyBatch,
            batchCountMismatch, probeRejectedMissingStartBlock, probeRejectedNotHl7,
        ]
    }
}

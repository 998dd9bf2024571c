import SpanSightEngine

extension DICOM {
    /// The anomaly catalogue: every anomaly the DICOM dissector reports, by stable name (docs/dicom.md);
    /// alert signature ids are 1300 + the number. Numbers are never reused: append new ones.
    public enum Anomalies {
        public static let invalidPduType = Anomaly(1, "dicom.invalid_pdu_type", severity: 3, confidence: 70)
        public static let invalidPduLength = Anomaly(2, "dicom.invalid_pdu_length", severity: 3, confidence: 70)
        public static let pduTooLarge = Anomaly(3, "dicom.pdu_too_large", severity: 2, confidence: 70, .denialOfService)
        public static let pduExceedsMaxLength = Anomaly(4, "dicom.pdu_exceeds_max_length", severity: 3, confidence: 60)
        public static let truncatedPdu = Anomaly(5, "dicom.truncated_pdu", severity: 3, confidence: 60)
        public static let unexpectedPdu = Anomaly(6, "dicom.unexpected_pdu", severity: 3, confidence: 60)
        public static let unsupportedProtocolVersion = Anomaly(7, "dicom.unsupported_protocol_version", severity: 3, confidence: 60)
        public static let invalidItem = Anomaly(8, "dicom.invalid_item", severity: 3, confidence: 70)
        public static let invalidItemLength = Anomaly(9, "dicom.invalid_item_length", severity: 3, confidence: 70)
        public static let unknownItem = Anomaly(10, "dicom.unknown_item", severity: 3, confidence: 50)
        public static let invalidAeTitle = Anomaly(11, "dicom.invalid_ae_title", severity: 3, confidence: 60)
        public static let tooManyPresentationContexts = Anomaly(12, "dicom.too_many_presentation_contexts", severity: 2, confidence: 70)
        public static let unknownPresentationContext = Anomaly(13, "dicom.unknown_presentation_context", severity: 3, confidence: 60)
        public static let invalidPdvLength = Anomaly(14, "dicom.invalid_pdv_length", severity: 3, confidence: 70)
        public static let invalidPdvFlags = Anomaly(15, "dicom.invalid_pdv_flags", severity: 3, confidence: 70)
        public static let invalidCommandSet = Anomaly(16, "dicom.invalid_command_set", severity: 3, confidence: 70)
        public static let commandTooLarge = Anomaly(17, "dicom.command_too_large", severity: 2, confidence: 70)
        public static let commandMismatch = Anomaly(18, "dicom.command_mismatch", severity: 3, confidence: 60)
        public static let duplicateMessageId = Anomaly(19, "dicom.duplicate_message_id", severity: 3, confidence: 60)
        public static let unansweredRequest = Anomaly(20, "dicom.unanswered_request", .availability, severity: 3, confidence: 50)
        public static let unsolicitedResponse = Anomaly(21, "dicom.unsolicited_response", severity: 2, confidence: 60, .spoofReporting)
        public static let tooManyOperations = Anomaly(22, "dicom.too_many_operations", .availability, severity: 2, confidence: 70, .denialOfService)
        public static let resync = Anomaly(23, "dicom.resync", severity: 3, confidence: 50)
        public static let probeRejectedPduType = Anomaly(24, "dicom.probe_rejected_pdu_type", severity: 3, confidence: 50)
        public static let probeRejectedProtocolVersion = Anomaly(25, "dicom.probe_rejected_protocol_version", severity: 3, confidence: 50)

        public static let all: [Anomaly] = [
            invalidPduType, invalidPduLength, pduTooLarge, pduExceedsMaxLength,
            truncatedPdu, unexpectedPdu, unsupportedProtocolVersion, invalidItem,
            invalidItemLength, unknownItem, invalidAeTitle, tooManyPresentationContexts,
            unknownPresentationContext, invalidPdvLength, invalidPdvFlags, invalidCommandSet,
            commandTooLarge, commandMismatch, duplicateMessageId, unansweredRequest,
            unsolicitedResponse, tooManyOperations, resync, probeRejectedPduType,
            probeRejectedProtocolVersion,
        ]
    }
}

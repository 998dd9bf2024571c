import SpanSightEngine

extension DNP3 {
    /// The anomaly catalogue: every anomaly the DNP3 dissector reports, by stable name (docs/dnp3.md);
    /// alert signature ids are 1100 + the number. Numbers are never reused: append new ones.
    public enum Anomalies {
        public static let badLinkCrc = Anomaly(1, "dnp3.bad_link_crc", severity: 3, confidence: 70)
        public static let badTransportCrc = Anomaly(2, "dnp3.bad_transport_crc", severity: 3, confidence: 70)
        public static let directionBitMismatch = Anomaly(3, "dnp3.direction_bit_mismatch", severity: 2, confidence: 60, .rogueMaster)
        public static let flooded = Anomaly(4, "dnp3.flooded", .availability, severity: 2, confidence: 70, .denialOfService)
        public static let headerLacksMagic = Anomaly(5, "dnp3.header_lacks_magic", severity: 3, confidence: 60)
        public static let lenTooSmall = Anomaly(6, "dnp3.len_too_small", severity: 3, confidence: 70)
        public static let malformed = Anomaly(7, "dnp3.malformed", severity: 3, confidence: 70)
        public static let tooLongReassembly = Anomaly(8, "dnp3.too_long_reassembly", severity: 2, confidence: 70)
        public static let tooManyObjects = Anomaly(9, "dnp3.too_many_objects", severity: 2, confidence: 70)
        public static let tooManyPoints = Anomaly(10, "dnp3.too_many_points", severity: 2, confidence: 70)
        public static let transportMissingFir = Anomaly(11, "dnp3.transport_missing_fir", severity: 3, confidence: 60)
        public static let transportOutOfSequence = Anomaly(12, "dnp3.transport_out_of_sequence", severity: 3, confidence: 60)
        public static let truncatedFrame = Anomaly(13, "dnp3.truncated_frame", severity: 3, confidence: 60)
        public static let unknownFunctionCode = Anomaly(14, "dnp3.unknown_function_code", severity: 2, confidence: 70)
        public static let unknownObject = Anomaly(15, "dnp3.unknown_object", severity: 3, confidence: 60)
        public static let incompleteFrame = Anomaly(16, "dnp3.incomplete_frame", severity: 3, confidence: 50)
        public static let incompleteFragment = Anomaly(17, "dnp3.incomplete_fragment", severity: 3, confidence: 50)

        public static let all: [Anomaly] = [
            badLinkCrc, badTransportCrc, directionBitMismatch, flooded,
            headerLacksMagic, lenTooSmall, malformed, tooLongReassembly,
            tooManyObjects, tooManyPoints, transportMissingFir, transportOutOfSequence,
            truncatedFrame, unknownFunctionCode, unknownObject, incompleteFrame,
            incompleteFragment,
        ]
    }
}

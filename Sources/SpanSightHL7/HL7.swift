import SpanSightEngine
import SpanSightWire

/// Limits and options of the HL7 dissector.
public struct HL7Configuration: Sendable {
    /// Largest MLLP frame content accepted; a bigger frame is reported and skipped.
    public var maxMessageBytes = 1 << 20
    /// Messages waiting for an acknowledgment per flow; beyond it the oldest is logged as unanswered.
    public var maxOpenMessages = 32
    /// Secret for patient-identifier pseudonyms; nil: no pseudonyms (and no identifiers).
    public var pseudonymKey: [UInt8]? = nil

    public init(maxMessageBytes: Int = 1 << 20, maxOpenMessages: Int = 32, pseudonymKey: [UInt8]? = nil) {
        self.maxMessageBytes = maxMessageBytes
        self.maxOpenMessages = maxOpenMessages
        self.pseudonymKey = pseudonymKey
    }
}

/// HL7 v2 over MLLP: probe on any TCP port, stream framing with resynchronisation, MSH/MSA/
/// ERR/EVN decoding with the message's own delimiters, batches, message/ACK pairing, and
/// PHI-safe output (keyed pseudonyms for patient identifiers on request).
/// Output fields and anomaly names: docs/hl7.md.
public enum HL7 {
    /// The IANA port of HL7 over MLLP (a hint only: the probe decides).
    public static let port: UInt16 = 2575

    public static let entry = entry(HL7Configuration())

    public static func entry(_ config: HL7Configuration) -> DissectorEntry {
        let pseudonymizer = config.pseudonymKey.map { HL7Pseudonymizer(key: $0) }
        return DissectorEntry(
            name: "hl7", transports: [.tcp], hintPorts: [port],
            probe: { bytes, _, _ in probe(bytes) },
            makeSession: { _ in HL7Session(config: config, pseudonymizer: pseudonymizer) })
    }

    /// A start block (0x0B), `MSH` (or a batch header `FHS`/`BHS`) and a field separator;
    /// `needMore` while fewer than 5 bytes are seen and those agree.
    public static func probe(_ bytes: ByteView) -> ProbeResult { MLLP.probe(bytes) }
}

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
            name: "hl7", transports: [.tcp], hintPorts: [port], module: module,
            probe: { bytes, _, info in probe(bytes, onHintPort: info.serverPort == port || info.clientPort == port) },
            makeSession: { _ in HL7Session(config: config, pseudonymizer: pseudonymizer) })
    }

    /// A start block (0x0B), `MSH` (or a batch header `FHS`/`BHS`) and a field separator;
    /// `needMore` while fewer than 5 bytes are seen and those agree.
    public static func probe(_ bytes: ByteView) -> ProbeResult { probe(bytes, onHintPort: false) }

    /// The probe on a flow whose ports are (`onHintPort`) or are not 2575: an MLLP frame
    /// starting with a message header matches; bytes that resemble HL7 over MLLP closely
    /// are refused with their reason (`refusal`).
    public static func probe(_ bytes: ByteView, onHintPort: Bool) -> ProbeResult {
        let p = MLLP.probe(bytes)
        return p == .noMatch ? refusal(bytes, onHintPort: onHintPort) : p
    }

    /// Longest frame whose end block a refusal waits for: what the engine's probe buffer
    /// holds (1 KiB).
    static let refusalMaxBytes = 1024

    /// The verdict on bytes that are no MLLP frame of an HL7 message (docs/hl7.md,
    /// Recognition):
    /// * `hl7.probe_rejected_missing_start_block` (`first_byte`), on any port: a whole HL7
    ///   header without the start block 0x0B before it: `MSH`, `FHS` or `BHS`, a field
    ///   separator, 4 or 5 distinct encoding characters (MSH-2; none a letter, digit, space
    ///   or the field separator) and the field separator again (`MSH|^~\&|`).
    /// * `hl7.probe_rejected_not_hl7` (`first_content_byte`): a start block followed by
    ///   bytes that are no message header. On port 2575 that is enough; elsewhere the framing
    ///   must be borne out: the frame ends (0x1C 0x0D, no start block inside) within 1 KiB,
    ///   and the bytes end there or the next frame starts.
    /// Otherwise `noMatch`, or `needMore` while the bytes cannot tell yet.
    static func refusal(_ b: ByteView, onHintPort: Bool) -> ProbeResult {
        guard let first = b.u8(at: 0) else { return .needMore }
        if first != MLLPFramer.startBlock { return bareHeader(b) }
        guard let content = b.u8(at: 1) else { return .needMore }
        let why = ProbeRejection(HL7.Anomalies.probeRejectedNotHl7.name, field: "first_content_byte", value: Int(content))
        if onHintPort { return .rejected(why) }
        var i = 1
        while i + 1 < min(b.count, refusalMaxBytes) {
            let c = b._u8(i)
            if c == MLLPFramer.startBlock { return .noMatch }
            if c == MLLPFramer.endBlock {
                guard b._u8(i + 1) == MLLPFramer.carriageReturn else { return .noMatch }
                guard let next = b.u8(at: i + 2) else { return .rejected(why) }
                return next == MLLPFramer.startBlock ? .rejected(why) : .noMatch
            }
            i += 1
        }
        return b.count < refusalMaxBytes ? .needMore : .noMatch
    }

    /// `MSH|^~\&|` (or `FHS`/`BHS`) at the start of the bytes, with no start block.
    static func bareHeader(_ b: ByteView) -> ProbeResult {
        var lead: UInt32 = 0
        for k in 0..<4 {
            guard let c = b.u8(at: k) else { return .needMore }
            guard MLLP.leadAccepts(c, at: k, lead: lead) else { return .noMatch }
            if k < 3 { lead = lead << 8 | UInt32(c) }
        }
        let fs = b._u8(3)
        // MSH-2: 4 or 5 distinct encoding characters (bytes 4 up to k), then the field separator.
        for k in 4..<10 {
            guard let c = b.u8(at: k) else { return .needMore }
            if c == fs {
                guard k == 8 || k == 9 else { return .noMatch }
                return .rejected(ProbeRejection(HL7.Anomalies.probeRejectedMissingStartBlock.name, field: "first_byte", value: Int(b._u8(0))))
            }
            guard HL7Separators.isPlausible(c) else { return .noMatch }
            for j in 4..<k where b._u8(j) == c { return .noMatch }
        }
        return .noMatch
    }
}

import SpanSightEngine
import SpanSightWire

/// DICOM upper layer (PS3.8) and DIMSE command sets (PS3.7) over TCP on any port: probe,
/// stream framing of the seven PDU types with resynchronisation, association negotiation,
/// P-DATA PDVs streamed (data sets counted and sized, never buffered or logged), DIMSE
/// request/response pairing, one `dicom` event per association. Fields and anomaly names:
/// docs/dicom.md.
public enum DICOM {
    /// The registered DICOM port and the common non-privileged alternative (hints only).
    public static let hintPorts: [UInt16] = [104, 11112]

    public static let entry = DissectorEntry(
        name: "dicom", transports: [.tcp], hintPorts: hintPorts, module: module,
        probe: { bytes, _, info in
            probe(bytes, onHintPort: hintPorts.contains(info.serverPort) || hintPorts.contains(info.clientPort))
        },
        makeSession: { _ in DICOMSession() })

    /// Largest A-ASSOCIATE PDU the probe believes in (the session's own cap is lower).
    static let probeMaxAssociate: UInt32 = 1 << 20
    /// Largest P-DATA-TF PDU the probe and resynchronisation believe in (max PDU 0 means
    /// unlimited, but real stacks stay far below this).
    static let probeMaxPData: UInt32 = 1 << 26

    /// Is this the start of a DICOM PDU? Type 1 or 2 with protocol version 1, a plausible
    /// length and printable AE titles; types 3-7 (a flow picked up mid-association) only with
    /// the exact length and reserved/enumerated bytes their structure fixes.
    public static func probe(_ v: ByteView) -> ProbeResult { probe(v, onHintPort: false) }

    /// The probe on a flow whose ports are (`onHintPort`) or are not DICOM's: a plausible PDU
    /// start matches; bytes that resemble a PDU closely are refused with their reason.
    public static func probe(_ v: ByteView, onHintPort: Bool) -> ProbeResult {
        let p = plausibleStart(v).result
        return p == .noMatch ? refusal(v, onHintPort: onHintPort) : p
    }

    /// Longest PDU whose end a refusal waits for: what the engine's probe buffer holds (1 KiB).
    static let refusalMaxBytes = 1024

    /// The verdict on bytes that are no valid PDU start (docs/dicom.md, Recognition):
    /// * `dicom.probe_rejected_pdu_type`, on DICOM's ports only: a PDU type PS3.8 does not
    ///   define (8..255; 0 is left out, a zero first byte being too common), reserved byte 0,
    ///   a length of 4 or more that the bytes bear out: they end where the PDU does, or a
    ///   plausible PDU starts there.
    /// * `dicom.probe_rejected_protocol_version`, on any port: an A-ASSOCIATE-RQ/AC whose
    ///   header, length and AE titles all fit, with a protocol version that lacks bit 0.
    /// Otherwise `noMatch`, or `needMore` while the bytes cannot tell yet.
    static func refusal(_ v: ByteView, onHintPort: Bool) -> ProbeResult {
        guard let t = v.u8(at: 0) else { return .needMore }
        if let r = v.u8(at: 1), r != 0 { return .noMatch }
        if t >= 8 {
            guard onHintPort else { return .noMatch }
            guard v.count >= PDUHeader.Field.size else { return .needMore }
            let len = v._u32(PDUHeader.Field.length)
            guard len >= UInt32(PDUHeader.shortBody), len <= UInt32(refusalMaxBytes - PDUHeader.Field.size) else {
                return .noMatch
            }
            let end = PDUHeader.Field.size + Int(len)
            let why = ProbeRejection(DICOM.Anomalies.probeRejectedPduType.name, field: "pdu_type", value: Int(t))
            if v.count == end { return .rejected(why) }
            guard v.count > end else { return .needMore }
            switch plausibleStart(v.suffix(from: end)).result {
            case .match: return .rejected(why)
            case .needMore: return .needMore
            default: return .noMatch
            }
        }
        guard t == 1 || t == 2 else { return .noMatch }
        guard v.count >= 6 + AssociateField.callingAE + AssociateField.aeLength else { return .needMore }
        let len = v._u32(PDUHeader.Field.length)
        guard len >= UInt32(PDUHeader.associateFixed), len <= probeMaxAssociate else { return .noMatch }
        let body = v.suffix(from: PDUHeader.Field.size)
        let version = body._u16(AssociateField.protocolVersion)
        guard version & 1 == 0, titlesFit(body, type: t) else { return .noMatch }
        return .rejected(ProbeRejection(DICOM.Anomalies.probeRejectedProtocolVersion.name, field: "protocol_version", value: Int(version)))
    }

    /// Whether the AE titles of an A-ASSOCIATE-RQ/AC body (as far as visible) are printable
    /// (default repertoire, no backslash; the AC may pad with NUL) and, in a whole request,
    /// neither is all spaces.
    static func titlesFit(_ body: ByteView, type t: UInt8) -> Bool {
        let ae = min(body.count, AssociateField.callingAE + AssociateField.aeLength)
        for i in AssociateField.calledAE..<max(AssociateField.calledAE, ae) {
            let b = body._u8(i)
            let ok = b >= 0x20 && b <= 0x7E && b != 0x5C || (t == 2 && b == 0)
            if !ok { return false }
        }
        if t == 1 && ae == AssociateField.callingAE + AssociateField.aeLength {
            if WireText.trimmed(body._slice(AssociateField.calledAE, AssociateField.aeLength)).isEmpty
                || WireText.trimmed(body._slice(AssociateField.callingAE, AssociateField.aeLength)).isEmpty {
                return false
            }
        }
        return true
    }

    /// The probe's answer and how many bytes it needs to decide.
    static func plausibleStart(_ v: ByteView) -> (result: ProbeResult, need: Int) {
        guard let t = v.u8(at: 0) else { return (.needMore, 6) }
        guard t >= 1 && t <= 7 else { return (.noMatch, 0) }
        let need: Int = switch t {
        case 1, 2: 6 + AssociateField.callingAE + AssociateField.aeLength
        case 4: 12
        default: 10
        }
        // Reserved byte and the top byte of the length must be 0 for every sane PDU.
        for i in 1..<min(3, v.count) where v._u8(i) != 0 { return (.noMatch, 0) }
        guard v.count >= 6 else { return (.needMore, need) }
        let len = v._u32(2)
        switch t {
        case 1, 2:
            guard len >= UInt32(PDUHeader.associateFixed), len <= probeMaxAssociate else { return (.noMatch, 0) }
        case 4:
            guard len >= UInt32(PDUHeader.minPData), len <= probeMaxPData else { return (.noMatch, 0) }
        default:
            guard len == UInt32(PDUHeader.shortBody) else { return (.noMatch, 0) }
        }
        // Decide on what is visible as soon as something rules DICOM out.
        let body = v.suffix(from: PDUHeader.Field.size)
        switch t {
        case 1, 2:
            if body.count >= 2 && body._u16(AssociateField.protocolVersion) != 1 { return (.noMatch, 0) }
            if !titlesFit(body, type: t) { return (.noMatch, 0) }
        case 3:
            if let b = body.u8(at: 0), b != 0 { return (.noMatch, 0) }
            if let r = body.u8(at: 1), r != 1 && r != 2 { return (.noMatch, 0) }
            if let s = body.u8(at: 2), s < 1 || s > 3 { return (.noMatch, 0) }
        case 4:
            if body.count >= 4 {
                let pdv = body._u32(0)
                if pdv < 2 || pdv > len - 4 { return (.noMatch, 0) }
            }
            if let ctx = body.u8(at: 4), ctx & 1 == 0 { return (.noMatch, 0) }
            if let mch = body.u8(at: 5), mch & 0xFC != 0 { return (.noMatch, 0) }
        case 5, 6:
            for i in 0..<min(4, body.count) where body._u8(i) != 0 { return (.noMatch, 0) }
        default:
            if let b = body.u8(at: 0), b != 0 { return (.noMatch, 0) }
            if let b = body.u8(at: 1), b != 0 { return (.noMatch, 0) }
            if let s = body.u8(at: 2), s > 2 { return (.noMatch, 0) }
            if let r = body.u8(at: 3), r > 6 { return (.noMatch, 0) }
        }
        return v.count >= need ? (.match, need) : (.needMore, need)
    }
}

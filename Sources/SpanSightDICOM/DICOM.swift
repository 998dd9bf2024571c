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
        name: "dicom", transports: [.tcp], hintPorts: hintPorts,
        probe: { bytes, _, _ in probe(bytes) },
        makeSession: { _ in DICOMSession() })

    /// Largest A-ASSOCIATE PDU the probe believes in (the session's own cap is lower).
    static let probeMaxAssociate: UInt32 = 1 << 20
    /// Largest P-DATA-TF PDU the probe and resynchronisation believe in (max PDU 0 means
    /// unlimited, but real stacks stay far below this).
    static let probeMaxPData: UInt32 = 1 << 26

    /// Is this the start of a DICOM PDU? Type 1 or 2 with protocol version 1, a plausible
    /// length and printable AE titles; types 3-7 (a flow picked up mid-association) only with
    /// the exact length and reserved/enumerated bytes their structure fixes.
    public static func probe(_ v: ByteView) -> ProbeResult { plausibleStart(v).result }

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
            let ae = min(body.count, AssociateField.callingAE + AssociateField.aeLength)
            for i in AssociateField.calledAE..<max(AssociateField.calledAE, ae) {
                let b = body._u8(i)
                let ok = b >= 0x20 && b <= 0x7E && b != 0x5C || (t == 2 && b == 0)
                if !ok { return (.noMatch, 0) }
            }
            if t == 1 && ae == AssociateField.callingAE + AssociateField.aeLength {
                // Neither title may be all spaces in a request.
                if WireText.trimmed(body._slice(AssociateField.calledAE, AssociateField.aeLength)).isEmpty
                    || WireText.trimmed(body._slice(AssociateField.callingAE, AssociateField.aeLength)).isEmpty {
                    return (.noMatch, 0)
                }
            }
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

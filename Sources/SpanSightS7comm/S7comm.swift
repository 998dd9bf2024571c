import SpanSightEngine
import SpanSightWire

/// S7comm, Siemens S7 communication over ISO-on-TCP (RFC 1006 TPKT, ISO 8073 COTP class 0):
/// probe, TPKT framing with resynchronisation, COTP connection and DT reassembly, decoding of
/// the job, ack_data and userdata functions, request/response pairing by PDU reference, and
/// identification from SZL answers. Output fields and anomaly names: docs/s7comm.md.
public enum S7comm {
    /// The ISO-TSAP port (RFC 1006), where S7 PLCs listen.
    public static let isoTSAPPort: UInt16 = 102

    public static let entry = DissectorEntry(
        name: "s7comm", transports: [.tcp], hintPorts: [isoTSAPPort], module: module,
        probe: { bytes, _, _ in probe(bytes) },
        makeSession: { info in
            // Port 102 marks the PLC: when the engine's client (the SYN sender) owns it and the
            // other side does not, the S7 client is the engine's server (until a connect
            // request or a setup job says otherwise).
            let inverted = info.clientPort == isoTSAPPort && info.serverPort != isoTSAPPort
            return S7commSession(clientDirection: inverted ? .toClient : .toServer)
        })

    /// The largest TPKT the probe waits for (a connect TPDU is at most 259 bytes; the engine's
    /// probe buffer holds 1024).
    static let probeMaxConnect = 512

    /// Probe, on any port (102 is only a hint): TPKT version 3 with a valid length around COTP
    /// TPDUs, connect TPDUs skipped, until a DT whose user data begins an S7 header (protocol
    /// id 0x32, a known ROSCTR, reserved 0, lengths that fit). What resembles S7comm but is
    /// not (docs/s7comm.md, Recognition) is refused with a reason:
    /// * `s7comm.probe_rejected_tsap` (`tsap_parameters`: how many of the two were there): a
    ///   well-formed connect request without both TSAP parameters (RDP's X.224 request carries
    ///   a cookie and a negotiation request instead);
    /// * `s7comm.probe_rejected_protocol_id` (`protocol_id`): a whole class 0 DT (02 F0 in its
    ///   TPKT) whose user data is S7comm-plus (0x72) or the ISO session layer of MMS (0x0D, 0x0E, 0x01).
    static func probe(_ b: ByteView) -> ProbeResult {
        var at = 0
        while true {
            let v = b.suffix(from: at)
            if let first = v.u8(at: 0), first != TPKTHeader.version { return .noMatch }
            if let second = v.u8(at: 1), second != 0 { return .noMatch }
            guard v.count >= TPKTHeader.size + 2 else { return .needMore }
            guard TPKTHeader.isPlausibleStart(v), let h = TPKTHeader(v), let li = v.u8(at: TPKTHeader.Field.tpdu),
                  let type = v.u8(at: TPKTHeader.Field.tpdu + 1) else { return .noMatch }
            let code = COTP.code(type)
            if code == COTP.dt {
                let start = TPKTHeader.size + 1 + Int(li)
                if h.length == start {
                    // An empty DT: look at the next packet.
                    guard v.count >= h.length else { return .needMore }
                    at += h.length
                    continue
                }
                guard let pid = v.u8(at: start) else { return .needMore }
                guard pid == S7Header.protocolID else {
                    // Refused only when the TPDU is a whole class 0 DT (02 F0): what RFC 1006
                    // carries, in one packet, as RDP and MMS send it; anything less is no
                    // resemblance.
                    guard li == 2, type == COTP.dt, v.count >= h.length else { return .noMatch }
                    // And only for the OT protocols RFC 1006 carries beside S7comm: S7comm-plus
                    // and the ISO session layer of MMS (connect, accept, give tokens + data).
                    // RDP's MCS and the rest are ordinary traffic, not refused.
                    guard pid == 0x72 || pid == 0x0D || pid == 0x0E || pid == 0x01 else { return .noMatch }
                    return .rejected(ProbeRejection(S7comm.Anomalies.probeRejectedProtocolID.name, field: "protocol_id", value: Int(pid)))
                }
                let eot = (v.u8(at: li >= 4 ? 4 + COTP.Field.dataNumberWithReference : 4 + COTP.Field.dataNumber) ?? 0) & 0x80 != 0
                let end = min(v.count, h.length)
                let s7 = v.slice(start, end - start) ?? .empty
                switch S7Header.isPlausible(s7, whole: eot && v.count >= h.length) {
                case nil: return .needMore
                case false?: return .noMatch
                case true?: return .match
                }
            }
            guard code == COTP.cr || code == COTP.cc || code == COTP.dr || code == COTP.dc || code == COTP.er else {
                return .noMatch
            }
            guard h.length <= probeMaxConnect else { return .noMatch }
            guard v.count >= h.length, let tpdu = v.slice(TPKTHeader.size, h.length - TPKTHeader.size) else { return .needMore }
            if code == COTP.cr || code == COTP.cc {
                // Both TSAPs, as parameters that parse: an S7 connection; else not S7
                // (a confirm answers a request already judged).
                var tsaps = 0
                if let c = COTPHeader.lenient(tpdu) {
                    c.walkParameters({ p, _ in
                        if p == COTP.callingTSAPParameter || p == COTP.calledTSAPParameter { tsaps += 1 }
                    }, overrun: {})
                } else {
                    return .noMatch
                }
                if tsaps < 2 {
                    // No TSAP at all is another ISO transport user, RDP above all (its X.224
                    // request carries a cookie, which reads as parameters that overrun, and a
                    // negotiation request): ordinary traffic, never refused. One TSAP resembles S7.
                    guard code == COTP.cr, tsaps == 1 else { return .noMatch }
                    return .rejected(ProbeRejection(S7comm.Anomalies.probeRejectedTSAP.name, field: "tsap_parameters", value: tsaps))
                }
            }
            at += h.length
        }
    }
}

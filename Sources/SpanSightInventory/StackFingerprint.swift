import SpanSightEngine
import SpanSightWire

/// A passive TCP/IP stack fingerprint of one host, from its SYN or SYN+ACK, in the spirit of
/// p0f: initial TTL and hop distance, window (as a multiple of the MSS when it is one), MSS,
/// window scale, the order of the TCP options, and quirks. The signature string is
/// `ver:ittl:mss:window,scale:layout:quirks`; a stack not in the table gets a stable label
/// derived from the signature, so "the same unknown stack" is still recognisable.
public struct StackObservation: Sendable, Equatable {
    public var signature: String
    /// "Linux 3.x-6.x", "Windows 7-11", ... or "unknown-<8 hex>".
    public var label: String
    /// "linux", "windows", "macos", "bsd", "embedded", "unknown".
    public var family: String
    /// "exact" (every field matched), "fuzzy" (TTL and option order matched), "none".
    public var quality: String
    public var initialTTL: Int
    public var distance: Int
    public var fromSYNACK: Bool
    public var evidence: Evidence
}

enum StackFingerprint {
    /// Option kinds of the layout (4 bits each, as the wire layer packs them).
    static func layoutText(_ o: TCPOptionSummary) -> String {
        var parts: [String] = []
        for i in 0..<Int(o.layoutCount) {
            let k = (o.layout >> UInt64(4 * i)) & 0xF
            switch k {
            case 0: parts.append("eol")
            case 1: parts.append("nop")
            case 2: parts.append("mss")
            case 3: parts.append("ws")
            case 4: parts.append("sok")
            case 5: parts.append("sack")
            case 8: parts.append("ts")
            default: parts.append("?\(k)")
            }
        }
        return parts.joined(separator: ",")
    }

    /// The smallest common initial TTL at or above the observed one.
    static func initialTTL(_ ttl: UInt8) -> Int {
        for t in [32, 64, 128, 255] where Int(ttl) <= t { return t }
        return 255
    }

    struct Signature {
        var label: String
        var family: String
        var ittl: Int
        var layout: String
        /// Accepted windows: multiples of the MSS, or fixed values.
        var windowMSSMultiples: [Int]
        var windows: [Int]
        var scales: ClosedRange<Int>?
    }

    /// Common stacks, from their documented and widely observed SYN values (RFC 7323 options,
    /// the vendors' defaults): Linux since 3.x sends MSS, SACK-permitted, timestamps, NOP,
    /// window scale 7 with a window of 10 or 44 MSS; Windows since Vista MSS, NOP, WS 8, NOP,
    /// NOP, SACK-permitted with 64240/65535/8192; macOS MSS, NOP, WS, NOP, NOP, TS, SACK-permitted,
    /// EOL; the BSDs MSS, NOP, WS, SACK-permitted, TS; embedded RTOS stacks (lwIP, VxWorks,
    /// PLC firmware) send the MSS alone, many with an initial TTL of 255 or 30-32.
    static let table: [Signature] = [
        Signature(label: "Linux 3.x-6.x", family: "linux", ittl: 64, layout: "mss,sok,ts,nop,ws",
                  windowMSSMultiples: [10, 20, 44, 45], windows: [29200, 64240, 65160, 65495, 65483, 43690], scales: 6...14),
        Signature(label: "Linux 2.6", family: "linux", ittl: 64, layout: "mss,sok,ts,nop,ws",
                  windowMSSMultiples: [2, 4], windows: [5840, 5792], scales: 0...9),
        Signature(label: "Windows 7-11 / Server 2008-2022", family: "windows", ittl: 128, layout: "mss,nop,ws,nop,nop,sok",
                  windowMSSMultiples: [44], windows: [8192, 64240, 65535, 62727], scales: 0...14),
        Signature(label: "Windows XP / Server 2003", family: "windows", ittl: 128, layout: "mss,nop,nop,sok",
                  windowMSSMultiples: [44, 45], windows: [64240, 65535, 16384], scales: nil),
        Signature(label: "macOS / iOS", family: "macos", ittl: 64, layout: "mss,nop,ws,nop,nop,ts,sok,eol",
                  windowMSSMultiples: [], windows: [65535], scales: 3...6),
        Signature(label: "FreeBSD", family: "bsd", ittl: 64, layout: "mss,nop,ws,sok,ts",
                  windowMSSMultiples: [], windows: [65535], scales: 3...10),
        Signature(label: "OpenBSD", family: "bsd", ittl: 64, layout: "mss,nop,nop,sok,nop,ws,nop,nop,ts",
                  windowMSSMultiples: [], windows: [16384], scales: 0...6),
        Signature(label: "Embedded RTOS stack (lwIP-like, MSS only, TTL 255)", family: "embedded", ittl: 255, layout: "mss",
                  windowMSSMultiples: [1, 2, 4], windows: [], scales: nil),
        Signature(label: "Embedded RTOS stack (MSS only, TTL 64)", family: "embedded", ittl: 64, layout: "mss",
                  windowMSSMultiples: [1, 2, 4], windows: [4096, 8192, 16384], scales: nil),
        Signature(label: "Embedded PLC stack (MSS only, TTL 32)", family: "embedded", ittl: 32, layout: "mss",
                  windowMSSMultiples: [], windows: [2048, 4096, 8192], scales: nil),
    ]

    static func observe(_ s: HandshakeSample, flowID: UInt64) -> StackObservation {
        let ittl = initialTTL(s.ttl)
        let layout = layoutText(s.options)
        let mss = Int(s.options.mss)
        let win = Int(s.window)
        let winText = mss > 0 && win > 0 && win % mss == 0 ? "mss*\(win / mss)" : "\(win)"
        var quirks: [String] = []
        if s.dontFragment { quirks.append("df") }
        if s.ipVersion == 4 && s.dontFragment && s.ipID != 0 { quirks.append("id+") }
        if s.ipVersion == 4 && !s.dontFragment && s.ipID == 0 { quirks.append("id-") }
        if s.ecn { quirks.append("ecn") }
        if s.ackNonZeroInSYN { quirks.append("ack+") }
        if s.urgentNonZero { quirks.append("urgf+") }
        if s.options.hasTimestamps && s.options.tsVal == 0 { quirks.append("ts1-") }
        if !s.isSYNACK && s.options.hasTimestamps && s.options.tsEcr != 0 { quirks.append("ts2+") }
        if s.options.eolPadding { quirks.append("opt+") }
        if s.payloadLength > 0 { quirks.append("pay+") }
        let scale = s.options.hasWindowScale ? "\(s.options.windowScale)" : "*"
        let signature = "\(s.ipVersion):\(ittl):\(mss):\(winText),\(scale):\(layout):\(quirks.joined(separator: ","))"
        var label = "unknown-" + hex32(fnv1a(signature))
        var family = "unknown"
        var quality = "none"
        for sig in table where sig.ittl == ittl && sig.layout == layout {
            let windowOK = sig.windows.contains(win) || (mss > 0 && sig.windowMSSMultiples.contains { $0 * mss == win })
            let scaleOK = sig.scales.map { s.options.hasWindowScale && $0.contains(Int(s.options.windowScale)) } ?? !s.options.hasWindowScale
            if windowOK && scaleOK {
                label = sig.label; family = sig.family; quality = "exact"
                break
            }
            if quality == "none" { label = sig.label; family = sig.family; quality = "fuzzy" }
        }
        return StackObservation(signature: signature, label: label, family: family, quality: quality,
                                initialTTL: ittl, distance: max(0, ittl - Int(s.ttl)), fromSYNACK: s.isSYNACK,
                                evidence: Evidence(flowID: 0, timestampNanos: s.timestampNanos,
                                                   source: s.isSYNACK ? "tcp.syn_ack" : "tcp.syn"))
    }

    static func fnv1a(_ s: String) -> UInt32 {
        var h: UInt32 = 0x811C_9DC5
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return h
    }

    static func hex32(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}

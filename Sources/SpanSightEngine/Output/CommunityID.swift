// UNSAFE: `write` fills a caller's buffer (the envelope cache's render scratch) through a
// pointer, within the 30 bytes `length` says; the hash input is a fixed inline array.
import Crypto
import SpanSightWire

/// Community ID flow hash, version 1 (the public "Community ID Flow Hashing" specification):
/// `1:` + base64(SHA-1(seed, source address, destination address, protocol, 0, source port,
/// destination port)), the endpoints ordered so that both directions of a flow hash alike.
/// Joins our events with Zeek's, Suricata's and firewalls' logs of the same flow.
///
/// Computed when an envelope is rendered (`EnvelopeCache` keeps it with the flow's other
/// envelope parts), never per packet.
public enum CommunityID {
    /// The 30 characters of `1:` and the base64 of a 20-byte digest.
    public static let length = 30

    /// The flow's id, written into `out` (at least `length` bytes); seed 0 unless given.
    /// Transport ports are hashed for TCP (6), UDP (17) and SCTP (132); other protocols hash
    /// zero ports, as the specification does for protocols without ports.
    static func write(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
                             proto: UInt8, seed: UInt16 = 0, into out: UnsafeMutablePointer<UInt8>) {
        var a = source, b = destination, pa = sourcePort, pb = destinationPort
        let ports = proto == 6 || proto == 17 || proto == 132
        if !ports { pa = 0; pb = 0 }
        // Ordered by address, then port: the smaller endpoint first.
        if b < a || (a == b && pb < pa) { swap(&a, &b); swap(&pa, &pb) }
        var input = InlineArray<40, UInt8>(repeating: 0)
        var n = 0
        func put(_ v: UInt8) { input[n] = v; n += 1 }
        put(UInt8(seed >> 8)); put(UInt8(truncatingIfNeeded: seed))
        func putIP(_ ip: IPAddress) {
            if ip.isV4 {
                let v = ip.v4
                put(UInt8(v >> 24)); put(UInt8(truncatingIfNeeded: v >> 16)); put(UInt8(truncatingIfNeeded: v >> 8)); put(UInt8(truncatingIfNeeded: v))
            } else {
                for shift in stride(from: 56, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: ip.hi >> UInt64(shift))) }
                for shift in stride(from: 56, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: ip.lo >> UInt64(shift))) }
            }
        }
        putIP(a); putIP(b)
        put(proto); put(0)
        put(UInt8(pa >> 8)); put(UInt8(truncatingIfNeeded: pa))
        put(UInt8(pb >> 8)); put(UInt8(truncatingIfNeeded: pb))
        let count = n
        let digest = input.span.withUnsafeBytes { raw in
            Insecure.SHA1.hash(data: UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
        out[0] = UInt8(ascii: "1"); out[1] = UInt8(ascii: ":")
        digest.withUnsafeBytes { d in base64(d, into: out + 2) }
    }

    /// The id as a String (tests, cold paths; events get it through the envelope cache).
    public static func string(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
                              proto: UInt8, seed: UInt16 = 0) -> String {
        String(unsafeUninitializedCapacity: length) { buffer in
            write(source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort,
                  proto: proto, seed: seed, into: buffer.baseAddress!)
            return length
        }
    }

    /// Standard base64 with padding (RFC 4648) of a 20-byte digest: 28 characters.
    static func base64(_ d: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let table = alphabet.utf8Start
        var i = 0, o = 0
        while i + 3 <= d.count {
            let v = UInt32(d[i]) << 16 | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2])
            out[o] = table[Int(v >> 18)]; out[o + 1] = table[Int(v >> 12 & 63)]
            out[o + 2] = table[Int(v >> 6 & 63)]; out[o + 3] = table[Int(v & 63)]
            i += 3; o += 4
        }
        let rest = d.count - i
        if rest > 0 {
            let v = UInt32(d[i]) << 16 | (rest == 2 ? UInt32(d[i + 1]) << 8 : 0)
            out[o] = table[Int(v >> 18)]; out[o + 1] = table[Int(v >> 12 & 63)]
            out[o + 2] = rest == 2 ? table[Int(v >> 6 & 63)] : UInt8(ascii: "=")
            out[o + 3] = UInt8(ascii: "=")
        }
    }
}

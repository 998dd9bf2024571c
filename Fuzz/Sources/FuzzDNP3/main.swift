// libFuzzer target: a DNP3 conversation over TCP or UDP (StreamFuzz's input format); the second
// variant has small limits, so that the caps on reassembly, objects and pending requests are hit;
// with the rewrite bit, every link frame in a payload gets right checksums.
import FuzzSupport
import SpanSightDNP3

let entries = [DNP3.entry, DNP3.makeEntry(limits: small)]

var small: DNP3Limits {
    var l = DNP3Limits()
    l.maxFragmentBytes = 512
    l.maxStoredRequestBytes = 64
    l.maxPendingRequests = 2
    l.floodThreshold = 3
    l.maxReassemblies = 1
    l.maxObjectsPerFragment = 4
    l.maxPointsPerObject = 64
    l.maxLoggedPointsPerObject = 4
    l.maxLoggedPointsPerFragment = 8
    return l
}

/// Sets the header CRC and the block CRCs (every 16 octets of user data) of each link frame
/// (0x05 0x64, a length of at least 5) that lies whole in `b`, low octet first.
func fixCRCs(_ b: inout [UInt8]) {
    func put(_ from: Int, _ count: Int) {
        let c = DNP3CRC.crc(Array(b[from..<from + count]))
        b[from + count] = UInt8(truncatingIfNeeded: c)
        b[from + count + 1] = UInt8(truncatingIfNeeded: c >> 8)
    }
    var i = 0
    while i + 10 <= b.count {
        guard b[i] == 0x05, b[i + 1] == 0x64, b[i + 2] >= 5 else { i += 1; continue }
        put(i, 8)
        var left = Int(b[i + 2]) - 5, at = i + 10
        while left > 0, at + min(16, left) + 2 <= b.count {
            put(at, min(16, left))
            at += min(16, left) + 2
            left -= min(16, left)
        }
        i = at
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNP3(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzInput(data, size) { StreamFuzz.run($0, entries: entries, rewrite: fixCRCs) }
}

fuzzMain(fuzzDNP3)

import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Wire views and the packet decoder against byte vectors, and every prefix of each.
final class WireTests: XCTestCase {
    func decode(_ bytes: [UInt8], link: LinkKind = .ethernet, wireLength: Int? = nil) -> DecodedPacket {
        var p = DecodedPacket()
        let d = PacketDecoder(link: link)
        bytes.withUnsafeBytes { d.decode(ByteView($0), wireLength: wireLength ?? bytes.count, into: &p) }
        return p
    }

    /// Every strict prefix of a valid frame must decode to an error (or a shorter layer
    /// stack), never trap; with the wire length intact it is a lie, not a snaplen cut.
    func assertPrefixesAreErrors(_ frame: [UInt8], link: LinkKind = .ethernet, file: StaticString = #filePath, line: UInt = #line) {
        for n in 0..<frame.count {
            let p = decode(Array(frame[..<n]), link: link)
            XCTAssertNotEqual(p.outcome, .transport, "prefix \(n) of \(frame.count) decoded as a whole packet", file: file, line: line)
        }
    }

    /// `index(of:or:from:)` (eight bytes per step) against a byte-at-a-time search: every
    /// start offset and length of buffers where the two bytes are absent, once, or many times,
    /// at every alignment, and next to bytes that differ from them by one bit or by 0x80 (the
    /// cases a faulty zero-byte test would flag).
    /// The SWAR searches against a naive search: random buffers of near-miss bytes (a needle
    /// with its high bit set, or off by one bit) with a few needles planted, from every offset.
    func checkSearch(_ needles: [UInt8], _ search: (ByteView, Int) -> Int) {
        var rng = SystemRandomNumberGenerator()
        let filler: [UInt8] = [0x00, 0x01, 0x0A, 0x0C, 0x1D, 0x8B, 0x9C, 0x7F, 0xFF, 0x41, 0x80, 0x0F, 0x7D, 0xDE, 0x5D, 0xFC]
            .filter { !needles.contains($0) }
        for trial in 0..<300 {
            // Past 32 bytes: the vector steps (16 bytes) before the word steps.
            let n = Int.random(in: 0...80, using: &rng)
            var bytes = (0..<n).map { _ in filler.randomElement(using: &rng)! }
            let hits = trial % 3 == 0 ? 0 : Int.random(in: 1...3, using: &rng)
            for _ in 0..<hits where n > 0 { bytes[Int.random(in: 0..<n, using: &rng)] = needles.randomElement(using: &rng)! }
            ByteView.with(bytes) { v in
                for from in 0...n + 1 {
                    let expected = from >= n ? n : (bytes[from...].firstIndex { needles.contains($0) } ?? n)
                    XCTAssertEqual(search(v, from), expected, "from \(from) in \(bytes)")
                }
            }
        }
        XCTAssertEqual(search(ByteView.empty, 0), 0)
    }

    func testTwoByteSearchMatchesNaiveSearch() {
        checkSearch([0x0B, 0x1C]) { $0.index(of: 0x0B, or: 0x1C, from: $1) }
    }

    /// `scan(for:from:_:)` (every match of an eight-byte step from one load) against a
    /// byte-at-a-time walk: the same matches in the same order from every offset, with dense
    /// needles (several in one step) among near-miss bytes (the needle with its high bit set,
    /// or one bit off), and stopping where `body` says.
    func testScanFindsEveryMatchInOrder() {
        var rng = SystemRandomNumberGenerator()
        let needle: UInt8 = 0x7C
        let filler: [UInt8] = [0x00, 0x01, 0x7D, 0x7E, 0x7F, 0xFC, 0xFD, 0x3C, 0x5C, 0x6C, 0x74, 0x78, 0x80, 0xFF]
        for trial in 0..<400 {
            let n = Int.random(in: 0...48, using: &rng)
            let density = [0, 2, 5, 10][trial % 4]
            let bytes = (0..<n).map { _ in
                Int.random(in: 0..<10, using: &rng) < density ? needle : filler.randomElement(using: &rng)!
            }
            ByteView.with(bytes) { v in
                for from in 0...n + 1 {
                    let expected = from >= n ? [] : Array(bytes.indices[from...].filter { bytes[$0] == needle })
                    var seen: [Int] = []
                    let end = v.scan(for: needle, from: from) { i in
                        seen.append(i)
                        return false
                    }
                    XCTAssertEqual(seen, expected, "from \(from) in \(bytes)")
                    XCTAssertEqual(end, n)
                    // Stopping at the second match returns its index and reads no further.
                    if expected.count >= 2 {
                        var calls = 0
                        let stop = v.scan(for: needle, from: from) { _ in calls += 1; return calls == 2 }
                        XCTAssertEqual(stop, expected[1])
                        XCTAssertEqual(calls, 2)
                    }
                }
            }
        }
        XCTAssertEqual(ByteView.empty.scan(for: 1, from: 0) { _ in true }, 0)
    }

    // Built by PacketBuilder: Ethernet II, IPv4 (no options), TCP with MSS/SACK-permitted/
    // timestamps/NOP/window-scale options (Linux's SYN layout), no payload.
    let linuxSYN: [UInt8] = PacketBuilder.tcp(
        src: "192.168.1.10", sport: 51000, dst: "192.168.1.20", dport: 502, seq: 0x01020304, flags: PacketBuilder.syn,
        options: [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])

    func testEthernetIPv4TCPWithOptions() {
        let p = decode(linuxSYN)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.ipVersion, 4)
        XCTAssertEqual(p.source.text, "192.168.1.10")
        XCTAssertEqual(p.destination.text, "192.168.1.20")
        XCTAssertEqual(p.sourcePort, 51000)
        XCTAssertEqual(p.destinationPort, 502)
        XCTAssertEqual(p.tcpSequence, 0x01020304)
        XCTAssertEqual(p.tcpFlags, .syn)
        XCTAssertEqual(p.tcpOptions.mss, 1460)
        XCTAssertTrue(p.tcpOptions.sackPermitted)
        XCTAssertTrue(p.tcpOptions.hasTimestamps)
        XCTAssertEqual(p.tcpOptions.tsVal, 1)
        XCTAssertTrue(p.tcpOptions.hasWindowScale)
        XCTAssertEqual(p.tcpOptions.windowScale, 7)
        XCTAssertEqual(p.tcpOptions.layoutCount, 5)   // MSS, SACKP, TS, NOP, WS
        XCTAssertEqual(p.sourceMAC, 0x0200_0000_0001)
        XCTAssertNil(p.optionsError)
        assertPrefixesAreErrors(linuxSYN)
    }

    func testEthernetPaddingIsNotPayload() {
        // A 0-byte TCP segment padded to the 60-byte Ethernet minimum: IPv4 total length rules.
        var f = PacketBuilder.tcp(src: "10.0.0.1", sport: 1, dst: "10.0.0.2", dport: 2, seq: 1, flags: PacketBuilder.ackFlag)
        f += [UInt8](repeating: 0, count: 60 - f.count)
        let p = decode(f)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.payload.count, 0)
    }

    func testVLANAndQinQ() {
        let inner = PacketBuilder.ipv4Header(src: "10.1.1.1", dst: "10.1.1.2", proto: 17, payloadLength: 12)
            + PacketBuilder.udpHeader(srcPort: 20000, dstPort: 20000, payloadLength: 4) + [1, 2, 3, 4]
        let q = PacketBuilder.ethernet(vlans: [(0x8100, 100)]) + inner
        var p = decode(q)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.vlanCount, 1)
        XCTAssertEqual(p.vlanOuter, 100)
        XCTAssertEqual(p.payload.array, [1, 2, 3, 4])
        assertPrefixesAreErrors(q)
        let qinq = PacketBuilder.ethernet(vlans: [(0x88A8, 200), (0x8100, 100)]) + inner
        p = decode(qinq)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.vlanCount, 2)
        XCTAssertEqual(p.vlanOuter, 200)
        XCTAssertEqual(p.vlanInner, 100)
        assertPrefixesAreErrors(qinq)
    }

    func testIPv4OptionsAndFragments() {
        let opts: [UInt8] = [0x94, 0x04, 0x00, 0x00]   // Router Alert (RFC 2113)
        let udp = PacketBuilder.udpHeader(srcPort: 1, dstPort: 2, payloadLength: 0)
        let f = PacketBuilder.ethernet() + PacketBuilder.ipv4Header(src: "1.2.3.4", dst: "5.6.7.8", proto: 17, payloadLength: 8, options: opts) + udp
        XCTAssertEqual(decode(f).outcome, .transport)
        // More-fragments set: counted as a fragment, not decoded further.
        let frag = PacketBuilder.ethernet() + PacketBuilder.ipv4Header(src: "1.2.3.4", dst: "5.6.7.8", proto: 17, payloadLength: 8, flagsFragment: 0x2000) + udp
        XCTAssertEqual(decode(frag).outcome, .fragment)
        let later = PacketBuilder.ethernet() + PacketBuilder.ipv4Header(src: "1.2.3.4", dst: "5.6.7.8", proto: 17, payloadLength: 8, flagsFragment: 0x0010) + udp
        XCTAssertEqual(decode(later).outcome, .fragment)
    }

    func testLyingLengthsAreErrors() {
        // IPv4 total length larger than the bytes (not a snaplen cut).
        var f = linuxSYN
        f[16] = 0x05; f[17] = 0xDC
        var p = decode(f)
        XCTAssertEqual(p.outcome, .error)
        XCTAssertEqual(p.error?.name, "ipv4.bad_length")
        // The same with a snaplen cut is fine.
        p = decode(f, wireLength: 1514)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertTrue(p.isCut)
        // IHL below 5.
        f = linuxSYN; f[14] = 0x44
        XCTAssertEqual(decode(f).error?.name, "ipv4.bad_length")
        // TCP data offset beyond the segment.
        f = linuxSYN; f[14 + 20 + 12] = 0xF0
        XCTAssertEqual(decode(f).error?.name, "tcp.bad_length")
        // TCP data offset below 5.
        f = linuxSYN; f[14 + 20 + 12] = 0x40
        XCTAssertEqual(decode(f).error?.name, "tcp.bad_length")
        // UDP length below 8.
        let u = PacketBuilder.udp(src: "1.1.1.1", sport: 1, dst: "2.2.2.2", dport: 2, payload: [9])
        var bad = u; bad[14 + 20 + 5] = 4
        XCTAssertEqual(decode(bad).error?.name, "udp.bad_length")
        // Wrong IP version.
        bad = u; bad[14] = 0x55
        XCTAssertEqual(decode(bad).error?.name, "ipv4.bad_version")
    }

    func testZeroLengthTCPOptionIsCountedNotFatal() {
        let f = PacketBuilder.tcp(src: "10.0.0.1", sport: 1, dst: "10.0.0.2", dport: 2, seq: 1, flags: PacketBuilder.syn,
                                  options: [2, 0, 0, 0])
        let p = decode(f)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.optionsError?.name, "tcp.bad_option")
    }

    func testIPv6WithExtensionHeaders() {
        // IPv6, hop-by-hop (8 bytes of PadN), destination options (8 bytes), then TCP.
        let tcp = PacketBuilder.tcpHeader(srcPort: 1234, dstPort: 20000, seq: 7, ack: 0, flags: PacketBuilder.syn)
        let hbh: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]
        let dst: [UInt8] = [6, 0, 1, 4, 0, 0, 0, 0]
        let payload = hbh + dst + tcp
        var ip6: [UInt8] = [0x60, 0, 0, 0] + PacketBuilder.be16(UInt16(payload.count)) + [0, 64]
        ip6 += [0xFD, 0x77] + [UInt8](repeating: 0, count: 13) + [1]
        ip6 += [0xFD, 0x77] + [UInt8](repeating: 0, count: 13) + [2]
        let f = PacketBuilder.ethernet(etherType: 0x86DD) + ip6 + payload
        let p = decode(f)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.ipVersion, 6)
        XCTAssertEqual(p.source.text, "fd77::1")
        XCTAssertEqual(p.destinationPort, 20000)
        assertPrefixesAreErrors(f)
        // A fragment header (offset 0, M=1): a fragment.
        let frag: [UInt8] = [6, 0, 0, 1, 0, 0, 0, 42]
        var ip6f = ip6
        ip6f[6] = 44
        ip6f[4] = 0; ip6f[5] = UInt8(frag.count + tcp.count)
        XCTAssertEqual(decode(PacketBuilder.ethernet(etherType: 0x86DD) + ip6f + frag + tcp).outcome, .fragment)
    }

    func testLinuxCookedAndLoopbackAndRaw() {
        let ip = Array(linuxSYN[14...])
        // SLL: packet type 0 (to us), ARPHRD_ETHER 1, address length 6, address, protocol 0x0800.
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x08, 0x00]
        var p = decode(sll + ip, link: .linuxSLL)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.sourceMAC, 0x0200_0000_0009)
        assertPrefixesAreErrors(sll + ip, link: .linuxSLL)
        // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address(8).
        let sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 7, 0, 0]
        p = decode(sll2 + ip, link: .linuxSLL2)
        XCTAssertEqual(p.outcome, .transport)
        XCTAssertEqual(p.sourceMAC, 0x0200_0000_0007)
        assertPrefixesAreErrors(sll2 + ip, link: .linuxSLL2)
        // DLT_NULL written on a little-endian host (AF_INET = 2), and a big-endian one.
        XCTAssertEqual(decode([2, 0, 0, 0] + ip, link: .nullHostOrder).outcome, .transport)
        XCTAssertEqual(decode([0, 0, 0, 2] + ip, link: .nullHostOrder).outcome, .transport)
        XCTAssertEqual(decode([30, 0, 0, 0] + ip, link: .nullHostOrder).outcome, .error, "AF_INET6 (30) with IPv4 bytes")
        // DLT_LOOP: network order.
        XCTAssertEqual(decode([0, 0, 0, 2] + ip, link: .loopNetworkOrder).outcome, .transport)
        // Raw IP.
        XCTAssertEqual(decode(ip, link: .raw).outcome, .transport)
        assertPrefixesAreErrors(ip, link: .raw)
    }

    func testNonIPIsNotAnError() {
        let arp = PacketBuilder.ethernet(etherType: 0x0806) + [UInt8](repeating: 0, count: 28)
        XCTAssertEqual(decode(arp).outcome, .nonIP)
    }

    func testIPAddressText() {
        XCTAssertEqual(IPAddress("2001:db8::1")?.text, "2001:db8::1")
        XCTAssertEqual(IPAddress("2001:db8:0:0:1:0:0:1")?.text, "2001:db8::1:0:0:1")
        XCTAssertEqual(IPAddress("::")?.text, "::")
        XCTAssertEqual(IPAddress("fe80::")?.text, "fe80::")
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:7:8")?.text, "1:2:3:4:5:6:7:8")
        XCTAssertEqual(IPAddress("10.77.0.255")?.text, "10.77.0.255")
        XCTAssertNil(IPAddress("1.2.3"))
    }

    func testByteViewCheckedAccessorsNeverTrap() {
        ByteView.with([1, 2, 3]) { v in
            XCTAssertEqual(v.u8(at: 2), 3)
            XCTAssertNil(v.u8(at: 3))
            XCTAssertNil(v.u8(at: -1))
            XCTAssertEqual(v.u16(at: 1), 0x0203)
            XCTAssertNil(v.u16(at: 2))
            XCTAssertNil(v.u32(at: 0))
            XCTAssertNil(v.slice(2, 2))
            XCTAssertEqual(v.slice(1, 2)?.array, [2, 3])
            XCTAssertEqual(v.suffix(from: 5).count, 0)
        }
    }
}

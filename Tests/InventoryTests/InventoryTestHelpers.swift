import Foundation
import XCTest
import SpanSightEngine
import SpanSightWire
import SpanSightTestSupport
import SpanSightModbus
import SpanSightDNP3
import SpanSightDICOM
import SpanSightHL7
import SpanSightProtocols
@testable import SpanSightInventory

/// Runs captures through an engine with an inventory attached.
enum InventoryRun {
    static let oui = OUIRegistry()

    static func run(_ urls: [URL], config: InventoryConfig = InventoryConfig.registered, store: String? = nil) throws -> (Inventory, CaptureRun) {
        var inv: Inventory? = nil
        var last: CaptureRun? = nil
        // One engine per file is enough for these tests; the inventory carries over.
        for url in urls {
            last = try CaptureRunner.run(url, dissectors: Registry.all, prepare: { engine, out in
                if inv == nil {
                    inv = Inventory(config: config, oui: oui, output: out)
                    if let store { try? InventoryStore.load(store, into: inv!) }
                }
                engine.observer = inv
            })
        }
        return (inv!, last!)
    }

    static func fixture(_ name: String) -> URL { TestPaths.fixtures.appendingPathComponent(name) }
}

/// Frames with chosen MACs, TTL, window and TCP options (the test support builder fixes them).
enum Frames {
    static func mac(_ m: UInt64) -> [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: m >> UInt64(40 - 8 * $0)) } }

    static func tcp(srcMAC: UInt64, dstMAC: UInt64, src: String, sport: UInt16, dst: String, dport: UInt16,
                    seq: UInt32, ack: UInt32 = 0, flags: UInt8, window: UInt16 = 8192, ttl: UInt8 = 64,
                    options: [UInt8] = [], payload: [UInt8] = [], df: Bool = true) -> [UInt8] {
        let t = PacketBuilder.tcpHeader(srcPort: sport, dstPort: dport, seq: seq, ack: ack, flags: flags, window: window, options: options) + payload
        var ip = PacketBuilder.ipv4Header(src: src, dst: dst, proto: 6, payloadLength: t.count, ttl: ttl, flagsFragment: df ? 0x4000 : 0)
        // A non-zero IP id, as stacks send with DF (p0f's "id+").
        ip[4] = 0x12; ip[5] = 0x34
        ip[10] = 0; ip[11] = 0
        var sum: UInt32 = 0
        for i in stride(from: 0, to: ip.count, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let c = ~UInt16(sum)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xFF)
        return mac(dstMAC) + mac(srcMAC) + [0x08, 0x00] + ip + t
    }

    /// Modbus/TCP ADU: MBAP (transaction id, protocol 0, length, unit) + PDU.
    static func mbap(_ tid: UInt16, unit: UInt8, _ pdu: [UInt8]) -> [UInt8] {
        PacketBuilder.be16(tid) + [0, 0] + PacketBuilder.be16(UInt16(pdu.count + 1)) + [unit] + pdu
    }

    /// FC 43 / MEI 14 response with the given objects (id, text).
    static func deviceID(_ objects: [(UInt8, String)]) -> [UInt8] {
        var pdu: [UInt8] = [0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, UInt8(objects.count)]
        for (id, text) in objects { pdu += [id, UInt8(text.utf8.count)] + Array(text.utf8) }
        return pdu
    }
}

/// A TCP conversation driven frame by frame through an EngineHarness (handshake, data, FIN).
struct Conversation {
    let h: EngineHarness
    let clientMAC: UInt64, serverMAC: UInt64
    let client: String, server: String
    let sport: UInt16, dport: UInt16
    var cseq: UInt32 = 1000, sseq: UInt32 = 5000

    mutating func open(clientTTL: UInt8 = 64, clientWindow: UInt16 = 64240, clientOptions: [UInt8] = [],
                       serverTTL: UInt8 = 64, serverWindow: UInt16 = 65160, serverOptions: [UInt8] = []) {
        h.feed(Frames.tcp(srcMAC: clientMAC, dstMAC: serverMAC, src: client, sport: sport, dst: server, dport: dport,
                          seq: cseq, flags: PacketBuilder.syn, window: clientWindow, ttl: clientTTL, options: clientOptions))
        cseq += 1
        h.feed(Frames.tcp(srcMAC: serverMAC, dstMAC: clientMAC, src: server, sport: dport, dst: client, dport: sport,
                          seq: sseq, ack: cseq, flags: PacketBuilder.syn | PacketBuilder.ackFlag, window: serverWindow, ttl: serverTTL, options: serverOptions))
        sseq += 1
        h.feed(Frames.tcp(srcMAC: clientMAC, dstMAC: serverMAC, src: client, sport: sport, dst: server, dport: dport,
                          seq: cseq, ack: sseq, flags: PacketBuilder.ackFlag))
    }

    mutating func request(_ bytes: [UInt8]) {
        h.feed(Frames.tcp(srcMAC: clientMAC, dstMAC: serverMAC, src: client, sport: sport, dst: server, dport: dport,
                          seq: cseq, ack: sseq, flags: PacketBuilder.psh | PacketBuilder.ackFlag, payload: bytes))
        cseq &+= UInt32(bytes.count)
    }

    mutating func response(_ bytes: [UInt8]) {
        h.feed(Frames.tcp(srcMAC: serverMAC, dstMAC: clientMAC, src: server, sport: dport, dst: client, dport: sport,
                          seq: sseq, ack: cseq, flags: PacketBuilder.psh | PacketBuilder.ackFlag, payload: bytes))
        sseq &+= UInt32(bytes.count)
    }

    mutating func close() {
        h.feed(Frames.tcp(srcMAC: clientMAC, dstMAC: serverMAC, src: client, sport: sport, dst: server, dport: dport,
                          seq: cseq, ack: sseq, flags: PacketBuilder.fin | PacketBuilder.ackFlag))
        h.feed(Frames.tcp(srcMAC: serverMAC, dstMAC: clientMAC, src: server, sport: dport, dst: client, dport: sport,
                          seq: sseq, ack: cseq + 1, flags: PacketBuilder.fin | PacketBuilder.ackFlag))
    }
}

extension Inventory {
    func hostAt(_ ip: String) -> HostRecord? { host(IPAddress(ip)!) }
}

extension InventoryConfig {
    /// The default configuration with the registered protocols (as the tool runs it).
    static var registered: InventoryConfig {
        var c = InventoryConfig()
        c.protocols = Registry.modules
        return c
    }
}

@testable import SpanSightEngine
import SpanSightWire
import XCTest

/// The envelope cache changes nothing in the output: the same events written with and without
/// it are byte-identical, through hits, renders, collisions of the direct-mapped entries (more
/// flow directions than entries), flow ids reused with other endpoints, and envelopes too long
/// to keep.
final class EnvelopeCacheTests: XCTestCase {
    static let longApp: StaticString = "an-application-protocol-name-longer-than-an-entry-has-room-for"

    func testCachedEnvelopesAreByteIdentical() {
        var rng = SystemRandomNumberGenerator()
        let apps: [StaticString?] = [nil, "modbus", "dnp3", "hl7", EnvelopeCacheTests.longApp]
        func address(_ v6: Bool) -> IPAddress {
            v6 ? IPAddress(hi: UInt64.random(in: 0...UInt64.max, using: &rng), lo: UInt64.random(in: 0...UInt64.max, using: &rng))
               : IPAddress(hi: 0, lo: 0xFFFF_0000_0000 | UInt64.random(in: 0...0xFFFF_FFFF, using: &rng))
        }
        var flows: [EventEnvelope] = []
        for i in 0..<6000 {
            var e = EventEnvelope()
            // Flow ids from a small range: the same id comes back with other endpoints.
            e.flowID = i % 7 == 0 ? UInt64(i % 50) : UInt64.random(in: 1...(1 << 51), using: &rng)
            e.sourceIP = address(i % 3 == 0)
            e.destinationIP = i % 11 == 0 ? IPAddress(hi: ~0, lo: ~0) : address(i % 3 == 0)
            e.sourcePort = UInt16.random(in: 0...UInt16.max, using: &rng)
            e.destinationPort = [502, 20000, 2575, 104, 0, 65535][i % 6]
            e.proto = [6, 17, 47, 0][i % 4]
            e.vlanCount = UInt8(i % 3)
            e.vlanOuter = UInt16.random(in: 0...UInt16.max, using: &rng)
            e.vlanInner = UInt16.random(in: 0...4095, using: &rng)
            e.appProto = apps[i % apps.count]
            // Slots as the engine gives them (reused by other flows), or none.
            e.flowSlot = i % 13 == 0 ? -1 : Int32(i % 5000)
            flows.append(e)
            // The other orientation of the same flow (the engine's envelopes are always client
            // to server; other writers may not be), without a slot.
            var r = e
            r.flowSlot = -1
            swap(&r.sourceIP, &r.destinationIP)
            swap(&r.sourcePort, &r.destinationPort)
            flows.append(r)
        }
        let cached = EventOutput.inMemory(), plain = EventOutput.inMemory()
        plain.cachesEnvelopes = false
        for n in 0..<40_000 {
            // Runs of events of recent flows (hits), then anything (renders, collisions).
            let k = n % 5 == 0 ? Int.random(in: 0..<flows.count, using: &rng) : Int.random(in: 0..<min(flows.count, 64), using: &rng)
            var e = flows[k]
            e.timestampNanos = 1_764_158_400_000_000_000 + Int64(n) * 1_000_123
            e.pcapCount = n % 9 == 0 ? 0 : UInt64(n)
            let type: StaticString = n % 2 == 0 ? "modbus" : "anomaly"
            for out in [cached, plain] {
                out.begin(type, e)
                out.writer.field("n", n)
                out.end()
            }
        }
        XCTAssertEqual(cached.captured, plain.captured)
        XCTAssertGreaterThan(cached.envelopes.hits, 20_000)
        XCTAssertGreaterThan(cached.envelopes.renders, 1_000)
        XCTAssertEqual(plain.envelopes.hits + plain.envelopes.renders, 0)
        // Every line is one JSON object with the envelope's fields in order.
        let first = String(decoding: cached.captured.prefix { $0 != 0x0A }, as: UTF8.self)
        XCTAssertTrue(first.hasPrefix("{\"timestamp\":\"2025-11-26T12:00:00.000000+0000\",\"flow_id\":"), first)
        XCTAssertTrue(first.contains("\"event_type\":\"modbus\""), first)
    }
}

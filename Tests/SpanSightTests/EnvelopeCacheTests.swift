@testable import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// The envelope cache changes nothing in the output: the same events written with and without
/// it are byte-identical, through hits, renders, collisions of the direct-mapped entries (more
/// flows than entries), slots and flow ids reused by other flows, envelopes that differ in one
/// field only, and envelopes too long to keep.
final class EnvelopeCacheTests: XCTestCase {
    static let longApp: StaticString = "an-application-protocol-name-longer-than-an-entry-has-room-for"

    func testCachedEnvelopesAreByteIdentical() {
        for seed: UInt64 in [1, 2, 3] {
            check(seed: seed)
        }
    }

    func check(seed: UInt64) {
        var rng = SplitMix(seed: seed)
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
            // The same flow id, endpoints and slot, one other field changed: each must miss.
            if i < 64 {
                var p = e; p.proto = e.proto == 6 ? 17 : 6; flows.append(p)
                var v = e; v.vlanCount = e.vlanCount == 2 ? 1 : e.vlanCount + 1; flows.append(v)
                var o = e; o.vlanOuter &+= 1; flows.append(o)
                var a = e; a.appProto = e.appProto == nil ? "dicom" : nil; flows.append(a)
                var d = e; d.destinationPort &+= 1; flows.append(d)
            }
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
            // Mostly a few hundred flows (hits), past the single-field variants (which share
            // their original's entry and evict it); every fifth event anything (renders,
            // collisions, variants).
            let k = n % 5 == 0 ? Int.random(in: 0..<flows.count, using: &rng) : Int.random(in: 448..<848, using: &rng)
            var e = flows[k]
            e.timestampNanos = 1_764_158_400_000_000_000 + Int64(n) * 1_000_123
            e.pcapCount = n % 9 == 0 ? 0 : UInt64(n)
            let type: StaticString = n % 2 == 0 ? "modbus" : "anomaly"
            for out in [cached, plain] {
                out.begin(type, e)
                // A body like a dissector's: nested objects and arrays after the envelope.
                out.writer.beginObject("request")
                out.writer.field("n", n)
                out.writer.beginArray("values")
                out.writer.value(n % 7)
                out.writer.value(n % 11)
                out.writer.endArray()
                out.writer.endObject()
                out.writer.field("status", "complete")
                out.end()
            }
        }
        // Everything written, not only what filled a buffer.
        let cachedLines = cached.lines, plainLines = plain.lines
        XCTAssertEqual(cachedLines.count, 40_000, "seed \(seed)")
        XCTAssertEqual(cachedLines, plainLines, "seed \(seed)")
        XCTAssertGreaterThan(cached.envelopes.hits, 20_000, "seed \(seed)")
        XCTAssertGreaterThan(cached.envelopes.renders, 1_000, "seed \(seed)")
        XCTAssertEqual(plain.envelopes.hits + plain.envelopes.renders, 0)
        // Every line is one JSON object with the envelope's fields in order.
        let first = cachedLines[0]
        XCTAssertTrue(first.hasPrefix("{\"timestamp\":\"2025-11-26T12:00:00.000000+0000\",\"flow_id\":"), first)
        XCTAssertTrue(first.contains("\"event_type\":\"modbus\""), first)
        for line in cachedLines.prefix(2000) {
            XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(line.utf8)), line)
        }
    }
}

// UNSAFE: identifiers reach the HMAC and the pseudonym reaches its writer as scoped buffer
// pointers, valid only during the call.
import Crypto
import Foundation
import SpanSightWire

/// Keyed pseudonyms for patient identifiers: HMAC-SHA256(key, identifier 0x1F authority),
/// cut to 16 bytes and written as 32 hex digits. The same identifier from the same assigning
/// authority gives the same pseudonym in every flow and every run with the same key; without
/// the key it cannot be reversed or recomputed.
/// (`@unchecked Sendable`: the keyed state is set once in `init` and only read afterwards.)
public final class HL7Pseudonymizer: @unchecked Sendable {
    public static let length = 16
    /// HMAC keyed once: its inner and outer hashes have taken the padded key. Each pseudonym
    /// starts from a copy (keying per identifier cost four more allocations). swift-crypto's
    /// SHA-256 on Linux keeps its state in an object shared by copies, so a pseudonym still
    /// allocates twice: the inner hash's state when the identifier goes in, the outer hash's
    /// when the inner digest does (docs/performance.md#allocation-gate).
    let keyed: HMAC<SHA256>

    /// `key`: the secret (at least one byte; use 32 random bytes).
    public init(key: [UInt8]) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: key))
    }

    /// The pseudonym of one identifier (CX.1) in the namespace of its assigning authority
    /// (CX.4's first subcomponent; empty when absent), passed to `body` as 16 bytes.
    func pseudonym(identifier: ByteView, authority: ByteView, _ body: (UnsafeRawBufferPointer) -> Void) {
        var mac = keyed
        identifier.withBytes { mac.update(data: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(0x1F)) { mac.update(data: $0) }
        authority.withBytes { mac.update(data: UnsafeRawBufferPointer($0)) }
        let code = mac.finalize()
        code.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0.prefix(Self.length))) }
    }

    /// Hex pseudonym of an identifier given as text (tests, tools).
    public func pseudonym(identifier: String, authority: String = "") -> String {
        var out = ""
        ByteView.with(Array(identifier.utf8)) { id in
            ByteView.with(Array(authority.utf8)) { auth in
                pseudonym(identifier: id, authority: auth) { b in
                    for x in b { out += String(x, radix: 16).count == 1 ? "0" + String(x, radix: 16) : String(x, radix: 16) }
                }
            }
        }
        return out
    }
}

/// Patient identifiers of a message, for pseudonyms only: PID-2 (patient id), PID-3 (patient
/// identifier list, every repetition), PID-4 (alternate patient id), in that order. Their
/// bytes go into the HMAC and nowhere else.
enum HL7PatientIdentifiers {
    /// Field numbers looked at, in output order.
    static let fields = [3, 2, 4]

    /// Calls `body(field, identifier, authority)` for each non-empty identifier of the PID
    /// segments between `message.start` and `message.end`.
    static func forEach(_ frame: ByteView, _ message: HL7Message, _ body: (Int, ByteView, ByteView) -> Void) {
        let sep = message.separators
        let region = frame._slice(message.start, message.end - message.start)
        for wanted in fields {
            forEachSegment(region) { s, e in
                let seg = region._slice(s, e - s)
                guard HL7Segment.id(seg, sep) == HL7Segment.PID else { return }
                HL7Segment.fields(seg, base: message.start + s, last: 4, sep) { n, span in
                    guard n == wanted else { return }
                    forEachRepetition(frame, span, sep) { rep in
                        let id = HL7Segment.component(frame, rep, 1, sep)
                        guard !id.isEmpty else { return }
                        let authority = firstSubcomponent(frame, HL7Segment.component(frame, rep, 4, sep), sep)
                        body(n, id.view(frame), authority.view(frame))
                    }
                }
            }
        }
    }

    static func forEachRepetition(_ frame: ByteView, _ field: Span, _ sep: HL7Separators, _ body: (Span) -> Void) {
        var start = Int(field.start)
        var i = start
        while i <= field.end {
            if i == field.end || UInt16(frame._u8(i)) == sep.repetition {
                body(Span(start, i))
                start = i + 1
            }
            i += 1
        }
    }

    static func firstSubcomponent(_ frame: ByteView, _ span: Span, _ sep: HL7Separators) -> Span {
        var i = Int(span.start)
        while i < span.end, UInt16(frame._u8(i)) != sep.subcomponent { i += 1 }
        return Span(Int(span.start), i)
    }
}

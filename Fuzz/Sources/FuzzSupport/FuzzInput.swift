// UNSAFE: `fuzzMain` hands libFuzzer the process's arguments, and `fuzzInput` wraps the pointer
// libFuzzer lends for one call into a `ByteView`; everything else reads the input through it.
#if canImport(Glibc)
import Glibc
#endif
import CFuzz
import SpanSightWire

/// Runs libFuzzer's main loop with a target's `LLVMFuzzerTestOneInput` (a target's `main`:
/// SwiftPM gives executables a `main` of their own, so libFuzzer's is not linked). Exits with
/// libFuzzer's status.
public func fuzzMain(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}

/// Runs `body` over the bytes libFuzzer passes to `LLVMFuzzerTestOneInput`; returns 0 (libFuzzer
/// reserves other values).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int, _ body: (ByteView) -> Void) -> Int32 {
    body(ByteView(start: UnsafeRawPointer(data), count: data == nil ? 0 : size))
    return 0
}

/// A cursor over the fuzz input: every read is checked, and a read past the end gives what is
/// left (a short record), so that every input means something.
struct InputReader {
    let bytes: ByteView
    var offset = 0

    init(_ bytes: ByteView) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    /// The next byte, 0 past the end.
    mutating func byte() -> UInt8 {
        guard let b = bytes.u8(at: offset) else { return 0 }
        offset += 1
        return b
    }

    /// A big-endian 16-bit length.
    mutating func length() -> Int { Int(byte()) << 8 | Int(byte()) }

    /// The next `count` bytes, or what is left of them.
    mutating func take(_ count: Int) -> ByteView {
        let n = max(0, min(count, bytes.count - offset))
        let v = bytes.prefix(offset + n).suffix(from: offset)
        offset += n
        return v
    }
}

/// The clock step before a packet, by its 3-bit code: from 1 ms to past the established-flow
/// timeout (600 s), and one step back (packet time going backwards).
enum ClockStep {
    static let nanos: [Int64] = [1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
                                 70_000_000_000, 700_000_000_000, -1_000_000_000]
    static func of(_ code: UInt8) -> Int64 { nanos[Int(code & 7)] }
}

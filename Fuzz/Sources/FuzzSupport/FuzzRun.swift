// UNSAFE: `FuzzChecks` hands the output's buffer to the C check (within its bounds).
import CFuzz
import Foundation
import SpanSightEngine
import SpanSightWire

/// One fuzz execution: a fresh engine, the packets, `finish`, the `stats` event, then the checks.
/// A crash, a trap or a sanitizer report is libFuzzer's finding; the checks add what would not
/// trap: every event written must be one line of valid JSON (`FuzzChecks`).
struct FuzzRun {
    let engine: Engine
    let output: EventOutput
    let observer: CountingObserver?
    var nanos: Int64 = 1_764_158_400_000_000_000

    init(config: EngineConfig, events: Bool, observe: Bool) {
        output = events ? EventOutput.inMemory() : EventOutput.disabled()
        engine = Engine(config: config, output: output)
        if observe {
            let o = CountingObserver()
            engine.observer = o
            observer = o
        } else {
            observer = nil
        }
    }

    mutating func step(_ code: UInt8) { nanos &+= ClockStep.of(code) }

    /// Feeds one frame (the wire length is the frame's unless the frame was cut by a snaplen).
    func packet(_ frame: [UInt8], wireLength: Int? = nil) {
        frame.withUnsafeBytes { engine.process($0, wireLength: wireLength ?? frame.count, timestampNanos: nanos) }
    }

    func packet(_ frame: ByteView, wireLength: Int) {
        engine.process(frame.buffer, wireLength: wireLength, timestampNanos: nanos)
    }

    /// Ends every flow, writes `stats`, and checks what was written.
    func end() {
        engine.finish()
        engine.emitStats()
        guard output.isEnabled else { return }
        output.flush()
        FuzzChecks.validJSONLines(output.captured)
    }
}

enum FuzzChecks {
    /// Every line is one JSON object (`CFuzz_jsonObjectProblem`: valid UTF-8, control
    /// characters escaped, no duplicate keys): an escaping bug in the writer, or a dissector's
    /// raw bytes reaching the output unescaped, is a finding. Stops the process with the line.
    static func validJSONLines(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { all in
            var start = 0
            for i in all.indices where all[i] == 0x0A {
                var offset = 0
                if let why = CFuzz_jsonObjectProblem(all.baseAddress! + start, i - start, &offset) {
                    fail("\(String(cString: why)) at offset \(offset)", bytes[start..<i])
                }
                start = i + 1
            }
        }
        if let last = bytes.last, last != 0x0A { fail("output does not end with a newline", bytes[...]) }
    }

    private static func fail(_ why: String, _ line: ArraySlice<UInt8>) -> Never {
        FileHandle.standardError.write(Data("spansight-fuzz: event is not valid JSON (\(why)): ".utf8 + line.prefix(4000) + [0x0A]))
        abort()
    }
}

/// An observer that takes every observation and touches its values, as the inventory would
/// (sessions build observations only when one listens).
final class CountingObserver: EngineObserver {
    var observations = 0
    var textBytes = 0
    var flowEnds = 0
    var handshakes = 0

    func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
        observations += 1
        switch observation {
        case .identity(_, _, let value), .childIdentity(_, _, _, _, let value):
            textBytes += value.utf8.count
        case .command(let c):
            textBytes += (c.detail?.utf8.count ?? 0) + (c.target?.utf8.count ?? 0) + c.name.utf8CodeUnitCount
        default:
            break
        }
    }

    func handshake(_ syn: HandshakeSample) { handshakes += 1 }

    func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) { flowEnds += 1 }
}

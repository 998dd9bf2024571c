// libFuzzer target: an HL7/MLLP conversation (StreamFuzz's input format); the variants add
// pseudonyms for patient identifiers and small limits (message size, open messages).
import FuzzSupport
import SpanSightHL7

let entries = [
    HL7.entry,
    HL7.entry(HL7Configuration(pseudonymKey: Array("fuzz-pseudonym-key".utf8))),
    HL7.entry(HL7Configuration(maxMessageBytes: 256, maxOpenMessages: 2)),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHL7(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzInput(data, size) { StreamFuzz.run($0, entries: entries) }
}

fuzzMain(fuzzHL7)

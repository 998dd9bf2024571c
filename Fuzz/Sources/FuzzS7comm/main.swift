// libFuzzer target: an S7comm (TPKT/COTP) conversation (StreamFuzz's input format).
import FuzzSupport
import SpanSightS7comm

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzS7comm(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzInput(data, size) { StreamFuzz.run($0, entries: [S7comm.entry]) }
}

fuzzMain(fuzzS7comm)

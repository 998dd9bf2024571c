// libFuzzer target: a DICOM upper-layer conversation (StreamFuzz's input format).
import FuzzSupport
import SpanSightDICOM

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDICOM(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzInput(data, size) { StreamFuzz.run($0, entries: [DICOM.entry]) }
}

fuzzMain(fuzzDICOM)

// libFuzzer target: a Modbus/TCP or Modbus/UDP conversation (StreamFuzz's input format).
import FuzzSupport
import SpanSightModbus

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModbus(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzInput(data, size) { StreamFuzz.run($0, entries: [Modbus.entry]) }
}

fuzzMain(fuzzModbus)

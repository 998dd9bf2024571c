// libFuzzer target: the whole pipeline, frames of any link type with every dissector registered
// (PipelineFuzz's input format), in the tool's registry order.
import FuzzSupport
import SpanSightProtocols

let dissectors = Registry.all

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzInput(data, size) { PipelineFuzz.run($0, dissectors: dissectors) }
}

fuzzMain(fuzzPipeline)

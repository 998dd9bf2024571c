// swift-tools-version: 6.1
import PackageDescription

/// libFuzzer targets: one per dissector (a TCP or UDP conversation built from the input, run
/// through `Engine.process` with only that dissector) and one for the whole pipeline (the input
/// is a stream of link-layer frames, every registered dissector). A package of its own, so
/// that the main build never compiles them. Build and run them with `scripts/fuzz.sh`
/// (`swift build -c release -Xswiftc -sanitize=fuzzer,address`: Swift code only, so that C
/// dependencies build as usual; SwiftPM's own `--sanitize` takes one value per flag and orders
/// several at random, and swiftc keeps only the last); seeds are made at run time from
/// fixtures/*.pcap and ../shared/corpus by `Fuzz/seeds.py`.
let package = Package(
    name: "SpanSightFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        // Named, so products resolve whatever the checkout's folder is called.
        .package(name: "SpanSight", path: ".."),
    ],
    targets: [
        // libFuzzer's driver and the output check, in C (built without coverage instrumentation).
        .target(name: "CFuzz"),
        // The harness the targets share: input formats, frame building, the run, the checks.
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CFuzz",
                .product(name: "SpanSightEngine", package: "SpanSight"),
                .product(name: "SpanSightWire", package: "SpanSight"),
            ]
        ),
        // Each target is one small file exporting LLVMFuzzerTestOneInput (libFuzzer's main links in).
        .executableTarget(name: "FuzzModbus", dependencies: ["FuzzSupport", .product(name: "SpanSightModbus", package: "SpanSight")]),
        .executableTarget(name: "FuzzDNP3", dependencies: ["FuzzSupport", .product(name: "SpanSightDNP3", package: "SpanSight")]),
        .executableTarget(name: "FuzzHL7", dependencies: ["FuzzSupport", .product(name: "SpanSightHL7", package: "SpanSight")]),
        .executableTarget(name: "FuzzDICOM", dependencies: ["FuzzSupport", .product(name: "SpanSightDICOM", package: "SpanSight")]),
        .executableTarget(name: "FuzzS7comm", dependencies: ["FuzzSupport", .product(name: "SpanSightS7comm", package: "SpanSight")]),
        .executableTarget(
            name: "FuzzPipeline",
            dependencies: [
                "FuzzSupport",
                .product(name: "SpanSightProtocols", package: "SpanSight"),
            ]
        ),
    ]
)

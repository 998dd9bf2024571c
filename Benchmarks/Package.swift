// swift-tools-version: 6.1
import PackageDescription

/// Allocation gates for the per-packet fast path (ordo-one/benchmark with malloc counting).
/// A package of its own, so that the main build and tests never fetch or compile the
/// benchmark framework. Run from this folder: `swift package benchmark` (see docs/performance.md).
let package = Package(
    name: "SpanSightBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // Named, so products resolve whatever the checkout's folder is called.
        .package(name: "SpanSight", path: ".."),
        // Malloc counts from the malloc-interposer (no jemalloc). The default RuntimeInterposer
        // trait (ARC metrics on Linux with Swift 6.3) is left off: no ARC metric is measured here,
        // and its package is not among the offline dependencies.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "FastPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SpanSightCapture", package: "SpanSight"),
                .product(name: "SpanSightWire", package: "SpanSight"),
                .product(name: "SpanSightEngine", package: "SpanSight"),
                .product(name: "SpanSightProtocols", package: "SpanSight"),
            ],
            path: "Benchmarks/FastPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

// swift-tools-version: 6.1
import PackageDescription

/// Release builds of the per-packet targets skip the runtime exclusivity checks (a third of
/// the per-packet cost when profiled); debug builds, which the tests use, keep them.
let fastPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "SpanSight",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "spansight", targets: ["spansight"]),
        .library(name: "SpanSightEngine", targets: ["SpanSightEngine"]),
        .library(name: "SpanSightCapture", targets: ["SpanSightCapture"]),
        // For the allocation benchmarks and the fuzz targets (packages of their own,
        // Benchmarks/Package.swift and Fuzz/Package.swift).
        .library(name: "SpanSightWire", targets: ["SpanSightWire"]),
        .library(name: "SpanSightModbus", targets: ["SpanSightModbus"]),
        .library(name: "SpanSightDNP3", targets: ["SpanSightDNP3"]),
        .library(name: "SpanSightDICOM", targets: ["SpanSightDICOM"]),
        .library(name: "SpanSightHL7", targets: ["SpanSightHL7"]),
        .library(name: "SpanSightProtocols", targets: ["SpanSightProtocols"]),
        .library(name: "SpanSightS7comm", targets: ["SpanSightS7comm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // `--config FILE` (YAML): the parser libyaml's authors' format, through a well-kept package.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // `live --metrics-port`: the Prometheus text format from the server-side Swift project.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The libpcap boundary: a system library target, imported only by SpanSightCapture.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .target(name: "SpanSightCapture", dependencies: ["CPcap"]),
        // Zero-copy wire views (Ethernet .. TCP/UDP) over borrowed bytes.
        .target(name: "SpanSightWire", swiftSettings: fastPath),
        // Flows, reassembly, the dissector interface, output and the pipeline.
        // Processor hints Swift does not expose (a cache-line prefetch): header-only C.
        .target(name: "CSpanSightHints"),
        .target(name: "SpanSightEngine", dependencies: ["SpanSightWire", "CSpanSightHints", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: fastPath),
        // Application dissectors: one target each, registered in Sources/SpanSightProtocols/Registry.swift.
        .target(name: "SpanSightModbus", dependencies: ["SpanSightEngine", "SpanSightWire"], swiftSettings: fastPath),
        .target(name: "SpanSightDNP3", dependencies: ["SpanSightEngine", "SpanSightWire"], swiftSettings: fastPath),
        .target(name: "SpanSightDICOM", dependencies: ["SpanSightEngine", "SpanSightWire"], swiftSettings: fastPath),
        .target(name: "SpanSightS7comm", dependencies: ["SpanSightEngine", "SpanSightWire"], swiftSettings: fastPath),
        // The embedded store of the inventory (assets accumulate across runs): system SQLite.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // `--output redis://...`: events to Redis through Debian's hiredis (Suricata's EVE transport).
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "SpanSightRedis", dependencies: ["SpanSightEngine", "CHiredis"]),
        // Asset inventory: hosts, assets, fingerprints, classification, reports, the store.
        .systemLibrary(name: "CLibPQ", providers: [.apt(["libpq-dev"])]),
        .target(name: "SpanSightInventory", dependencies: ["SpanSightEngine", "SpanSightWire", "CSQLite", "CLibPQ", "CSpanSightHints"]),
        // Detection: rules, learned baselines, risk (an observer of the engine).
        .target(name: "SpanSightDetect", dependencies: ["SpanSightEngine", "SpanSightWire", "SpanSightCapture"], swiftSettings: fastPath),
        .target(name: "SpanSightHL7", dependencies: ["SpanSightEngine", "SpanSightWire", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: fastPath),
        // The registered protocols (one list for the tool, tests, benchmarks and fuzz targets).
        .target(name: "SpanSightProtocols", dependencies: ["SpanSightEngine", "SpanSightModbus", "SpanSightDNP3",
                                                           "SpanSightDICOM", "SpanSightHL7", "SpanSightS7comm"]),
        // Counts heap allocations for `spansight bench` (linked into the tool only).
        .target(name: "CSpanSightAlloc"),
        .executableTarget(
            name: "spansight",
            dependencies: [
                "SpanSightCapture", "SpanSightEngine", "SpanSightWire", "CSpanSightAlloc",
                "SpanSightInventory", "SpanSightDetect", "SpanSightProtocols", "SpanSightRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "SpanSightTestSupport",
            dependencies: ["SpanSightCapture", "SpanSightEngine", "SpanSightWire"],
            path: "Tests/SpanSightTestSupport"
        ),
        .testTarget(
            name: "SpanSightTests",
            dependencies: ["SpanSightCapture", "SpanSightEngine", "SpanSightWire", "SpanSightTestSupport"]
        ),
        .testTarget(
            name: "ModbusTests",
            dependencies: ["SpanSightModbus", "SpanSightEngine", "SpanSightWire", "SpanSightTestSupport"]
        ),
        .testTarget(
            name: "InventoryTests",
            dependencies: ["SpanSightInventory", "SpanSightModbus", "SpanSightDNP3", "SpanSightDICOM", "SpanSightHL7",
                           "SpanSightEngine", "SpanSightWire", "SpanSightProtocols",
                           "SpanSightTestSupport"]
        ),
        .testTarget(
            name: "DNP3Tests",
            dependencies: ["SpanSightDNP3", "SpanSightEngine", "SpanSightWire", "SpanSightTestSupport"]
        ),
        .testTarget(
            name: "DICOMTests",
            dependencies: ["SpanSightDICOM", "SpanSightEngine", "SpanSightWire", "SpanSightTestSupport"]
        ),
        .testTarget(
            name: "DetectTests",
            dependencies: ["SpanSightDetect", "SpanSightModbus", "SpanSightDNP3", "SpanSightEngine", "SpanSightWire",
                           "SpanSightCapture", "SpanSightTestSupport", "SpanSightProtocols"]
        ),
        .testTarget(name: "HL7Tests", dependencies: ["SpanSightHL7", "SpanSightEngine", "SpanSightWire", "SpanSightTestSupport"]),
        .testTarget(name: "S7commTests", dependencies: ["SpanSightS7comm", "SpanSightEngine", "SpanSightWire", "SpanSightTestSupport"]),
        .testTarget(name: "MemoryTests", dependencies: ["SpanSightModbus", "SpanSightDNP3", "SpanSightHL7", "SpanSightDICOM",
                                                        "SpanSightInventory", "SpanSightDetect", "SpanSightEngine", "SpanSightWire",
                                                        "SpanSightTestSupport", "SpanSightProtocols"]),
    ]
)

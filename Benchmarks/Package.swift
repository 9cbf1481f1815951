// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live in their own package so the main build stays light (SwiftNIO does the same).
let package = Package(
    name: "DCSwitchBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "DCSwitch", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .executableTarget(
            name: "ISO8583Benchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "ISO8583", package: "DCSwitch"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/ISO8583Benchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // The codec in a plain loop, for instruction counts under valgrind (see main.swift). Built, like the
        // codec module, without run-time exclusivity checks in release: the loop's own `output.clear()` reads
        // the ByteBuffer storage's capacity, a class property, and its check (some 80 instructions) is no
        // cost of the codec's.
        .executableTarget(
            name: "ISO8583CodecLoop",
            dependencies: [
                .product(name: "ISO8583", package: "DCSwitch"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/ISO8583Benchmarks",
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // Owner-change records per second through the batcher into PostgreSQL, beside raw COPY.
        .executableTarget(
            name: "RegistryIngest",
            dependencies: [
                .product(name: "RegistrationCenter", package: "DCSwitch"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/RegistryIngest"
        ),
    ],
    swiftLanguageModes: [.v6]
)

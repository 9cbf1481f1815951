// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "DCSwitch",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "ISO8583", targets: ["ISO8583"]),
        .library(name: "ISO8583Network", targets: ["ISO8583Network"]),
        .library(name: "SwitchCore", targets: ["SwitchCore"]),
        .library(name: "RegistrationCenter", targets: ["RegistrationCenter"]),
        .executable(name: "dcswitch", targets: ["DCSwitchCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // The codec: specs as data, byte-exact decode and encode. Nothing heavier than NIOCore.
        .target(
            name: "ISO8583",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            // The codec's hot paths read ByteBuffer's storage, a class whose stored properties every access
            // checks for exclusivity at run time (some 75 instructions each, three an encode); this module
            // keeps no mutable class or global state of its own, so the checks guard nothing here. Debug
            // builds (the tests) keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // ISO 8583 over TCP: framing, links, request/response matching.
        .target(
            name: "ISO8583Network",
            dependencies: [
                "ISO8583",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The coin model shared by the switch, the banks and the registration center.
        .target(
            name: "DigitalCurrency",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The switch core: routing, flows, reversals, duplicate detection, settlement.
        .target(
            name: "SwitchCore",
            dependencies: [
                "ISO8583", "ISO8583Network", "DigitalCurrency",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Simulated commercial banks, each its own ISO 8583 host.
        .target(
            name: "BankSimulator",
            dependencies: [
                "ISO8583", "ISO8583Network", "DigitalCurrency",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The central bank's registration center on PostgreSQL.
        .target(
            name: "RegistrationCenter",
            dependencies: [
                "DigitalCurrency",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The open-loop traffic generator and fixture replay.
        .target(
            name: "TrafficGenerator",
            dependencies: [
                "ISO8583", "ISO8583Network", "DigitalCurrency",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fixture replay: fixture files, field matchers, the replay link, reports (text, JUnit), recording.
        .target(
            name: "FixtureReplay",
            dependencies: [
                "ISO8583", "ISO8583Network", "DigitalCurrency", "TrafficGenerator",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "DCSwitchCLI",
            dependencies: [
                "ISO8583", "ISO8583Network", "SwitchCore", "BankSimulator", "RegistrationCenter", "TrafficGenerator", "FixtureReplay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/DCSwitchCLI"
        ),
        // Shared helpers for tests: embedded PostgreSQL, loopback networks, in-memory logs.
        .target(
            name: "DCSwitchTestKit",
            dependencies: [
                "ISO8583", "ISO8583Network", "DigitalCurrency", "RegistrationCenter", "SwitchCore", "BankSimulator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(name: "ISO8583Tests", dependencies: ["ISO8583"]),
        .testTarget(name: "BankSimulatorTests", dependencies: ["BankSimulator", "DigitalCurrency", "ISO8583", "ISO8583Network"]),
        .testTarget(
            name: "DCSwitchCLITests",
            dependencies: [
                "DCSwitchTestKit", "FixtureReplay", "ISO8583", "BankSimulator", "DigitalCurrency", "RegistrationCenter",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SwitchCoreTests",
            dependencies: [
                "SwitchCore", "DigitalCurrency", "ISO8583", "ISO8583Network", "BankSimulator", "DCSwitchTestKit",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "RegistrationCenterTests", dependencies: ["RegistrationCenter", "DCSwitchTestKit"]),
        .testTarget(name: "TrafficGeneratorTests", dependencies: ["TrafficGenerator", "ISO8583", "ISO8583Network", "DigitalCurrency"]),
        .testTarget(name: "ISO8583NetworkTests", dependencies: ["ISO8583Network", .product(name: "NIOTestUtils", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]),
    ],
    swiftLanguageModes: [.v6]
)

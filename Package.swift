// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "callflow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "callflow", targets: ["callflow"]),
        .library(name: "CallflowCore", targets: ["CallflowCore"]),
        // For the libFuzzer targets in fuzz/ (a separate package that depends on this one).
        .library(name: "TelnyxEmulator", targets: ["TelnyxEmulator"]),
        .library(name: "CallflowServer", targets: ["CallflowServer"]),
        .library(name: "EventHTTP", targets: ["EventHTTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, one thin shim each. Only the small wrapper target beside each imports it.
        .systemLibrary(
            name: "CLibevent",
            pkgConfig: "libevent_pthreads",
            providers: [.apt(["libevent-dev"]), .brew(["libevent"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // The loop's I/O: the evhttp server and the libcurl client share one libevent loop.
        .target(name: "EventHTTP", dependencies: ["CLibevent", "CCurl"]),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        .systemLibrary(
            name: "CRedis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"]), .brew(["hiredis"])]
        ),
        // An asynchronous Redis connection on the libevent loop (hiredis' libevent adapter).
        .target(name: "Redis", dependencies: ["CRedis", "EventHTTP"]),
        .target(name: "WebhookSignature", dependencies: ["CSodium"]),

        // Pure core: JSON, events, flows, the machine, commands. No C, no I/O, no clock.
        .target(name: "CallflowCore"),

        // Telnyx's side of calls as a pure model, and the virtual-time simulation built on it.
        .target(name: "TelnyxEmulator", dependencies: ["CallflowCore"]),

        // The emulator on loopback: a real HTTP API and signed webhooks, for `dev` and end-to-end tests.
        .target(name: "TelnyxEmulatorServer", dependencies: ["TelnyxEmulator", "EventHTTP", "WebhookSignature", "CallflowCore"]),

        // The imperative shell: config, ingest, wiring of the loop.
        .target(
            name: "CallflowServer",
            dependencies: [
                "CallflowCore", "EventHTTP", "WebhookSignature", "SQLite", "Redis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "callflow",
            dependencies: [
                "CallflowServer", "CallflowCore", "TelnyxEmulator", "TelnyxEmulatorServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fixtures both test targets read (the Telnyx facts beside the repository, seeded randomness).
        .target(name: "CallflowTestSupport", dependencies: ["CallflowCore", "TelnyxEmulator"], path: "Tests/Support"),
        .testTarget(name: "CallflowCoreTests", dependencies: ["CallflowCore", "TelnyxEmulator", "CallflowTestSupport"]),
        .testTarget(
            name: "CallflowServerTests",
            dependencies: ["CallflowServer", "CallflowCore", "EventHTTP", "Redis", "SQLite", "WebhookSignature", "TelnyxEmulator", "TelnyxEmulatorServer",
                           "CallflowTestSupport", .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

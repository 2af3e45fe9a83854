// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "callflow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "callflow", targets: ["callflow"]),
        // The benchmark drivers (bench/*.sh), kept out of the shipping binary.
        .executable(name: "callflow-bench", targets: ["callflow-bench"]),
        .library(name: "CallflowCore", targets: ["CallflowCore"]),
        // For the libFuzzer targets in fuzz/ (a separate package that depends on this one).
        .library(name: "TelnyxEmulator", targets: ["TelnyxEmulator"]),
        .library(name: "CallflowServer", targets: ["CallflowServer"]),
        .library(name: "EventHTTP", targets: ["EventHTTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Deque: the queues that were a hand-made array-and-head FIFO or an O(n) removeFirst.
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // Metrics: the swift-metrics facade over a Prometheus registry (Sources/CallflowRuntime/Metrics).
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
        // The one libevent loop every part shares: timers, signals, loop tasks, a worker thread
        // for jobs that wait (the disk), and the clocks.
        .target(
            name: "CallflowLoop",
            dependencies: ["CLibevent", .product(name: "DequeModule", package: "swift-collections")]
        ),
        // HTTP on the loop: the webhook server (Server/) and the libcurl client (Client/).
        .target(
            name: "EventHTTP",
            dependencies: ["CallflowLoop", "CLibevent", "CCurl", .product(name: "DequeModule", package: "swift-collections")]
        ),
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
        .target(
            name: "Redis",
            dependencies: ["CRedis", "CallflowLoop", .product(name: "DequeModule", package: "swift-collections")]
        ),
        // libsodium for Ed25519; base64 is the core's (one strict decoder for the whole binary).
        .target(name: "WebhookSignature", dependencies: ["CSodium", "CallflowCore"]),

        // Pure core: JSON, events, flows, the machine, commands. No C, no I/O, no clock.
        .target(name: "CallflowCore"),

        // Telnyx's side of calls as a pure model, and the virtual-time simulation built on it.
        .target(name: "TelnyxEmulator", dependencies: ["CallflowCore"]),

        // The emulator on loopback: a real HTTP API and signed webhooks, for `dev` and end-to-end tests.
        .target(name: "TelnyxEmulatorServer", dependencies: ["TelnyxEmulator", "CallflowLoop", "EventHTTP", "WebhookSignature", "CallflowCore"]),

        // How every request to Telnyx's REST API is made: retries, backoff, Telnyx's error body.
        // Shared by the server's command client and the CLI's account client.
        .target(name: "TelnyxREST", dependencies: ["CallflowCore", "CallflowLoop", "EventHTTP"]),

        // The blocking account client behind `callflow telnyx ...`; only the CLI uses it.
        .target(name: "TelnyxAPI", dependencies: ["TelnyxREST", "CallflowCore", "CallflowLoop", "EventHTTP"]),

        // The spine: the pipeline (load → step → commit → reply and effects), the ledgers and
        // stores under it, the effect runner and the outbound clients. Names no type of the face.
        .target(
            name: "CallflowRuntime",
            dependencies: [
                "CallflowCore", "CallflowLoop", "EventHTTP", "SQLite", "Redis", "TelnyxREST",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The face and the wiring: routes, webhook ingest, the control API, config, logging,
        // flow loading, and `ServerApp`, which builds the rest.
        .target(
            name: "CallflowServer",
            dependencies: [
                "CallflowRuntime", "CallflowCore", "CallflowLoop", "EventHTTP", "WebhookSignature", "SQLite", "Redis", "TelnyxREST",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "callflow",
            dependencies: [
                "CallflowServer", "CallflowRuntime", "CallflowLoop", "CallflowCore", "TelnyxAPI", "TelnyxEmulator", "TelnyxEmulatorServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `callflow-bench bench-*`: the drivers bench/*.sh and the soak test run against a real server.
        .executableTarget(
            name: "callflow-bench",
            dependencies: [
                "CallflowServer", "CallflowRuntime", "CallflowLoop", "CallflowCore", "TelnyxREST", "EventHTTP", "WebhookSignature", "TelnyxEmulator",
                "TelnyxEmulatorServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fixtures both test targets read (the Telnyx facts beside the repository, seeded randomness).
        .target(name: "CallflowTestSupport", dependencies: ["CallflowCore", "TelnyxEmulator"], path: "Tests/Support"),
        .testTarget(name: "CallflowCoreTests", dependencies: ["CallflowCore", "TelnyxEmulator", "CallflowTestSupport"]),
        .testTarget(
            name: "CallflowServerTests",
            dependencies: [
                "CallflowServer", "CallflowRuntime", "CallflowLoop", "CallflowCore", "EventHTTP", "Redis", "SQLite", "WebhookSignature",
                "TelnyxEmulator", "TelnyxEmulatorServer",
                "TelnyxAPI", "TelnyxREST", "CallflowTestSupport", .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

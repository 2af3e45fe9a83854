// swift-tools-version:6.0
// libFuzzer targets for callflow's parsers. A separate package so the root's `swift build` and
// `swift test` never see `-sanitize=fuzzer`. Build and run with `bench/fuzz.sh SECONDS`, or:
//   swift build -c debug --package-path fuzz --scratch-path fuzz/.build-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing
// Each executable is a libFuzzer binary (libFuzzer supplies `main`; the targets are
// `-parse-as-library` and export `LLVMFuzzerTestOneInput`).
import PackageDescription

let asLibrary: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func fuzzer(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: "callflow") },
        swiftSettings: asLibrary
    )
}

let package = Package(
    name: "callflow-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "callflow", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        fuzzer("FuzzJSON", ["CallflowCore"]),
        fuzzer("FuzzWebhook", ["CallflowCore"]),
        fuzzer("FuzzFlow", ["CallflowCore", "CallflowServer"]),
        fuzzer("FuzzScenario", ["CallflowCore", "TelnyxEmulator"]),
        fuzzer("FuzzMocks", ["CallflowCore", "TelnyxEmulator"]),
        fuzzer("FuzzConfig", ["CallflowCore", "CallflowServer"]),
        // RequestParser is internal to EventHTTP: reached with `@testable import`, which needs the
        // root's modules built with `-enable-testing` (fuzz.sh passes it; no API change in the root).
        fuzzer("FuzzRequest", ["EventHTTP"]),
    ],
    swiftLanguageModes: [.v6]
)

import ArgumentParser

/// The benchmark and soak drivers, a binary of their own so that the shipping `callflow` (and its
/// Docker image) carries none of them. The subcommands keep their `bench-` names, so a script can
/// point `CALLFLOW_BENCH_BIN` at an older build's `callflow`, which had them, and run unchanged.
@main
struct CallflowBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callflow-bench",
        abstract: "Benchmark drivers for bench/*.sh and the soak test: load generators, the emulator as its own process, a command sink.",
        subcommands: [BenchCommands.self, BenchMemory.self, BenchWebhooks.self, BenchCalls.self, BenchSoak.self, BenchQueue.self]
    )
}

/// The drivers' one percentile: the sample at index ⌊n·q⌋ of `sorted` (ascending), the last for
/// q = 1; 0 when there is none.
func quantile(_ sorted: [Double], _ q: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
}

import CallflowRuntime
import CoreMetrics
import Synchronization
import Testing

/// The typed metrics API over the Prometheus registry: every family renders with its help and type
/// line, each method's observation lands in its own series, and the output is stable in order.
@Suite struct MetricsTests {
    /// Each typed method once (a few twice), with values whose series and buckets are known.
    static func observeEveryFamily(_ m: Metrics) {
        m.webhook(event: "call.initiated", outcome: .accepted)
        m.webhook(event: "call.totally_new_type", outcome: .duplicate)
        m.webhook(event: nil, outcome: .badSignature)
        m.commandFinished(action: "answer", result: .ok, seconds: 0.0004)
        m.commandFinished(action: "answer", result: .ok, seconds: 0.0004)
        m.commandFinished(action: "speak", result: .callGone, seconds: 3)
        m.commandDropped(action: "speak")
        m.commandRetried(action: "answer")
        m.nodeEntered(flow: "main", node: "menu")
        m.nodeExited(flow: "main", node: "menu", outcome: "1")
        m.call(.started)
        m.call(.ended)
        m.acceptFailed()
        m.storeError()
        m.storeConflict()
        m.storeCommit(seconds: 0.002)
        m.webhookToCommand(seconds: 0.3)
        m.webhookHandled(seconds: 20)
    }

    @Test func everyFamilyRendersItsHelpTypeAndObservations() throws {
        let m = Metrics()
        Self.observeEveryFamily(m)
        let text = m.render()
        for family in Metrics.Family.allCases {
            let type = family.isHistogram ? "histogram" : "counter"
            #expect(text.contains("# HELP \(family.rawValue) \(family.help)\n# TYPE \(family.rawValue) \(type)\n"), "\(family)")
        }
        let lines = Set(text.split(separator: "\n").map(String.init))
        let expected = [
            #"callflow_webhooks_total{event_type="call.initiated",outcome="accepted"} 1"#,
            #"callflow_webhooks_total{event_type="other",outcome="duplicate"} 1"#,
            #"callflow_webhooks_total{event_type="unknown",outcome="bad_signature"} 1"#,
            #"callflow_commands_total{action="answer",result="ok"} 2"#,
            #"callflow_commands_total{action="speak",result="call_gone"} 1"#,
            #"callflow_commands_total{action="speak",result="dropped"} 1"#,
            #"callflow_command_retries_total{action="answer"} 1"#,
            #"callflow_node_entries_total{flow="main",node="menu"} 1"#,
            #"callflow_node_exits_total{flow="main",node="menu",outcome="1"} 1"#,
            #"callflow_calls_total{event="started"} 1"#,
            #"callflow_calls_total{event="ended"} 1"#,
            "callflow_accept_failures_total 1",
            "callflow_store_errors_total 1",
            "callflow_store_conflicts_total 1",
            // Cumulative buckets: the first bound at or above the value counts it, and every one after.
            #"callflow_command_duration_seconds_bucket{action="answer",result="ok",le="0.00025"} 0"#,
            #"callflow_command_duration_seconds_bucket{action="answer",result="ok",le="0.0005"} 2"#,
            #"callflow_command_duration_seconds_bucket{action="answer",result="ok",le="10.0"} 2"#,
            #"callflow_command_duration_seconds_count{action="answer",result="ok"} 2"#,
            #"callflow_command_duration_seconds_bucket{action="speak",result="call_gone",le="2.5"} 0"#,
            #"callflow_command_duration_seconds_bucket{action="speak",result="call_gone",le="5.0"} 1"#,
            #"callflow_command_duration_seconds_sum{action="speak",result="call_gone"} 3.0"#,
            #"callflow_store_commit_seconds_bucket{le="0.0015"} 0"#,
            #"callflow_store_commit_seconds_bucket{le="0.002"} 1"#,
            "callflow_store_commit_seconds_count 1",
            #"callflow_webhook_to_command_seconds_bucket{le="0.25"} 0"#,
            #"callflow_webhook_to_command_seconds_bucket{le="0.5"} 1"#,
            #"callflow_webhook_handling_seconds_bucket{le="10.0"} 0"#,
            #"callflow_webhook_handling_seconds_bucket{le="+Inf"} 1"#,
            "callflow_webhook_handling_seconds_sum 20.0",
        ]
        for line in expected { #expect(lines.contains(line), "\(line) in\n\(text)") }
        // A dropped command has no duration; the bucket set is the one the histograms always had.
        #expect(!text.contains(#"callflow_command_duration_seconds_count{action="speak",result="dropped""#))
        let bounds = text.split(separator: "\n").filter { $0.hasPrefix("callflow_store_commit_seconds_bucket") }
        #expect(bounds.count == Metrics.latencyBuckets.count + 1)
    }

    @Test func familiesAndSeriesComeInOrder() {
        let m = Metrics()
        m.nodeEntered(flow: "main", node: "zeta")
        m.nodeEntered(flow: "main", node: "alpha")
        m.nodeEntered(flow: "billing", node: "start")
        Self.observeEveryFamily(m)
        let text = m.render()
        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(families == families.sorted())
        #expect(Set(families).count == families.count, "one HELP and TYPE per family")
        let entries = text.split(separator: "\n").filter { $0.hasPrefix("callflow_node_entries_total{") }
        #expect(entries == entries.sorted())
        #expect(entries.count == 4)
        // Each histogram series stays one run: its buckets, then its sum and count.
        let durations = text.split(separator: "\n").filter { $0.hasPrefix("callflow_command_duration_seconds") }
        #expect(durations.firstIndex { $0.contains(#"action="speak""#) }! > durations.lastIndex { $0.contains(#"action="answer""#) }!)
    }

    @Test func labelValuesAreEscaped() {
        let m = Metrics()
        m.nodeEntered(flow: "main", node: "x\"y\\z\n")
        #expect(m.render().contains(#"callflow_node_entries_total{flow="main",node="x\"y\\z\n"} 1"#))
    }

    @Test func scrapeTimeGaugesAndCounters() {
        let m = Metrics()
        var live = 2.0
        m.gauge("callflow_test_live", "Live things.") { live }
        m.counter("callflow_test_evicted_total", "Evictions counted elsewhere.", read: { live * 10 })
        #expect(m.render().contains("# HELP callflow_test_live Live things.\n# TYPE callflow_test_live gauge\ncallflow_test_live 2.0\n"))
        live = 3
        let text = m.render()
        #expect(text.contains("callflow_test_live 3.0\n"))
        #expect(text.contains("# TYPE callflow_test_evicted_total counter\ncallflow_test_evicted_total 30\n"), "\(text)")
    }

    @Test func anotherBackendGetsEveryObservation() {
        let other = CountingFactory()
        let m = Metrics(backend: other)
        m.nodeEntered(flow: "main", node: "menu")
        m.nodeEntered(flow: "main", node: "menu")
        m.storeCommit(seconds: 0.001)
        #expect(other.counts.value["callflow_node_entries_total"] == 2)
        #expect(other.counts.value["callflow_store_commit_seconds"] == 1)
        #expect(m.render().contains(#"callflow_node_entries_total{flow="main",node="menu"} 2"#))
    }
}

/// A swift-metrics backend that counts what each label receives.
private struct CountingFactory: MetricsFactory {
    let counts = Counts()

    /// Observations by label. Locked: the registry's handles are `Sendable`, so a backend's must be too.
    final class Counts: Sendable {
        private let box = Mutex<[String: Int]>([:])
        var value: [String: Int] { box.withLock { $0 } }
        func add(_ label: String) { box.withLock { $0[label, default: 0] += 1 } }
    }

    final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler {
        let label: String
        let counts: Counts
        init(_ label: String, _ counts: Counts) {
            self.label = label
            self.counts = counts
        }
        func increment(by: Int64) { counts.add(label) }
        func increment(by: Double) { counts.add(label) }
        func reset() {}
        func decrement(by: Double) { counts.add(label) }
        func set(_ value: Int64) { counts.add(label) }
        func set(_ value: Double) { counts.add(label) }
        func record(_ value: Int64) { counts.add(label) }
        func record(_ value: Double) { counts.add(label) }
        func recordNanoseconds(_ duration: Int64) { counts.add(label) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(label, counts) }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(label, counts)
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Handler(label, counts) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler(label, counts) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler(label, counts) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

import CallflowCore
import CoreMetrics
import Prometheus

/// The server's metrics: one typed method per family (`webhook(event:outcome:)`,
/// `commandFinished(action:result:seconds:)`, `nodeEntered(flow:node:)`, `storeCommit(seconds:)`
/// …), recorded through swift-metrics handles (`CoreMetrics.Counter`, `CoreMetrics.Timer`) made by
/// an explicit factory and exposed by swift-prometheus's `PrometheusCollectorRegistry`.
///
/// Why this shape:
/// - **Typed methods, not names.** The family names, help texts and label names live in one
///   table (`Family`), beside the one bucket set; a call site can only name a method, so a
///   misspelled metric no longer compiles instead of being a silent no-op, and outcomes with a
///   fixed set of values are enums.
/// - **swift-metrics with an explicit factory, not `MetricsSystem.bootstrap`.** Tests run many
///   servers in one process, each with its own registry; a global bootstrap can happen once. The
///   facade is what lets another backend be plugged in (`init(backend:)`).
/// - **Our own factory (`PrometheusFamilies`), not `PrometheusMetricsFactory`.** swift-metrics has
///   no help text, so that factory registers every family with an empty one: no `# HELP` lines,
///   and the registry stops the process when one name is registered with two different help
///   texts. Ours looks the help and buckets up in `Family`.
/// - **Handles cached per label set.** Making a handle takes the registry's lock, validates the
///   name and labels and allocates; the hot path only hashes the label values to find its handle
///   (as the hand-written registry before it hashed name and labels). Measured with callgrind
///   (bench/RESULTS.md, "Metrics through swift-metrics and swift-prometheus"): the metrics code
///   costs what the hand-written registry did, about 18k instructions per webhook, so the packages
///   stay; a lighter backend behind the same typed methods would have been the fallback.
///
/// Loop-confined (not `Sendable`): the caches are plain dictionaries touched only on the loop; the
/// handles and the registry are `Sendable` themselves. Label values come from bounded sets (event
/// types Telnyx documents, action names, flow and node ids), never from caller input.
public final class Metrics {
    /// The families the typed methods record into, with what the exposition says about them.
    /// Scrape-time gauges and counters (`gauge(_:_:_:)`, `counter(_:_:read:)`) are not here: the
    /// code that owns the value names them.
    public enum Family: String, CaseIterable, Sendable {
        case webhooks = "callflow_webhooks_total"
        case commands = "callflow_commands_total"
        case commandRetries = "callflow_command_retries_total"
        case nodeEntries = "callflow_node_entries_total"
        case nodeExits = "callflow_node_exits_total"
        case calls = "callflow_calls_total"
        case commandDuration = "callflow_command_duration_seconds"
        case acceptFailures = "callflow_accept_failures_total"
        case storeErrors = "callflow_store_errors_total"
        case storeConflicts = "callflow_store_conflicts_total"
        case storeCommit = "callflow_store_commit_seconds"
        case webhookToCommand = "callflow_webhook_to_command_seconds"
        case webhookHandling = "callflow_webhook_handling_seconds"

        public var help: String {
            switch self {
            case .webhooks: "Webhooks received, by event type and outcome."
            case .commands: "Commands finished, by action and result."
            case .commandRetries: "Command attempts that were retried."
            case .nodeEntries: "Times a node was entered."
            case .nodeExits: "Times a node was left, by outcome (the funnel: where callers drop off)."
            case .calls: "Calls started and ended."
            case .commandDuration: "Time from a command's first attempt to its final answer."
            case .acceptFailures: "accept() calls that failed (no file descriptor left); accepting pauses and retries."
            case .storeErrors: "Store commits that failed (webhooks answered 503 meanwhile)."
            case .storeConflicts:
                "Shared state: commits refused because another instance changed the call first (the input is re-run)."
            case .storeCommit: "Time of one group commit of the store (shared state: of one input's commit round trip)."
            case .webhookToCommand:
                "From a webhook's arrival to the commands it caused being handed to the Telnyx client (after their commit)."
            case .webhookHandling: "Time from a webhook's arrival to its reply: verify, decode, step and the commit the reply waits for."
            }
        }

        public var labelNames: [String] {
            switch self {
            case .webhooks: ["event_type", "outcome"]
            case .commands, .commandDuration: ["action", "result"]
            case .commandRetries: ["action"]
            case .nodeEntries: ["flow", "node"]
            case .nodeExits: ["flow", "node", "outcome"]
            case .calls: ["event"]
            case .acceptFailures, .storeErrors, .storeConflicts, .storeCommit, .webhookToCommand, .webhookHandling: []
            }
        }

        public var isHistogram: Bool {
            switch self {
            case .commandDuration, .storeCommit, .webhookToCommand, .webhookHandling: true
            default: false
            }
        }
    }

    /// What became of a webhook (`callflow_webhooks_total{outcome}`).
    public enum WebhookOutcome: String, CaseIterable, Sendable {
        case accepted, duplicate, ignored, stale, unavailable
        case unknownCall = "unknown_call"
        case badSignature = "bad_signature"
        case badRequest = "bad_request"
    }

    /// How a command ended (`callflow_commands_total{result}`; a command dropped unsent is
    /// `commandDropped(action:)`, which has no duration).
    public enum CommandResult: String, CaseIterable, Sendable {
        case ok, error
        case callGone = "call_gone"
    }

    /// `callflow_calls_total{event}`.
    public enum CallEvent: String, CaseIterable, Sendable {
        case started, ended
    }

    public static let latencyBuckets = [
        0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1, 2.5, 5, 10,
    ]

    /// The registry `/metrics` renders; the typed handles record into it (and into `backend`).
    public let registry: PrometheusCollectorRegistry
    private let factory: any MetricsFactory

    private struct Pair: Hashable {
        let a: String
        let b: String
    }

    private struct Triple: Hashable {
        let a: String
        let b: String
        let c: String
    }

    private var webhooks: [Pair: CoreMetrics.Counter] = [:]
    private var commands: [Pair: CoreMetrics.Counter] = [:]
    private var commandDurations: [Pair: CoreMetrics.Timer] = [:]
    private var retries: [String: CoreMetrics.Counter] = [:]
    private var nodeEntries: [Pair: CoreMetrics.Counter] = [:]
    private var nodeExits: [Triple: CoreMetrics.Counter] = [:]
    private var calls: [CallEvent: CoreMetrics.Counter] = [:]
    // Families without labels have one series each, made up front so they render (as 0) from the
    // first scrape: `rate()` then sees the first failure.
    private let acceptFailures: CoreMetrics.Counter
    private let storeErrors: CoreMetrics.Counter
    private let storeConflicts: CoreMetrics.Counter
    private let storeCommitTimer: CoreMetrics.Timer
    private let webhookToCommandTimer: CoreMetrics.Timer
    private let webhookHandlingTimer: CoreMetrics.Timer

    private var gauges: [(gauge: Prometheus.Gauge, read: () -> Double)] = []
    private var readCounters: [(counter: Prometheus.Counter, read: () -> Double)] = []

    /// - Parameter backend: another swift-metrics backend that gets every observation too (the
    ///   registry, and so `/metrics`, always does).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), backend: (any MetricsFactory)? = nil) {
        self.registry = registry
        let prometheus = PrometheusFamilies(registry: registry)
        let factory: any MetricsFactory = backend.map { MultiplexMetricsHandler(factories: [prometheus, $0]) } ?? prometheus
        self.factory = factory
        acceptFailures = CoreMetrics.Counter(label: Family.acceptFailures.rawValue, factory: factory)
        storeErrors = CoreMetrics.Counter(label: Family.storeErrors.rawValue, factory: factory)
        storeConflicts = CoreMetrics.Counter(label: Family.storeConflicts.rawValue, factory: factory)
        storeCommitTimer = CoreMetrics.Timer(label: Family.storeCommit.rawValue, factory: factory)
        webhookToCommandTimer = CoreMetrics.Timer(label: Family.webhookToCommand.rawValue, factory: factory)
        webhookHandlingTimer = CoreMetrics.Timer(label: Family.webhookHandling.rawValue, factory: factory)
    }

    // MARK: The typed API

    /// `callflow_webhooks_total`. `event` is the event type as received (nil: the body was not
    /// decoded, counted as `unknown`); types outside the documented set count as `other`.
    public func webhook(event: String?, outcome: WebhookOutcome) {
        countWebhook(label: event.map(Self.eventLabel) ?? "unknown", outcome: outcome)
    }

    private func countWebhook(label: String, outcome: WebhookOutcome) {
        let key = Pair(a: label, b: outcome.rawValue)
        counter(&webhooks, key, .webhooks, [label, outcome.rawValue]).increment()
    }

    /// `callflow_webhook_handling_seconds`: a webhook's arrival to its reply (verify, decode, step, commit).
    public func webhookHandled(seconds: Double) { webhookHandlingTimer.recordSeconds(seconds) }

    /// `callflow_webhook_to_command_seconds`: a webhook's arrival to its commands' hand-off.
    public func webhookToCommand(seconds: Double) { webhookToCommandTimer.recordSeconds(seconds) }

    /// `callflow_commands_total` and `callflow_command_duration_seconds`: a command's final answer,
    /// `seconds` after its first attempt.
    public func commandFinished(action: String, result: CommandResult, seconds: Double) {
        let key = Pair(a: action, b: result.rawValue)
        counter(&commands, key, .commands, [action, result.rawValue]).increment()
        let timer: CoreMetrics.Timer
        if let known = commandDurations[key] {
            timer = known
        } else {
            timer = CoreMetrics.Timer(
                label: Family.commandDuration.rawValue, dimensions: dimensions(.commandDuration, [action, result.rawValue]),
                factory: factory)
            commandDurations[key] = timer
        }
        timer.recordSeconds(seconds)
    }

    /// `callflow_commands_total{result="dropped"}`: not sent, because an earlier command of its
    /// step failed or the call is gone.
    public func commandDropped(action: String) {
        counter(&commands, Pair(a: action, b: "dropped"), .commands, [action, "dropped"]).increment()
    }

    /// `callflow_command_retries_total`.
    public func commandRetried(action: String) {
        counter(&retries, action, .commandRetries, [action]).increment()
    }

    /// `callflow_node_entries_total`.
    public func nodeEntered(flow: String, node: String) {
        counter(&nodeEntries, Pair(a: flow, b: node), .nodeEntries, [flow, node]).increment()
    }

    /// `callflow_node_exits_total`: `outcome` is the edge taken (`goto`, `hangup`, an option …).
    public func nodeExited(flow: String, node: String, outcome: String) {
        counter(&nodeExits, Triple(a: flow, b: node, c: outcome), .nodeExits, [flow, node, outcome]).increment()
    }

    /// `callflow_calls_total`.
    public func call(_ event: CallEvent) {
        counter(&calls, event, .calls, [event.rawValue]).increment()
    }

    /// `callflow_accept_failures_total`.
    public func acceptFailed() { acceptFailures.increment() }

    /// `callflow_store_errors_total`.
    public func storeError() { storeErrors.increment() }

    /// `callflow_store_conflicts_total`.
    public func storeConflict() { storeConflicts.increment() }

    /// `callflow_store_commit_seconds`.
    public func storeCommit(seconds: Double) { storeCommitTimer.recordSeconds(seconds) }

    /// The handle of one label set: made (through the factory, which takes the registry's lock) the
    /// first time, then found with one dictionary lookup. `values` is an autoclosure so that a hit
    /// allocates no array.
    private func counter<Key: Hashable>(
        _ cache: inout [Key: CoreMetrics.Counter], _ key: Key, _ family: Family,
        _ values: @autoclosure () -> [String]
    ) -> CoreMetrics.Counter {
        if let known = cache[key] { return known }
        let made = CoreMetrics.Counter(label: family.rawValue, dimensions: dimensions(family, values()), factory: factory)
        cache[key] = made
        return made
    }

    private func dimensions(_ family: Family, _ values: [String]) -> [(String, String)] {
        Array(zip(family.labelNames, values))
    }

    // MARK: Read at scrape time

    /// A gauge read at scrape time. `name` is a constant of the caller's, never one of `Family`'s.
    public func gauge(_ name: String, _ help: String, _ read: @escaping () -> Double) {
        guard Family(rawValue: name) == nil else { return assertionFailure("\(name) is a typed family") }
        gauges.append((registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help)), read))
    }

    /// A counter without labels whose total is kept elsewhere and read at scrape time
    /// (`callflow_dedupe_evicted_early_total`: the engine's dedupe window counts its evictions).
    public func counter(_ name: String, _ help: String, read: @escaping () -> Double) {
        guard Family(rawValue: name) == nil else { return assertionFailure("\(name) is a typed family") }
        readCounters.append((registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help)), read))
    }

    /// The exposition (text format 0.0.4) as swift-prometheus writes it (bounds, sums and gauges as
    /// floats: `le="1.0"`, `callflow_active_calls 0.0`), stable in order: the registry emits in hash
    /// order, which changes from process to process, so families are sorted by name and series by
    /// their labels.
    public func render() -> String {
        for (gauge, read) in gauges { gauge.set(to: read()) }
        for (counter, read) in readCounters {
            // A Prometheus counter stops the process on a negative increment; a total read from
            // elsewhere that is not a count is left out rather than trusted.
            let total = read()
            guard total.isFinite, total >= 0 else { continue }
            counter.reset()
            if let whole = Int64(exactly: total) { counter.increment(by: whole) } else { counter.increment(by: total) }
        }
        return Self.sorted(registry.emitToString())
    }

    /// Families by name, and within one its series by their first line (a histogram's series is
    /// its run of `_bucket` lines up to its `_count`). Runs at scrape time, not per webhook.
    static func sorted(_ exposition: String) -> String {
        struct Block {
            var name: Substring
            var histogram = false
            var header: [Substring] = []
            var series: [[Substring]] = []
            var open = false
        }
        var blocks: [Block] = []
        for line in exposition.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).prefix { $0 != " " }
                if blocks.last?.name != name { blocks.append(Block(name: name)) }
                blocks[blocks.count - 1].header.append(line)
                if line.hasPrefix("# TYPE "), line.hasSuffix(" histogram") { blocks[blocks.count - 1].histogram = true }
                continue
            }
            guard !blocks.isEmpty else { continue }
            var block = blocks.removeLast()
            if block.open { block.series[block.series.count - 1].append(line) } else { block.series.append([line]) }
            block.open = block.histogram && !line.hasPrefix(block.name + "_count")
            blocks.append(block)
        }
        var out = ""
        for block in blocks.sorted(by: { $0.name < $1.name }) {
            for line in block.header { out += line; out += "\n" }
            for series in block.series.sorted(by: { $0[0] < $1[0] }) {
                for line in series { out += line; out += "\n" }
            }
        }
        return out
    }

    /// Event types outside the documented set are counted as `other` (bounded cardinality).
    public static func eventLabel(_ type: String) -> String {
        WebhookEvent.documentedTypes.contains(type) ? type : "other"
    }

    // MARK: The string API, for the call sites not converted yet
}

/// The swift-metrics factory over the registry: registers each family with the help text and
/// buckets `Metrics.Family` gives it (swift-metrics carries neither). A label no family has is
/// registered without help, with the latency buckets, so another library's metrics made through
/// this factory still render.
struct PrometheusFamilies: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    static let durationBuckets = Metrics.latencyBuckets.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: Metrics.Family(rawValue: label)?.help ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: Metrics.latencyBuckets)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: Self.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}

import CallflowCore

/// Counters, gauges and histograms in the Prometheus text format, written directly (no
/// dependency). Loop-confined. Label values come from bounded sets — event types Telnyx
/// documents, action names, flow and node ids — never from caller input.
public final class Metrics {
    struct Family {
        var help: String
        var type: String
        var series: [[String]: Double] = [:]
        var labelNames: [String]
    }

    struct HistogramSeries {
        var buckets: [Double]
        var counts: [Int]
        var sum = 0.0
        var count = 0

        /// Cumulative buckets: every bucket from the first that holds `value` counts it.
        mutating func record(_ value: Double, firstBucket: Int?) {
            if let first = firstBucket { for i in first..<counts.count { counts[i] += 1 } }
            sum += value
            count += 1
        }
    }

    public static let latencyBuckets = [0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5, 1, 2.5, 5, 10]

    private var families: [String: Family] = [:]
    private var histograms: [String: (help: String, labelNames: [String], series: [[String]: HistogramSeries])] = [:]
    private var gauges: [(name: String, help: String, read: () -> Double)] = []
    private var readCounters: [(name: String, help: String, read: () -> Double)] = []

    public init() {
        counter("callflow_webhooks_total", "Webhooks received, by event type and outcome.", ["event_type", "outcome"])
        counter("callflow_commands_total", "Commands finished, by action and result.", ["action", "result"])
        counter("callflow_command_retries_total", "Command attempts that were retried.", ["action"])
        counter("callflow_node_entries_total", "Times a node was entered.", ["flow", "node"])
        counter("callflow_node_exits_total", "Times a node was left, by outcome (the funnel: where callers drop off).",
                ["flow", "node", "outcome"])
        counter("callflow_calls_total", "Calls started and ended.", ["event"])
        histogram("callflow_command_duration_seconds", "Time from a command's first attempt to its final answer.", ["action", "result"])
        counter("callflow_accept_failures_total", "accept() calls that failed (no file descriptor left); accepting pauses and retries.", [])
        counter("callflow_store_errors_total", "Store commits that failed (webhooks answered 503 meanwhile).", [])
        counter("callflow_store_conflicts_total", "Shared state: commits refused because another instance changed the call first (the input is re-run).", [])
        histogram("callflow_store_commit_seconds", "Time of one group commit of the store (shared state: of one input's commit round trip).", [])
        histogram("callflow_webhook_to_command_seconds",
                  "From a webhook's arrival to the commands it caused being handed to the Telnyx client (after their commit).", [])
        histogram("callflow_webhook_handling_seconds", "Time to verify, decode and apply one webhook (until commands are queued).", [])
    }

    func counter(_ name: String, _ help: String, _ labels: [String]) {
        families[name] = Family(help: help, type: "counter", labelNames: labels)
    }

    func histogram(_ name: String, _ help: String, _ labels: [String]) {
        histograms[name] = (help, labels, [:])
    }

    /// A gauge read at scrape time.
    public func gauge(_ name: String, _ help: String, _ read: @escaping () -> Double) {
        gauges.append((name, help, read))
    }

    /// A counter without labels whose total is kept elsewhere and read at scrape time
    /// (`callflow_dedupe_evicted_early_total`: the engine's dedupe window counts its evictions).
    public func counter(_ name: String, _ help: String, read: @escaping () -> Double) {
        readCounters.append((name, help, read))
    }

    public func increment(_ name: String, _ labels: [String] = [], by value: Double = 1) {
        families[name]?.series[labels, default: 0] += value
    }

    /// Updates in place through one lookup of the family and one of the series: copying the
    /// family out and back would copy its series dictionary on every observation (copy-on-write),
    /// and every extra subscript hashes the name and labels again (both showed in profiles).
    public func observe(_ name: String, _ labels: [String] = [], _ seconds: Double) {
        let bucket = Self.latencyBuckets.firstIndex { seconds <= $0 }
        histograms[name]?.series[labels, default: Self.emptySeries].record(seconds, firstBucket: bucket)
    }

    private static let emptySeries = HistogramSeries(buckets: latencyBuckets, counts: Array(repeating: 0, count: latencyBuckets.count))

    public func value(_ name: String, _ labels: [String] = []) -> Double {
        if let read = readCounters.first(where: { $0.name == name })?.read { return read() }
        return families[name]?.series[labels] ?? 0
    }

    /// The exposition, stable in order (families and series sorted).
    public func render() -> String {
        var out = ""
        for name in families.keys.sorted() {
            let f = families[name]!
            out += "# HELP \(name) \(f.help)\n# TYPE \(name) counter\n"
            for labels in f.series.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                out += "\(name)\(Self.labels(f.labelNames, labels)) \(Self.number(f.series[labels]!))\n"
            }
        }
        for (name, help, read) in readCounters.sorted(by: { $0.name < $1.name }) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(Self.number(read()))\n"
        }
        for (name, help, read) in gauges.sorted(by: { $0.name < $1.name }) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(Self.number(read()))\n"
        }
        for name in histograms.keys.sorted() {
            let h = histograms[name]!
            out += "# HELP \(name) \(h.help)\n# TYPE \(name) histogram\n"
            for labels in h.series.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let s = h.series[labels]!
                for (i, bound) in s.buckets.enumerated() {
                    out += "\(name)_bucket\(Self.labels(h.labelNames + ["le"], labels + [Self.number(bound)])) \(s.counts[i])\n"
                }
                out += "\(name)_bucket\(Self.labels(h.labelNames + ["le"], labels + ["+Inf"])) \(s.count)\n"
                out += "\(name)_sum\(Self.labels(h.labelNames, labels)) \(Self.number(s.sum))\n"
                out += "\(name)_count\(Self.labels(h.labelNames, labels)) \(s.count)\n"
            }
        }
        return out
    }

    public static func labels(_ names: [String], _ values: [String]) -> String {
        guard !names.isEmpty else { return "" }
        let pairs = zip(names, values).map { name, value -> String in
            var escaped = ""
            for c in value {
                switch c {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                default: escaped.append(c)
                }
            }
            return "\(name)=\"\(escaped)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    static func number(_ v: Double) -> String {
        if v.rounded() == v && abs(v) < 1e15 { return String(Int(v)) }
        return "\(v)"
    }

    /// Event types outside the documented set are counted as `other` (bounded cardinality).
    public static func eventLabel(_ type: String) -> String {
        WebhookEvent.documentedTypes.contains(type) ? type : "other"
    }
}

import Foundation

/// How many CPUs this process can use: its affinity (`taskset`, `docker --cpuset-cpus`), capped by
/// a cgroup CPU quota (`docker --cpus`; v2's `cpu.max`, or v1's `cpu.cfs_quota_us` and period on
/// older hosts). Decides whether the store's commits get a thread of their own: on one CPU the
/// hand-off costs more than it frees (bench/RESULTS.md, session 5).
package enum AvailableCPUs {
    package static func count(
        status: String? = read("/proc/self/status"), cpuMax: String? = read("/sys/fs/cgroup/cpu.max") ?? cgroupV1CPUMax()
    ) -> Int {
        var cpus = status.flatMap(allowed(inStatus:)) ?? ProcessInfo.processInfo.activeProcessorCount
        if let quota = cpuMax.flatMap(quota(inCPUMax:)) { cpus = min(cpus, quota) }
        return max(1, cpus)
    }

    /// The CPUs in `Cpus_allowed_list:` of /proc/self/status ("0-3,8,10-11").
    package static func allowed(inStatus status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        var total = 0
        for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1: guard bounds[0] != nil else { return nil }; total += 1
            case 2:
                guard let low = bounds[0], let high = bounds[1], high >= low else { return nil }
                total += high - low + 1
            default: return nil
            }
        }
        return total > 0 ? total : nil
    }

    /// Whole CPUs granted by a cgroup v2 `cpu.max` ("150000 100000" → 1; "max 100000" → none).
    package static func quota(inCPUMax text: String) -> Int? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, let quota = Double(fields[0]), let period = Double(fields[1]), period > 0 else { return nil }
        return max(1, Int(quota / period))
    }

    /// cgroup v1's quota and period as a v2 `cpu.max` line (a quota of -1 means none: "max").
    package static func cgroupV1CPUMax(
        quota: String? = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        period: String? = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    ) -> String? {
        guard let quota = quota?.trimmingCharacters(in: .whitespacesAndNewlines),
            let period = period?.trimmingCharacters(in: .whitespacesAndNewlines)
        else { return nil }
        return "\(quota == "-1" ? "max" : quota) \(period)"
    }

    package static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
}

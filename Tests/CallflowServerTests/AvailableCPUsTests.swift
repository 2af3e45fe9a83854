import Testing

@testable import CallflowRuntime

/// The CPU count that decides whether page-cache commits get a thread of their own.
struct AvailableCPUsTests {
    @Test(arguments: [
        ("Name:\tcallflow\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed:\t1\n", 2),
        ("Cpus_allowed_list:\t1\n", 1),
        ("Cpus_allowed_list:\t0-3,8,10-11\n", 7),
    ])
    func affinityFromProcStatus(status: String, cpus: Int) {
        #expect(AvailableCPUs.allowed(inStatus: status) == cpus)
        #expect(AvailableCPUs.count(status: status, cpuMax: nil) == cpus)
    }

    @Test(arguments: ["", "Name:\tx\n", "Cpus_allowed_list:\t3-1\n", "Cpus_allowed_list:\tx\n"])
    func unreadableStatusFallsBack(status: String) {
        #expect(AvailableCPUs.allowed(inStatus: status) == nil)
        #expect(AvailableCPUs.count(status: status, cpuMax: nil) >= 1, "falls back to the processor count")
    }

    @Test(
        arguments: [("max 100000\n", nil), ("100000 100000\n", 1), ("150000 100000\n", 1), ("400000 100000", 4), ("50000 100000", 1), ("junk", nil)]
            as [(String, Int?)])
    func cgroupQuota(cpuMax: String, quota: Int?) {
        #expect(AvailableCPUs.quota(inCPUMax: cpuMax) == quota)
    }

    @Test func aQuotaCapsTheAffinity() {
        #expect(AvailableCPUs.count(status: "Cpus_allowed_list:\t0-7\n", cpuMax: "100000 100000\n") == 1)
        #expect(AvailableCPUs.count(status: "Cpus_allowed_list:\t0-1\n", cpuMax: "max 100000\n") == 2)
    }

    @Test func cgroupV1QuotaReadsLikeV2() {
        #expect(AvailableCPUs.cgroupV1CPUMax(quota: "200000\n", period: "100000\n") == "200000 100000")
        #expect(AvailableCPUs.cgroupV1CPUMax(quota: "-1\n", period: "100000\n") == "max 100000")
        #expect(AvailableCPUs.cgroupV1CPUMax(quota: nil, period: "100000") == nil)
        #expect(AvailableCPUs.quota(inCPUMax: AvailableCPUs.cgroupV1CPUMax(quota: "-1", period: "100000") ?? "") == nil)
        #expect(AvailableCPUs.quota(inCPUMax: AvailableCPUs.cgroupV1CPUMax(quota: "100000", period: "100000") ?? "") == 1)
    }
}

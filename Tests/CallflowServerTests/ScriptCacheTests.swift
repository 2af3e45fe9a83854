import CallflowLoop
import CallflowRuntime
import Redis
import Testing

/// The shared scripts go to Redis once, then by digest; a Redis that forgot them still runs them.
@Suite(.serialized) struct ScriptCacheTests {
    @Test func scriptsRunByDigestAndSurviveRedisForgettingThem() throws {
        let redis = try RedisProcess()
        defer { redis.stop() }
        let admin = try RedisStartupConnection(url: RedisURL(redis.url))
        _ = try admin.command(["HSET", "t:call:c1", "s", "state-of-c1"])
        let loop = try EventLoop()
        let connection = RedisConnection(loop: loop, url: try RedisURL(redis.url))
        let cache = ScriptCache(redis: connection)
        var answers: [String] = []
        // Four calls one after the other: the first as EVAL (its digest is being learnt), the second
        // by digest, then Redis forgets its scripts, and the third and fourth still answer.
        func call(_ n: Int) {
            if n == 2 { _ = try? admin.command(["SCRIPT", "FLUSH"]) }
            guard n < 4 else { return loop.handle.stop() }
            cache.eval(.document, ["0", "t:", "c1"]) { result in
                switch result {
                case .success(let value): answers.append(String(decoding: value.array?.first?.bytes ?? [], as: UTF8.self))
                case .failure(let error): answers.append("failed: \(error)")
                }
                call(n + 1)
            }
        }
        _ = try loop.schedule(afterMilliseconds: 0) { call(0) }
        _ = try loop.schedule(afterMilliseconds: 10_000) { loop.handle.stop() }  // a hung test fails, not hangs
        try loop.run()
        #expect(answers == Array(repeating: "state-of-c1", count: 4))
        #expect(cache.reloads == 1, "only the first call after the flush went again as EVAL")
        let stats = String(decoding: try admin.command(["INFO", "commandstats"]).bytes ?? [], as: UTF8.self)
        func calls(_ command: String) -> Int {
            guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
                let field = line.split(separator: ",").first?.split(separator: "=").last
            else { return 0 }
            return Int(field) ?? 0
        }
        #expect(calls("evalsha") == 3, "calls 2, 3 (refused: NOSCRIPT) and 4 went by digest")
        #expect(calls("eval") == 2, "call 1, and call 3 again after the flush")
    }
}

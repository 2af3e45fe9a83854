import Redis

/// Calls the shared scripts by their digest in Redis's script cache (`EVALSHA`) rather than
/// sending their text with every call (`EVAL`).
///
/// Why: the load, commit and sent scripts are 7 KB of Lua between them, and every webhook ran all
/// three, so each webhook sent Redis 7 KB it already had, and Redis hashed it again to find its
/// cached copy (bench/scale.sh: 9.1 KB on the wire and 268 µs of Redis CPU a webhook with EVAL).
///
/// A script's digest is learnt from `SCRIPT LOAD` the first time it is needed; until the answer
/// comes, that script goes out as EVAL. Redis forgets its cache on a restart, a failover to a
/// replica that never ran the script, or `SCRIPT FLUSH`: the call then fails with NOSCRIPT
/// without running, so it is sent again as EVAL, which caches the script once more. A script runs
/// all or nothing and a commit checks the versions it loaded, so the re-sent call may come after
/// others sent meanwhile without harm: at worst it meets a conflict, and the input is stepped again.
///
/// Loop-confined, like the connection.
package final class ScriptCache {
    /// The scripts of `SharedScripts`, as the cache knows them.
    package enum Script: Int, CaseIterable, Sendable {
        case load, commit, sent, document, claim

        var text: String {
            switch self {
            case .load: SharedScripts.load
            case .commit: SharedScripts.commit
            case .sent: SharedScripts.sent
            case .document: SharedScripts.document
            case .claim: SharedScripts.claim
            }
        }
    }

    private let redis: RedisConnection
    private let texts: [[UInt8]] = Script.allCases.map { Array($0.text.utf8) }
    private var digests: [[UInt8]?] = Array(repeating: nil, count: Script.allCases.count)
    private var asked: Set<Int> = []
    private static let evalCommand = Array("EVAL".utf8)
    private static let evalshaCommand = Array("EVALSHA".utf8)
    /// Calls re-sent as EVAL after a NOSCRIPT (tests read it).
    package private(set) var reloads = 0

    package init(redis: RedisConnection) { self.redis = redis }

    /// Runs `script` with `args` (what follows the script in EVAL: numkeys, then the arguments).
    package func eval(_ script: Script, _ args: [[UInt8]], reply: @escaping (Result<RedisValue, RedisError>) -> Void) {
        let i = script.rawValue
        guard let digest = digests[i] else {
            learn(script)
            return redis.send([Self.evalCommand, texts[i]] + args, reply: reply)
        }
        redis.send([Self.evalshaCommand, digest] + args) { [weak self] result in
            if case .failure(.server(let message)) = result, message.hasPrefix("NOSCRIPT"), let self {
                self.reloads += 1
                self.redis.send([Self.evalCommand, self.texts[i]] + args, reply: reply)
                return
            }
            reply(result)
        }
    }

    package func eval(_ script: Script, _ args: [String], reply: @escaping (Result<RedisValue, RedisError>) -> Void) {
        eval(script, args.map { Array($0.utf8) }, reply: reply)
    }

    private func learn(_ script: Script) {
        let i = script.rawValue
        guard !asked.contains(i) else { return }
        asked.insert(i)
        redis.send([Array("SCRIPT".utf8), Array("LOAD".utf8), texts[i]]) { [weak self] result in
            guard let self else { return }
            if case .success(.bulk(let digest)) = result {
                self.digests[i] = digest
            } else {
                self.asked.remove(i)  // asked again with the next call
            }
        }
    }
}

import CallflowServer
import Foundation
import Redis
import Testing

/// One store under a server test: a fresh SQLite file, or a throwaway `redis-server` with a prefix of
/// its own, written into the test's config. The contact-center drivers (`ConferenceSharedTests`,
/// `ContactCenterRestartTests`) run the same scenario on each kind through it.
struct StoreUnderTest {
    enum Kind: String, CaseIterable, Sendable { case sqlite, redis }

    let kind: Kind
    /// The SQLite file (with SQLite; removed with its -wal and -shm by `remove`).
    let db: String
    let redis: RedisProcess?
    /// A plain connection to the Redis the servers share, for the test's own reads (nil with SQLite).
    let shared: RedisStartupConnection?
    let prefix: String

    /// - Parameter name: part of the file's name and of the Redis prefix, to tell the tests' stores apart.
    init(_ kind: Kind, name: String, config: inout CallflowConfig) throws {
        self.kind = kind
        db = FileManager.default.temporaryDirectory.appendingPathComponent("callflow-\(name)-\(UUID()).db").path
        switch kind {
        case .sqlite:
            config.store.kind = .sqlite
            config.store.path = db
            redis = nil
            shared = nil
        case .redis:
            let redis = try RedisProcess()
            self.redis = redis
            config.store.kind = .redis
            config.store.redisURL = redis.url
            config.store.redisPrefix = "\(name)\(UUID().uuidString.prefix(8)):"
            shared = try RedisStartupConnection(url: RedisURL(redis.url))
        }
        prefix = config.store.redisPrefix
    }

    /// Every command chosen so far was sent and answered by the servers on `ports` (their
    /// `callflow_outbox_depth` is 0) and, shared, the Redis outbox is empty.
    func settled(ports: [Int]) throws -> Bool {
        for port in ports {
            let metrics = try TestHTTP.request(port: port, method: "GET", path: "/metrics").body
            let depth = metrics.split(separator: "\n").first { $0.hasPrefix("callflow_outbox_depth ") }
                .flatMap { Double($0.split(separator: " ")[1]) }
            guard depth == 0 else { return false }
        }
        guard let shared else { return true }
        return try shared.command(["HLEN", "\(prefix)outbox"]) == .integer(0)
    }

    /// The shared hash `name` (`agents`, `conferences`) as a dictionary; nil with SQLite.
    func hash(_ name: String) throws -> [String: String]? { try shared?.hash("\(prefix)\(name)") }

    func remove() {
        redis?.stop()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
    }
}

extension RedisStartupConnection {
    /// `HGETALL key` as a dictionary.
    func hash(_ key: String) throws -> [String: String] {
        let flat = try command(["HGETALL", key]).array ?? []
        var out: [String: String] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            out[String(decoding: flat[i].bytes ?? [], as: UTF8.self)] = String(decoding: flat[i + 1].bytes ?? [], as: UTF8.self)
        }
        return out
    }
}

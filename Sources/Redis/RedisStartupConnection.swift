import CRedis

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking connection for startup, before the loop serves anything: checks Redis is there
/// (a clear error instead of a server that answers 503 from its first webhook) and reads what
/// the server needs to begin.
public final class RedisStartupConnection {
    private let context: UnsafeMutablePointer<redisContext>

    public init(url: RedisURL, timeoutMs: Int = 2000) throws(RedisError) {
        let tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        guard let c = redisConnectWithTimeout(url.host, Int32(url.port), tv) else {
            throw .unavailable("cannot connect to \(url): out of memory")
        }
        if c.pointee.err != 0 {
            let why = RedisConnection.text(of: c.pointee.errstr)
            redisFree(c)
            throw .unavailable("cannot connect to \(url): \(why)")
        }
        context = c
        _ = redisSetTimeout(c, tv)
        for command in url.handshake { _ = try self.command(command) }
        _ = try self.command(["PING"])
    }

    deinit { redisFree(context) }

    public func command(_ args: [String]) throws(RedisError) -> RedisValue {
        try command(args.map { Array($0.utf8) })
    }

    public func command(_ args: [[UInt8]]) throws(RedisError) -> RedisValue {
        let context = self.context
        let raw = RedisConnection.withArgv(args) { argc, argv, lengths in redisCommandArgv(context, argc, argv, lengths) }
        guard let raw else {
            let why = RedisConnection.text(of: context.pointee.errstr)
            throw .unavailable(why.isEmpty ? "no reply" : why)
        }
        defer { freeReplyObject(raw) }
        return try RedisConnection.convert(raw.assumingMemoryBound(to: redisReply.self)).get()
    }
}

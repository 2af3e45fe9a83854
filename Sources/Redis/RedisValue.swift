/// A reply, copied out of hiredis' reply object.
public enum RedisValue: Sendable, Equatable {
    case bulk([UInt8])
    case integer(Int64)
    case array([RedisValue])
    case null
    case status(String)

    public var bytes: [UInt8]? {
        if case .bulk(let b) = self { return b }
        return nil
    }
    public var int: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }
    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// Why a Redis command produced no value.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `store.redis_url` cannot be used.
    case badURL(String)
    /// Not connected, or the connection broke before the reply came.
    case unavailable(String)
    /// Redis answered with an error reply.
    case server(String)

    public var description: String {
        switch self {
        case .badURL(let why): return "bad Redis URL: \(why)"
        case .unavailable(let why): return "Redis unavailable: \(why)"
        case .server(let message): return "Redis error: \(message)"
        }
    }
}

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int

    /// Parses `text`; the error says which part is wrong.
    public init(_ text: String) throws(RedisError) {
        guard text.hasPrefix("redis://") else {
            if text.hasPrefix("rediss://") {
                throw .badURL("\(text): TLS (rediss://) is not supported; reach Redis over a private network or a TLS tunnel")
            }
            throw .badURL("\(text): expected redis://host[:port][/db]")
        }
        var rest = Substring(text.dropFirst("redis://".count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw .badURL("\(text): database \"\(db)\" is not a number") }
                database = n
            }
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let u = credentials[..<colon]
                user = u.isEmpty ? nil : String(u)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        var port = 6379
        var host = String(rest)
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw .badURL("\(text): port \"\(rest[rest.index(after: colon)...])\" is not a port number")
            }
            port = p
            host = String(rest[..<colon])
        }
        guard !host.isEmpty else { throw .badURL("\(text): no host") }
        self.host = host
        self.port = port
        self.database = database
    }

    /// The URL without its password (for logs and errors).
    public var description: String {
        let auth = password == nil ? "" : "\(user ?? ""):***@"
        return "redis://\(auth)\(host):\(port)/\(database)"
    }

    /// Commands that prepare a new connection: AUTH, then SELECT.
    var handshake: [[String]] {
        var commands: [[String]] = []
        if let password { commands.append(user.map { ["AUTH", $0, password] } ?? ["AUTH", password]) }
        if database != 0 { commands.append(["SELECT", String(database)]) }
        return commands
    }
}

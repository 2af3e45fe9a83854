/// How many inbound connections the server takes at once, given the file limit.
///
/// Every connection is a file descriptor, and so are the SQLite files, libcurl's connections to
/// Telnyx and the backends (up to 16 per host) and Redis. Past the limit accept() fails with
/// EMFILE, and so would the store and the command client, so the default leaves room for them:
/// 4,096, or the limit less a reserve (a quarter of it, at most 256) when that is smaller.
public struct ConnectionBudget: Sendable, Equatable {
    public static let defaultMax = 4096
    public var maxConnections: Int
    /// Set when a configured `server.max_connections` does not fit under the file limit.
    public var warning: String?

    public static func reserve(forLimit limit: Int) -> Int { min(256, max(8, limit / 4)) }

    public init(configured: Int?, fileLimit: Int?) {
        guard let fileLimit else {
            maxConnections = configured ?? Self.defaultMax
            warning = nil
            return
        }
        let room = max(1, fileLimit - Self.reserve(forLimit: fileLimit))
        if let configured {
            maxConnections = configured
            warning =
                configured > room
                ? "server.max_connections is \(configured) but the file limit (ulimit -n) is \(fileLimit): past about \(room) connections "
                    + "accept() fails and new connections wait; raise the limit (docker run --ulimit nofile=N) or lower max_connections"
                : nil
        } else {
            maxConnections = min(Self.defaultMax, room)
            warning = nil
        }
    }
}

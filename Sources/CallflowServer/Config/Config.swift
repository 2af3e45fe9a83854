import CallflowCore
import CallflowRuntime
import Logging

/// Everything `serve` needs, decoded once and checked. Defaults are the embedded ones, so the
/// server runs with no file at all (README's first command).
public struct CallflowConfig: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        public var host = "0.0.0.0"
        public var port = 8080
        public var webhookPath = "/webhooks/telnyx"
        public var maxBodyBytes = 1 << 20
        public var maxHeaderBytes = 16 << 10
        public var timeoutSecs = 10
        /// Open connections the server accepts at once; nil: 4096, or fewer when the process's file
        /// limit (RLIMIT_NOFILE) leaves less room (see `ConnectionBudget`).
        public var maxConnections: Int? = nil
        /// On SIGTERM/SIGINT, how long to wait for queued commands to reach Telnyx before exiting.
        public var shutdownGraceSecs = 10
        /// Bearer token of the control API (`/v1/*`, `/admin/*`); the API is off when unset.
        public var adminToken: String? = nil
    }
    public struct Telnyx: Sendable, Equatable {
        public var apiBaseURL = "https://api.telnyx.com/v2"
        public var apiKey: String? = nil
        public var publicKey: String? = nil
        public var signatureToleranceSecs = 300
        /// Deadline of one command attempt.
        public var commandTimeoutMs = 10_000
        /// Attempts per command, the first included.
        public var maxAttempts = 5
        /// No retry starts later than this after the first attempt.
        public var retryDeadlineMs = 60_000
    }
    public struct Store: Sendable, Equatable {
        /// Where live call state is kept. Decoded once by `ConfigLoader`, so a misspelt kind is a
        /// startup error rather than a `switch` that falls through to a default.
        public enum Kind: String, Sendable, CaseIterable {
            /// Durable, the default.
            case sqlite
            /// Tests and `dev`; lost on restart.
            case memory
            /// Several instances sharing state.
            case redis
        }
        /// SQLite `synchronous`.
        /// `normal` or `full`: the SQLite store's own setting (`SQLiteCallStore.Synchronous`).
        public typealias Synchronous = SQLiteCallStore.Synchronous
        public var kind = Kind.sqlite
        public var path = "callflow.db"
        public var synchronous = Synchronous.normal
        public var redisURL: String? = nil
        /// Prefix of every Redis key (several deployments can share one Redis).
        public var redisPrefix = "callflow:"
        /// How long finished calls' traces are kept.
        public var traceRetentionHours = 72
        /// Ceiling in bytes of the webhook ids remembered in memory for the dedupe hour (20 bytes an
        /// id); at the ceiling the oldest ids are forgotten early, counted in
        /// `callflow_dedupe_evicted_early_total`. Not used with `redis` (the ids live in Redis).
        public var dedupeMaxBytes = DedupeWindow.defaultMaxBytes
    }
    public struct HTTPNodes: Sendable, Equatable {
        /// Larger responses from your backend fail the `http` node (on_error).
        public var maxResponseBytes = 1 << 20
    }
    public struct Flows: Sendable, Equatable {
        public var dir = "flows"
        /// Called number (E.164) → flow name.
        public var routes: [String: String] = [:]
        public var defaultFlow: String? = nil
    }
    public struct Log: Sendable, Equatable {
        /// swift-log's own levels (`trace` … `critical`), so no string is mapped later.
        public var level = Logger.Level.info
        public var format = CallflowLogHandler.Format.json
    }

    public var server = Server()
    public var telnyx = Telnyx()
    public var flows = Flows()
    public var log = Log()
    public var http = HTTPNodes()
    public var store = Store()

    public init() {}
}

/// One thing wrong with the configuration; `key` is the dotted path (`server.port`).
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String
    public var description: String { key.isEmpty ? message : "\(key): \(message)" }
}

/// Why the configuration cannot be used. `serve` prints every problem and exits.
public enum ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config file could not be read.
    case unreadable(path: String, reason: String)
    /// The config file is not JSON.
    case invalidJSON(path: String, JSONParseError)
    /// The file parsed, but keys are unknown, mistyped or out of range.
    case invalid(path: String, [ConfigProblem])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read config: \(reason)"
        case .invalidJSON(let path, let e): return "\(path): \(e)"
        case .invalid(let path, let problems):
            return problems.map { "\(path): \($0)" }.joined(separator: "\n")
        }
    }
}

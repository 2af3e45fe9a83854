import CallflowCore
import Foundation
import Logging
import Redis

/// Reads `config.json` (or none) and the environment into a checked `CallflowConfig`.
///
/// Strict on purpose: an unknown key is almost always a typo of a real one ("webhok_path"), and a
/// silently ignored typo is an outage nobody can explain, so it is an error that names the key and
/// suggests the nearest real one.
public enum ConfigLoader {
    /// Loads `path` (or `CALLFLOW_CONFIG`, or nothing) and applies environment overrides, then
    /// makes `flows.dir` and `store.path` absolute (see `resolvePaths`).
    public static func load(
        path: String?, environment: [String: String], workingDirectory: String? = nil
    ) throws(ConfigError)
        -> CallflowConfig
    {
        let file = path ?? environment["CALLFLOW_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let cwd = workingDirectory ?? FileManager.default.currentDirectoryPath
        var config = CallflowConfig()
        var configFolder = cwd
        if let file {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: absolute(file, against: cwd))) } catch {
                throw .unreadable(path: file, reason: (error as NSError).localizedDescription)
            }
            let root: JSONValue
            do { root = try JSONParser.parse(Array(data)) } catch { throw .invalidJSON(path: file, error) }
            config = try decode(root, path: file)
            configFolder = (absolute(file, against: cwd) as NSString).deletingLastPathComponent
        }
        config = try applyEnvironment(config, environment)
        return resolvePaths(
            config, configFolder: configFolder, dataDir: environment["CALLFLOW_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 },
            workingDirectory: cwd)
    }

    /// Relative paths in a config file mean "beside this file", wherever the server is started
    /// from: `flows.dir: "flows"` in `/etc/callflow/config.json` is `/etc/callflow/flows`. Without a
    /// file they are relative to the working directory.
    ///
    /// `store.path` is data, not configuration: when `CALLFLOW_DATA_DIR` is set (the Docker image
    /// sets `/app/data`, its volume), a relative `store.path` goes there instead, so a config
    /// mounted over the image's own (`"path": "callflow.db"`, as in config.example.json) still
    /// keeps calls in the writable volume rather than in the read-only `/app`.
    static func resolvePaths(_ base: CallflowConfig, configFolder: String, dataDir: String?, workingDirectory: String) -> CallflowConfig {
        var config = base
        config.flows.dir = absolute(config.flows.dir, against: configFolder)
        let storeBase = dataDir.map { absolute($0, against: workingDirectory) } ?? configFolder
        config.store.path = absolute(config.store.path, against: storeBase)
        return config
    }

    static func absolute(_ path: String, against folder: String) -> String {
        if path.hasPrefix("/") { return (path as NSString).standardizingPath }
        return ((folder as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }

    /// Why `url` cannot be the Telnyx API base, or nil. Without a scheme libcurl would guess one
    /// (and `api.telnyx.com/v2` would go out as plain HTTP), so it is refused at startup.
    static func apiBaseURLProblem(_ url: String) -> String? {
        let lower = url.lowercased()
        guard let scheme = ["https://", "http://"].first(where: { lower.hasPrefix($0) }) else {
            let why = lower.contains("://") ? "only http and https are supported" : "the scheme is missing"
            return "expected an http(s) URL such as https://api.telnyx.com/v2, found \"\(url)\" (\(why))"
        }
        let host = url.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if host.isEmpty || host.hasPrefix(":") { return "expected an http(s) URL with a host, found \"\(url)\"" }
        if url.contains(where: { $0 == " " || $0.isNewline }) { return "must not contain spaces, found \"\(url)\"" }
        return nil
    }

    static func applyEnvironment(_ base: CallflowConfig, _ env: [String: String]) throws(ConfigError) -> CallflowConfig {
        var config = base
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let v = value("TELNYX_API_KEY") { config.telnyx.apiKey = v }
        if let v = value("TELNYX_PUBLIC_KEY") { config.telnyx.publicKey = v }
        if let v = value("TELNYX_API_BASE_URL") {
            if let problem = apiBaseURLProblem(v) {
                throw .invalid(path: "environment", [ConfigProblem(key: "TELNYX_API_BASE_URL", message: problem)])
            }
            config.telnyx.apiBaseURL = v
        }
        if let v = value("CALLFLOW_ADMIN_TOKEN") {
            guard v.count >= 16 else {
                throw .invalid(path: "environment", [ConfigProblem(key: "CALLFLOW_ADMIN_TOKEN", message: "use at least 16 characters")])
            }
            config.server.adminToken = v
        }
        if let v = value("CALLFLOW_REDIS_URL") {
            do { _ = try RedisURL(v) } catch {
                throw .invalid(path: "environment", [ConfigProblem(key: "CALLFLOW_REDIS_URL", message: "\(error)")])
            }
            config.store.redisURL = v
        }
        if let v = value("PORT") {
            guard let port = Int(v), (0...65535).contains(port) else {
                throw .invalid(path: "environment", [ConfigProblem(key: "PORT", message: "expected a port number 0-65535, found \"\(v)\"")])
            }
            config.server.port = port
        }
        return config
    }

    /// Decodes a parsed config document, collecting every problem before failing.
    public static func decode(_ root: JSONValue, path: String) throws(ConfigError) -> CallflowConfig {
        var reader = ConfigReader()
        var config = CallflowConfig()
        guard case .object(let top) = root else {
            throw .invalid(path: path, [ConfigProblem(key: "", message: "expected a JSON object at the top level")])
        }
        reader.checkKeys(top, [], allowed: ["$schema", "server", "telnyx", "flows", "log", "store", "http"])
        let server = ["server"]
        if let o = reader.section(
            top, "server",
            allowed: [
                "host", "port", "webhook_path", "max_body_bytes", "max_header_bytes", "timeout_secs", "max_connections",
                "shutdown_grace_secs", "admin_token",
            ])
        {
            if let v = reader.string(o, "host", server, required: false) { config.server.host = v }
            if let v = reader.int(o, "port", server, required: false, range: 0...65535) { config.server.port = v }
            if let v = reader.string(o, "webhook_path", server, required: false) {
                if v.hasPrefix("/") {
                    config.server.webhookPath = v
                } else {
                    reader.problem(server + ["webhook_path"], "must start with /, found \"\(v)\"")
                }
            }
            if let v = reader.int(o, "max_body_bytes", server, required: false, range: 256...(64 << 20)) { config.server.maxBodyBytes = v }
            if let v = reader.int(o, "max_header_bytes", server, required: false, range: 1024...(1 << 20)) { config.server.maxHeaderBytes = v }
            if let v = reader.int(o, "timeout_secs", server, required: false, range: 1...300) { config.server.timeoutSecs = v }
            if let v = reader.int(o, "max_connections", server, required: false, range: 1...1_000_000) { config.server.maxConnections = v }
            if let v = reader.int(o, "shutdown_grace_secs", server, required: false, range: 0...600) { config.server.shutdownGraceSecs = v }
            if let v = reader.string(o, "admin_token", server, required: false), !v.isEmpty {
                if v.count < 16 { reader.problem(server + ["admin_token"], "use at least 16 characters") } else { config.server.adminToken = v }
            }
        }
        let telnyx = ["telnyx"]
        if let o = reader.section(
            top, "telnyx",
            allowed: [
                "api_base_url", "api_key", "public_key", "signature_tolerance_secs", "command_timeout_ms",
                "max_attempts", "retry_deadline_ms",
            ])
        {
            if let v = reader.string(o, "api_base_url", telnyx, required: false) {
                if let problem = apiBaseURLProblem(v) { reader.problem(telnyx + ["api_base_url"], problem) } else { config.telnyx.apiBaseURL = v }
            }
            if let v = reader.string(o, "api_key", telnyx, required: false) { config.telnyx.apiKey = v.isEmpty ? nil : v }
            if let v = reader.string(o, "public_key", telnyx, required: false) { config.telnyx.publicKey = v.isEmpty ? nil : v }
            if let v = reader.int(o, "signature_tolerance_secs", telnyx, required: false, range: 1...86_400) {
                config.telnyx.signatureToleranceSecs = v
            }
            if let v = reader.int(o, "command_timeout_ms", telnyx, required: false, range: 100...120_000) { config.telnyx.commandTimeoutMs = v }
            if let v = reader.int(o, "max_attempts", telnyx, required: false, range: 1...20) { config.telnyx.maxAttempts = v }
            if let v = reader.int(o, "retry_deadline_ms", telnyx, required: false, range: 0...600_000) { config.telnyx.retryDeadlineMs = v }
        }
        if let o = reader.section(top, "http", allowed: ["max_response_bytes"]) {
            if let v = reader.int(o, "max_response_bytes", ["http"], required: false, range: 1024...(64 << 20)) { config.http.maxResponseBytes = v }
        }
        let flows = ["flows"]
        if let o = reader.section(top, "flows", allowed: ["dir", "routes", "default"]) {
            if let v = reader.string(o, "dir", flows, required: false) { config.flows.dir = v }
            if let v = reader.string(o, "default", flows, required: false) { config.flows.defaultFlow = v }
            if let routes = reader.object(o, "routes", flows, required: false) {
                for (number, flow) in routes.members {
                    guard E164.isValid(number) else {
                        reader.problem(flows + ["routes", number], "route key must be an E.164 number like +13125550100")
                        continue
                    }
                    guard let name = flow.stringValue, !name.isEmpty else {
                        reader.problem(flows + ["routes", number], "expected a flow name (string), found \(flow.typeName)")
                        continue
                    }
                    config.flows.routes[number] = name
                }
            }
        }
        let log = ["log"]
        if let o = reader.section(top, "log", allowed: ["level", "format"]) {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            if let v: Logger.Level = reader.choice(o, "level", log, required: false, expected: "one of \(levels)") { config.log.level = v }
            if let v: CallflowLogHandler.Format = reader.choice(o, "format", log, required: false, expected: "json or text") {
                config.log.format = v
            }
        }
        let store = ["store"]
        if let o = reader.section(
            top, "store",
            allowed: [
                "kind", "path", "synchronous", "redis_url", "redis_prefix", "trace_retention_hours",
                "dedupe_max_bytes",
            ])
        {
            if let v: CallflowConfig.Store.Kind = reader.choice(o, "kind", store, required: false, expected: "sqlite, memory or redis") {
                config.store.kind = v
            }
            if let v = reader.nonEmpty(o, "path", store, required: false) { config.store.path = v }
            if let v: CallflowConfig.Store.Synchronous = reader.choice(o, "synchronous", store, required: false, expected: "normal or full") {
                config.store.synchronous = v
            }
            if let v = reader.string(o, "redis_url", store, required: false) {
                do {
                    _ = try RedisURL(v)
                    config.store.redisURL = v
                } catch { reader.problem(store + ["redis_url"], "\(error)") }
            }
            if let v = reader.string(o, "redis_prefix", store, required: false) { config.store.redisPrefix = v }
            if let v = reader.int(o, "trace_retention_hours", store, required: false, range: 0...8760) { config.store.traceRetentionHours = v }
            if let v = reader.int(o, "dedupe_max_bytes", store, required: false, range: (1 << 20)...(1 << 40)) { config.store.dedupeMaxBytes = v }
        }
        guard reader.problems.isEmpty else { throw .invalid(path: path, reader.problems) }
        return config
    }
}

/// The config's `FieldReader`: problems named by dotted key (`server.port`), unknown keys as
/// "unknown key" (a config has no node kinds to name, unlike a flow).
private struct ConfigReader: FieldReader {
    var problems: [ConfigProblem] = []

    mutating func problem(_ path: [String], _ message: String) {
        problems.append(ConfigProblem(key: path.joined(separator: "."), message: message))
    }

    mutating func checkKeys(_ object: JSONObject, _ path: [String], allowed: [String]) {
        unknownKeys(object, path, allowed: allowed) { _ in "unknown key" }
    }

    /// A top-level section: an object when present, its keys checked.
    mutating func section(_ top: JSONObject, _ name: String, allowed: [String]) -> JSONObject? {
        guard let object = object(top, name, [], required: false) else { return nil }
        checkKeys(object, [name], allowed: allowed)
        return object
    }
}

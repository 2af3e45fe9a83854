import CallflowCore

/// One mocked response of an `http` node's request.
public struct HTTPMock: Sendable, Equatable {
    public var status: Int = 200
    public var body: JSONValue? = nil
    /// `timeout` or `connection refused`: the request fails instead.
    public var error: String? = nil
    public var delayMs: Int = 80
    public init() {}

    /// The keys a mock may have.
    static let keys = ["status", "body", "error", "delay_ms"]
}

/// The mocked backend of `http` nodes: `"METHOD URL"` → response. A scenario's `"http"`, and the
/// `--http-mock` file of `simulate` and `dev` (the whole file is the table); `simulate` and `dev`
/// answer requests through `answer(method:url:)`, so both match the same way.
public struct HTTPMocks: Sendable, Equatable {
    public var responses: [String: HTTPMock]
    /// Where the table is written, for the failure of a request it does not mock.
    public var source: String

    public init(_ responses: [String: HTTPMock] = [:], source: String = "the scenario's \"http\"") {
        self.responses = responses
        self.source = source
    }

    public subscript(key: String) -> HTTPMock? {
        get { responses[key] }
        set { responses[key] = newValue }
    }

    public var keys: [String] { responses.keys.sorted() }

    static let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    /// The key of a request: exactly its method and URL (after templates), `GET https://...`.
    public static func key(method: String, url: String) -> String { "\(method) \(url)" }

    /// How long the mocked backend takes and what it answers. A request the table does not have
    /// fails, naming the key to add and where.
    public func answer(method: String, url: String) -> (delayMs: Int, outcome: HTTPOutcome) {
        let key = Self.key(method: method, url: url)
        guard let mock = responses[key] else { return (80, .failed("no mock for \"\(key)\" (add it to \(source))")) }
        if let error = mock.error { return (mock.delayMs, .failed(error)) }
        return (mock.delayMs, .response(status: mock.status, body: mock.body.map(\.jsonBytes) ?? []))
    }

    /// Why `key` is not `"METHOD URL"`, or nil.
    static func badKey(_ key: String) -> String? {
        let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
        let example = "like \"GET https://crm.example.com/accounts/1234\""
        guard parts.count == 2 else { return "expected \"METHOD URL\", \(example)" }
        guard methods.contains(parts[0]) else {
            return methods.contains(parts[0].uppercased())
                ? "the method is upper case: \"\(parts[0].uppercased()) \(parts[1])\""
                : "\"\(parts[0])\" is not a method (\(methods.joined(separator: ", "))); expected \"METHOD URL\", \(example)"
        }
        guard parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://") else {
            return "the URL must start with http:// or https:// (as the http node's url does after its templates), \(example)"
        }
        return nil
    }

    /// Reads a mock file: the whole document is the table. Errors carry positions in this file.
    public static func parse(_ bytes: [UInt8], source: String) throws(Scenario.ParseError) -> HTTPMocks {
        var r = try ScenarioReader(bytes)
        if r.root.objectValue == nil {
            throw Scenario.ParseError(pointer: "", message: "a mock file is a JSON object: {\"GET https://...\": {\"status\": 200, \"body\": {...}}}")
        }
        let responses = r.mocks(r.root, [])
        if let error = r.error { throw error }
        return HTTPMocks(responses, source: source)
    }
}

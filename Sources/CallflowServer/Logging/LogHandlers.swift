import CallflowCore
import Foundation
import Logging

/// The process's log handler: one JSON object per line (what Loki, Datadog and CloudWatch parse
/// without rules) or readable text for a terminal. Metadata keys are sorted so lines are stable.
public struct CallflowLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable { case json, text }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let format: Format

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        LogOutput.write(Self.line(format: format, label: label, level: event.level, message: "\(event.message)", metadata: merged))
    }

    static func line(format: Format, label: String, level: Logger.Level, message: String, metadata: Logger.Metadata) -> [UInt8] {
        switch format {
        case .json:
            var object = JSONObject()
            object["ts"] = .string(LogTime.now())
            object["level"] = .string(level.rawValue)
            object["logger"] = .string(label)
            object["msg"] = .string(message)
            for key in metadata.keys.sorted() { object[key] = .string("\(metadata[key]!)") }
            return JSONValue.object(object).jsonBytes + [0x0A]
        case .text:
            let fields = metadata.keys.sorted().map { "\($0)=\(metadata[$0]!)" }.joined(separator: " ")
            return Array("\(LogTime.now()) \(level.rawValue.uppercased()) \(message)\(fields.isEmpty ? "" : " " + fields)\n".utf8)
        }
    }
}

enum LogOutput {
    static func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

enum LogTime {
    static func now() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = time_t(tv.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(tv.tv_usec / 1000))
    }
}

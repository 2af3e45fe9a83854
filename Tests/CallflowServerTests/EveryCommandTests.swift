import CallflowCore
import CallflowTestSupport
import Foundation
import Testing

/// Every Telnyx call command (the SDK's 41, plus `bridge` and `dial`) can be sent from a flow:
/// one call runs a `command` node per action through the real server and the loopback emulator,
/// and each body the emulator received validates against Telnyx's schema for it.
@Suite(.serialized) struct EveryCommandTests {
    /// The least each action needs to be a real request (its schema's required fields, and
    /// what makes it mean something, like a prompt's text).
    static let params: [String: String] = [
        "ai_assistant_join": #"{"conversation_id":"conv-1","participant":{"id":"{{call.id}}","role":"user"}}"#,
        "ai_assistant_add_messages": #"{"messages":[{"role":"user","content":"The caller is a gold customer."}]}"#,
        "ai_assistant_start": #"{"assistant":{"id":"assistant-1"}}"#,
        "conversation_relay_start": #"{"conversation_relay_url":"wss://relay.example.com/{{call.id}}"}"#,
        "enqueue": #"{"queue_name":"support","max_wait_time_secs":600}"#,
        "fork_start": #"{"rx":"udp:203.0.113.7:4000","tx":"udp:203.0.113.7:4001"}"#,
        "gather": #"{"minimum_digits":1,"maximum_digits":1}"#,
        "gather_using_ai": #"{"parameters":{"type":"object","properties":{"reason":{"type":"string"}}}}"#,
        "gather_using_audio": #"{"audio_url":"https://example.com/menu.mp3","maximum_digits":1}"#,
        "gather_using_speak": #"{"payload":"Press 1","voice":"female","language":"en-US"}"#,
        "pay": #"{"amount":10.0,"payment_method":"credit-card"}"#,
        "playback_start": #"{"audio_url":"https://example.com/hold.mp3"}"#,
        "record_start": #"{"channels":"dual","format":"mp3"}"#,
        "refer": #"{"sip_address":"sip:desk@example.com"}"#,
        "reject": #"{"cause":"USER_BUSY"}"#,
        "send_dtmf": #"{"digits":"1234"}"#,
        "send_sip_info": #"{"content_type":"application/json","body":"{\"k\":1}"}"#,
        "siprec_start": #"{"connector_name":"siprec-1"}"#,
        "speak": #"{"payload":"Hello","voice":"female","language":"en-US"}"#,
        "streaming_start": #"{"stream_url":"wss://bot.example.com/stream","stream_track":"both_tracks"}"#,
        "suppression_start": #"{"direction":"inbound"}"#,
        "switch_supervisor_role": #"{"role":"barge"}"#,
        "transcription_start": #"{"transcription_engine":"Google","transcription_tracks":"inbound"}"#,
        "transfer": #"{"to":"+13125550111"}"#,
        "dial": #"{"to":"+13125550112","from":"+13125550100"}"#,
        "bridge": #"{"call_control_id":"{{vars.agent.call_control_id}}"}"#,
    ]

    /// Actions that end or hand off the call: each on a call of its own, with nothing after it
    /// but a pause the hang-up ends (`reject` before the call is answered).
    static let terminal = ["hangup", "transfer", "reject"]

    static var allActions: [String] {
        let dir = Fixtures.telnyx.appendingPathComponent("commands")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".schema.json") }.map { String($0.dropLast(".schema.json".count)) }.sorted() + ["bridge"]
    }

    static func command(_ action: String, next: String) -> String {
        var node = #""type":"command","action":"\#(action)","params":\#(params[action] ?? "{}"),"next":"\#(next)","on_error":"\#(next)""#
        if action == "dial" { node += #","wait_for":"call.answered","timeout_ms":30000,"on_timeout":"\#(next)","save_as":"agent""# }
        return node
    }

    /// `all`: answers, dials an agent (whose leg `bridge` uses), then sends every other action in
    /// turn and hangs up; one flow per terminal action.
    static func flows() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("every-command-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let middle = allActions.filter { !terminal.contains($0) && !["answer", "dial", "bridge"].contains($0) }
        func write(_ name: String, _ order: [String]) throws {
            var nodes: [String] = []
            for (i, action) in order.enumerated() {
                let next = i + 1 < order.count ? "n\(i + 1)" : "wait"
                nodes.append(#""n\#(i)":{\#(action == "answer" ? #""type":"answer","next":"\#(next)""# : command(action, next: next))}"#)
            }
            let flow =
                #"{"start":"n0","nodes":{\#(nodes.joined(separator: ",")),"wait":{"type":"pause","seconds":30,"next":"end"},"end":{"type":"hangup"}}}"#
            try Data(flow.utf8).write(to: dir.appendingPathComponent("\(name).json"))
        }
        try write("all", ["answer", "dial", "bridge"] + middle + ["hangup"])
        try write("transfer", ["answer", "transfer"])
        try write("reject", ["reject"])
        return dir
    }

    @Test func everyActionIsSentAndItsBodyValidates() throws {
        let dir = try Self.flows()
        defer { try? FileManager.default.removeItem(at: dir) }
        var sent: [(action: String, body: JSONObject, status: Int)] = []
        for flow in ["all", "transfer", "reject"] {
            var call = EndToEnd.Call()
            call.flowsDir = dir.path
            call.defaultFlow = flow
            call.script.target = "answer"
            let outcome = try EndToEnd.run(call)
            #expect(outcome.finished, "\(flow): the call did not finish: \(outcome.actions)")
            sent += outcome.commands
        }
        let actions = Set(sent.map(\.action))
        for action in Self.allActions {
            #expect(actions.contains(action), "\(action) was never sent")
        }
        var validators: [String: SchemaValidator] = [:]
        for command in sent {
            if validators[command.action] == nil { validators[command.action] = try CommandSchemas.validator(for: command.action) }
            let body = CommandSchemas.schemaShape(command.action, command.body)
            let errors = validators[command.action]!.errors(body)
            #expect(errors.isEmpty, "\(command.action) \(command.body.jsonStringRedacted): \(errors)")
            #expect(command.status == 200, "\(command.action) \(command.body.jsonStringRedacted) answered \(command.status)")
        }
    }
}

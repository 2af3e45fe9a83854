import CallflowCore
import Testing

@testable import TelnyxEmulator

/// The emulator's Conference API: create (the calling leg first in), join, leave with
/// `end_conference_on_exit`, a participant's hang-up, and requests checked against the
/// OpenAPI spec's request fields.
@Suite struct EmulatorConferenceTests {
    static func types(_ emissions: [EmulatorModel.Emission]) -> [String] {
        emissions.compactMap {
            if case .webhook(_, let body) = $0 {
                return "\(body["data"]?["event_type"]?.stringValue ?? "") \(body["data"]?["payload"]?["call_control_id"]?.stringValue ?? "")"
            }
            return nil
        }
    }

    @Test func aConferenceIsCreatedJoinedAndEndsWhenItsModeratorLeaves() throws {
        var model = EmulatorModel(script: CallerScript())
        let a = model.inboundCall(from: "+13125550101", to: "+13125550100").leg
        let b = model.inboundCall(from: "+13125550102", to: "+13125550100").leg
        let (created, first) = model.conferenceCommand("conference_create", conference: nil, body: ["call_control_id": .string(a), "name": "case-1"])
        let id = try #require(created.body["data"]?["id"]?.stringValue)
        #expect(Self.types(first) == ["conference.created \(a)", "conference.participant.joined \(a)"])
        let (_, joined) = model.conferenceCommand(
            "conference_join", conference: id, body: ["call_control_id": .string(b), "end_conference_on_exit": true])
        #expect(Self.types(joined) == ["conference.participant.joined \(b)"])
        let (_, left) = model.conferenceCommand("conference_leave", conference: id, body: ["call_control_id": .string(b)])
        #expect(Self.types(left) == ["conference.participant.left \(b)", "conference.participant.left \(a)", "conference.ended \(a)"])
        let (refused, _) = model.conferenceCommand("conference_join", conference: id, body: ["call_control_id": .string(b)])
        #expect(refused.status == 422, "an ended conference cannot be joined")
    }

    @Test func aParticipantWhoHangsUpLeavesAndTheLastOneEndsIt() throws {
        var model = EmulatorModel(script: CallerScript())
        let a = model.inboundCall(from: "+13125550101", to: "+13125550100").leg
        let (created, _) = model.conferenceCommand("conference_create", conference: nil, body: ["call_control_id": .string(a), "name": "solo"])
        #expect(created.status == 200)
        let gone = Self.types(model.callerHangsUp(a))
        #expect(gone.contains("conference.participant.left \(a)") && gone.last == "conference.ended \(a)")
        let hangup = try #require(gone.firstIndex(of: "call.hangup \(a)"))
        #expect(hangup < (gone.firstIndex(of: "conference.participant.left \(a)") ?? 0), "the participant leaves because its call ended")
    }

    @Test(arguments: [
        ("conference_create", ["call_control_id": "x"] as JSONObject, "requires name"),
        ("conference_join", ["call_control_id": "x", "loudness": 3] as JSONObject, "does not take loudness"),
        ("conference_speak", ["payload": "hi"] as JSONObject, "requires voice"),
    ])
    func requestsAreCheckedAsTelnyxChecksThem(action: String, body: JSONObject, message: String) {
        var model = EmulatorModel(script: CallerScript())
        let (reply, _) = model.conferenceCommand(action, conference: "conf-1", body: body)
        #expect(reply.status == 422 && reply.body.jsonString.contains(message), "\(reply.body.jsonString)")
    }
}

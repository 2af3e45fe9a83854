import CallflowCore
import CallflowTestSupport
import Foundation
import TelnyxEmulator
import Testing

/// Digits of a `sensitive` gather appear nowhere: not in the call recording, the transcript or
/// `--json` of a simulation, the stored call state or its trace. Only memory holds them.
@Suite struct SensitiveDataTests {
    static let card = "4111111111111111"

    static func payByCard() throws -> Simulation.Result {
        let file = Fixtures.repoRoot.appendingPathComponent("tests/scenarios/support-pays-by-card.json")
        let scenario = try Scenario.parse(Array(try Data(contentsOf: file)), name: "support-pays-by-card")
        return Simulation.run(flows: try Flows.set(), scenario: scenario)
    }

    /// The support line up to the card number keyed in: the charge request is in flight.
    static func cardKeyedIn() throws -> CallHarness {
        var h = CallHarness(flows: try Flows.set(), defaultFlow: "support")
        h.initiated()
        h.answered()
        h.speakEnded()
        ActionNodeTests.acknowledge(&h)  // Telnyx took record_start
        h.gatherEnded("1")
        h.gatherEnded(Self.card + "#")
        return h
    }

    @Test func theRecordingIsPausedWhileTheCardIsKeyedIn() throws {
        let result = try Self.payByCard()
        #expect(result.failures.isEmpty, "\(result.failures)")
        #expect(!result.keysRecorded.contains("4111"), "keys heard by the recording: \(result.keysRecorded)")
        #expect(result.transcript.contains("recording paused"))
        #expect(result.transcript.contains("recording resumed"))
    }

    @Test func simulateShowsNoCardDigits() throws {
        let result = try Self.payByCard()
        #expect(!result.transcript.contains(Self.card), "\(result.transcript)")
        #expect(!result.json.jsonString.contains(Self.card))
    }

    @Test func storedStateAndTraceHoldNoCardDigits() throws {
        let h = try Self.cardKeyedIn()
        let state = try #require(h.state)
        #expect(state.vars["card"] == .string(Self.card))  // held in memory for the charge
        #expect(h.httpCalls.last.map { String(decoding: $0.body ?? [], as: UTF8.self).contains(Self.card) } == true)
        let stored = StateCodec.encode(state).jsonString
        #expect(!stored.contains(Self.card), "\(stored)")
        #expect(!state.trace.contains { $0.detail.contains(Self.card) })
        #expect(!h.logs.contains { $0.contains(Self.card) })
    }
}

extension SensitiveDataTests {
    @Test func aPendingRequestIsStoredWithoutTheDigitsAndIsNotRepeatedWithThem() throws {
        let h = try Self.cardKeyedIn()
        let request = try #require(h.httpCalls.last)
        #expect(request.secrets == [Self.card])
        let stored = StateCodec.encode(request)
        #expect(!stored.jsonString.contains(Self.card))
        let back = try StateCodec.decodeHTTP(try JSONParser.parse(stored.jsonBytes))
        #expect(back.withheld)
        #expect(String(decoding: back.body ?? [], as: UTF8.self).contains(#""card":"***""#))
    }
}

import ArgumentParser
import CallflowCore
import Foundation
import WebhookSignature

/// `bench/ingest.sh`: N distinct, freshly signed `call.initiated` webhooks for wrk to replay.
struct BenchWebhooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-webhooks", abstract: "Benchmark: write N distinct signed call.initiated webhooks for wrk (see bench/ingest.sh).")

    @Option(help: "How many.")
    var count = 100_000

    @Option(help: "Output file: one request per line, signature TAB timestamp TAB body.")
    var out: String

    func run() throws {
        let signer = try WebhookSigner.random()
        let timestamp = String(Int(Date().timeIntervalSince1970))
        var text = ""
        text.reserveCapacity(count * 800)
        for i in 0..<count {
            let body =
                #"{"data":{"record_type":"event","event_type":"call.initiated","id":"bench-\#(i)-0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2026-11-21T04:39:58.000000Z","payload":{"call_control_id":"v3:bench-\#(i)-MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg","call_leg_id":"428c31b6-7af4-4bcb-b7f5-\#(i)","call_session_id":"428c31b6-abf3-4bcb-b7f5-\#(i)","client_state":null,"connection_id":"1494404757140276705","direction":"incoming","from":"+13125550101","to":"+13125550100","state":"parked","start_time":"2025-11-21T04:39:58.000000Z","caller_id_name":"+13125550101"}},"meta":{"attempt":1,"delivered_to":"https://ivr.example.com/webhooks/telnyx"}}"#
            text += signer.signature(timestamp: timestamp, body: Array(body.utf8)) + "\t" + timestamp + "\t" + body + "\n"
        }
        try writeReplacing(out, text)
        print(signer.publicKeyBase64)
    }
}

/// Writes `text` to `path` so a reader never sees half of it: a sibling file, then rename(2).
/// (Foundation's `atomically: true` leaves a TemporaryDirectory.* behind in /tmp on Linux.)
func writeReplacing(_ path: String, _ text: String) throws {
    let temporary = path + ".partial"
    try text.write(toFile: temporary, atomically: false, encoding: .utf8)
    guard rename(temporary, path) == 0 else {
        throw ValidationError("cannot rename \(temporary) to \(path) (errno \(errno))")
    }
}

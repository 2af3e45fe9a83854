import CallflowCore
import Logging

extension CallPipeline {
    /// The funnel, once per committed input: node entries, exits by the outcome that left them,
    /// calls started and ended.
    package func count(_ work: InputWork) {
        for visit in work.visits {
            metrics.nodeEntered(flow: visit.flow, node: visit.node)
            guard let from = visit.from else {
                metrics.call(.started)
                if let call = work.call, let s = work.state {
                    // One line per call at the default level, so a first deploy shows calls arriving
                    // (the caller's number is left out; the called number is the deployment's own).
                    logger.info(
                        "call started",
                        metadata: [
                            "call.control_id": "\(call)", "flow": "\(visit.flow)",
                            "call.direction": "\(s.facts.direction)", "call.to": "\(s.facts.to)",
                        ])
                }
                continue
            }
            metrics.nodeExited(flow: from.flow, node: from.node, outcome: visit.edge == "on_hangup" ? "hangup" : visit.edge ?? "goto")
        }
        for effect in work.effects {
            guard case .ended(let reason) = effect.effect else { continue }
            metrics.call(.ended)
            // Without on_hangup, the node the caller hung up in is only known here.
            if reason == "hangup" { metrics.nodeExited(flow: effect.flow, node: effect.node, outcome: "hangup") }
        }
    }
}

/// The `conference` node in the machine: create-or-join by name, the conference's events, keys
/// while in it, and the actions on it.
extension Run {
    /// Runs a conference node. `true` when the call now waits (or moved on by a failure).
    mutating func conferenceNode(_ spec: ConferenceSpec) -> Bool {
        switch spec.action {
        case .join:
            // Back from a key's node, the call is still in it: its invitations went out already.
            let returning = state.conference?.joined == true
            let waits = joinConference(spec)
            if !returning { queueInvites(spec) }
            return waits
        case .invite:
            guard state.conference?.id != nil else {
                log(.warning, "conference invite at node \"\(state.node)\": the call is in no conference")
                enter(spec.next, via: "next")
                return false
            }
            queueInvites(spec)
            enter(spec.next, via: "next")
            return false
        default:
            guard let membership = state.conference, let id = membership.id, membership.joined || spec.action == .leave else {
                log(.warning, "conference \(spec.action.rawValue) at node \"\(state.node)\": the call is in no conference")
                enter(spec.next, via: "next")
                return false
            }
            conferenceAction(spec, id: id)
            enter(spec.next, via: "next")
            return false
        }
    }

    /// Joins the conference of `spec.name`: back in it, joining it by its id, waiting while another
    /// call creates it, or creating it (claiming the name in this step's commit).
    mutating func joinConference(_ spec: ConferenceSpec) -> Bool {
        let name = spec.name.map { render($0) } ?? ""
        guard !name.isEmpty else {
            log(.error, "conference node \"\(state.node)\": the name rendered empty")
            failNode()
            return true
        }
        if let m = state.conference, m.name == name, m.joined {
            state.waiting = .conference(timer: nil)  // back from a key's node: still in it
            return true
        }
        if let m = state.conference, m.name == name, m.creator {
            // Its own conference, left (or not yet joined): back in by its id, never a second one.
            if let id = m.id {
                issueConference("conference_join", joinBody(spec), conference: id)
                trace(.note, "rejoining conference \(name)")
            }
            state.waiting = .conference(timer: nil)
            return true
        }
        if let entry = conferences[name], entry.creator != state.callControlID {
            guard !entry.id.isEmpty else {
                // Another call is creating it: look again shortly.
                var m = state.conference?.name == name ? state.conference! : ConferenceMembership(name: name, id: nil, creator: false)
                m.polls += 1
                guard m.polls * ConferenceSpec.creationPollMs <= ConferenceSpec.creationWaitMs else {
                    log(.error, "conference \"\(name)\" was not created in time by the call creating it")
                    state.conference = nil
                    failNode()
                    return true
                }
                state.conference = m
                let id = "\(timerID).c\(m.polls)"
                effects.append(.startTimer(id: id, milliseconds: ConferenceSpec.creationPollMs))
                state.waiting = .conference(timer: id)
                return true
            }
            state.conference = ConferenceMembership(name: name, id: entry.id, creator: false)
            issueConference("conference_join", joinBody(spec), conference: entry.id)
            state.waiting = .conference(timer: nil)
            trace(.note, "joining conference \(name)")
            return true
        }
        // Nobody has it: this call creates it, with itself as the first participant.
        state.conference = ConferenceMembership(name: name, id: nil, creator: true)
        var body: JSONObject = ["call_control_id": .string(state.callControlID), "name": .string(name)]
        if let b = spec.beep { body["beep_enabled"] = .string(b) }
        if let m = spec.maxParticipants { body["max_participants"] = .int(m) }
        addHold(spec.hold, to: &body)
        body["start_conference_on_create"] = .bool(spec.role == .moderator || !spec.waitForModerator)
        issueConference(CallCommand.conferenceCreate, body, conference: nil, reportsResult: true)
        state.waiting = .conference(timer: nil)
        trace(.note, "creating conference \(name)")
        return true
    }

    /// The conference's hold audio in a create or join: `hold_audio_url` or `hold_media_name`.
    mutating func addHold(_ hold: Prompt?, to body: inout JSONObject) {
        guard let hold else { return }
        for (key, value) in promptFields(hold).members { body["hold_" + key] = value }
    }

    /// The join request's role fields.
    mutating func joinBody(_ spec: ConferenceSpec) -> JSONObject {
        var body: JSONObject = ["call_control_id": .string(state.callControlID)]
        if let b = spec.beep { body["beep_enabled"] = .string(b) }
        addHold(spec.hold, to: &body)
        switch spec.role {
        case .moderator:
            body["start_conference_on_enter"] = true
            body["end_conference_on_exit"] = .bool(spec.endOnExit ?? true)
        case .participant:
            body["start_conference_on_enter"] = .bool(!spec.waitForModerator)
            if let e = spec.endOnExit { body["end_conference_on_exit"] = .bool(e) }
        case .listener:
            body["mute"] = true
            if let e = spec.endOnExit { body["end_conference_on_exit"] = .bool(e) }
        case .monitor, .barge, .whisper:
            body["supervisor_role"] = .string(spec.role.rawValue)
            if spec.role == .whisper {
                body["whisper_call_control_ids"] = .array(spec.whisperTo.map { .string(render($0)) }.filter { $0 != .string("") })
            }
            if let e = spec.endOnExit { body["end_conference_on_exit"] = .bool(e) }
        }
        return body
    }

    /// A Conference API command of this call (`callControlID` is the call; the path names `conference`).
    mutating func issueConference(
        _ action: String, _ body: JSONObject, conference: String?, tag: StepTag? = nil, reportsResult: Bool = false
    ) {
        issue(action, body, tag: tag, reportsResult: reportsResult, conference: conference)
    }

    /// leave, mute, unmute, hold, unhold, speak, play on the call's conference.
    mutating func conferenceAction(_ spec: ConferenceSpec, id: String) {
        var body: JSONObject = [:]
        let who: JSONObject = spec.who == .`self` ? ["call_control_ids": [.string(state.callControlID)]] : [:]
        switch spec.action {
        case .leave:
            body["call_control_id"] = .string(state.callControlID)
            if let b = spec.beep { body["beep_enabled"] = .string(b) }
            // Out of it: a creator keeps the name until the conference ends.
            if state.conference?.creator == true { state.conference?.joined = false } else { state.conference = nil }
        case .mute, .unmute, .unhold:
            body = who
        case .hold:
            body = who
            if let hold = spec.hold { for (key, value) in promptFields(hold).members { body[key] = value } }
        case .speak, .play:
            // The parser gives speak text and play audio; either way the conference hears the prompt.
            guard let prompt = spec.prompt else { return }
            body = promptFields(prompt)
        case .join, .invite:
            return
        }
        issueConference(CallCommand.conferencePrefix + spec.action.rawValue, body, conference: id)
        trace(.note, "conference \(spec.action.rawValue)")
    }

    /// Events about the call's conference, whichever node the call is at. `nil`: not one.
    mutating func conferenceEvent(_ event: WebhookEvent) -> Disposition? {
        guard event.eventType.hasPrefix("conference."), var m = state.conference else { return nil }
        if let id = event.payload["conference_id"]?.stringValue, let mine = m.id, id != mine {
            return .ignored("\(event.eventType) of another conference")
        }
        let inNode: Bool = {
            if case .conference(let spec)? = node?.kind, spec.action == .join, state.phase == .running { return true }
            return false
        }()
        switch event.eventType {
        case "conference.created":
            if m.id == nil, let id = event.payload["conference_id"]?.stringValue { m.id = id }
            state.conference = m
        case "conference.participant.joined":
            m.joined = true
            state.conference = m
            trace(.note, "in conference \(m.name)")
            dialInvites()
        case "conference.participant.left":
            if m.creator { m.joined = false; state.conference = m } else { state.conference = nil }
            if inNode {
                trace(.note, "left conference \(m.name)")
                cancelWaitTimer()
                move(nodeNext, via: "next")
            }
        case "conference.ended":
            trace(.note, "conference \(m.name) ended")
            state.conference = nil
            if case .conference(let t?) = state.waiting, state.phase == .afterHangup {
                effects.append(.cancelTimer(id: t))
                end("conference ended")
            } else if inNode {
                cancelWaitTimer()
                move(nodeNext, via: "next")
            }
        default:
            return .ignored("\(event.eventType)")
        }
        return .applied
    }

    var nodeNext: String? {
        if case .conference(let spec)? = node?.kind { return spec.next }
        return nil
    }

    /// Remembers `spec.invite` to dial once the call is in the conference (at once when it is).
    mutating func queueInvites(_ spec: ConferenceSpec) {
        guard !spec.invite.isEmpty, state.conference != nil else { return }
        let addresses = spec.invite.map { render($0) }.filter { E164.isDialable($0) }
        state.conference?.pendingInvites += addresses
        if state.conference?.joined == true { dialInvites() }
    }

    /// Dials the invited addresses through the call's connection; each leg joins when it answers.
    mutating func dialInvites() {
        guard var m = state.conference, m.joined, !m.pendingInvites.isEmpty, let connection = state.facts.connectionID else { return }
        let addresses = m.pendingInvites
        m.pendingInvites = []
        state.conference = m
        for to in addresses {
            issue(
                "dial", ["to": .string(to), "from": .string(state.facts.to), "connection_id": .string(connection), "timeout_secs": 30],
                tag: StepTag(step: state.step, parent: state.callControlID, invite: true))
            trace(.note, "inviting \(to) to conference \(m.name)")
        }
    }

    /// An invited leg: joined to the conference when it answers; hung up when it leaves it.
    mutating func guestLegEvent(_ event: WebhookEvent, leg: String) -> Disposition {
        guard state.phase != .ended else { return .ignored("guest leg of an ended call") }
        switch event.eventType {
        case "call.answered":
            guard let id = state.conference?.id, state.conference?.joined == true || state.conference?.creator == true else {
                issue("hangup", [:], leg: leg, tag: StepTag(step: state.step, parent: state.callControlID, invite: true))
                return .applied
            }
            state.conference?.guests.append(leg)
            issueConference(
                "conference_join", ["call_control_id": .string(leg)], conference: id,
                tag: StepTag(step: state.step, parent: state.callControlID, invite: true))
            trace(.note, "guest \(leg) joins the conference")
            return .applied
        case "conference.participant.left", "conference.ended":
            guard state.conference?.guests.contains(leg) == true else { return .ignored("\(event.eventType) of guest \(leg)") }
            state.conference?.guests.removeAll { $0 == leg }
            issue("hangup", [:], leg: leg, tag: StepTag(step: state.step, parent: state.callControlID, invite: true))
            return .applied
        case "call.hangup":
            state.conference?.guests.removeAll { $0 == leg }
            return .applied
        default:
            return .ignored("\(event.eventType) of guest \(leg)")
        }
    }

    /// The create's response names the conference: the name table gets its id in this commit.
    mutating func conferenceCreated(commandID: String, data: JSONValue) -> Bool {
        guard var m = state.conference, m.creator, m.id == nil, let id = data["id"]?.stringValue else { return false }
        m.id = id
        state.conference = m
        trace(.note, "conference \(m.name) is \(id)")
        // Telnyx's create takes no role: a listener that created the conference is muted now, and
        // a supervisor role is set with `update`.
        if case .conference(let spec)? = node?.kind, spec.action == .join {
            switch spec.role {
            case .listener:
                issueConference("conference_mute", ["call_control_ids": [.string(state.callControlID)]], conference: id)
            case .monitor, .barge, .whisper:
                var body: JSONObject = ["call_control_id": .string(state.callControlID), "supervisor_role": .string(spec.role.rawValue)]
                if spec.role == .whisper { body["whisper_call_control_ids"] = .array(spec.whisperTo.map { .string(render($0)) }) }
                issueConference("conference_update", body, conference: id)
            default:
                break
            }
        }
        return true
    }

    /// A refused create or join: the name goes (when this call claimed it) and the node fails.
    mutating func conferenceCommandFailed(action: String, detail: String) -> Disposition? {
        guard action == CallCommand.conferenceCreate || action == "conference_join", state.phase == .running,
            case .conference(let spec)? = node?.kind, spec.action == .join
        else { return nil }
        log(.warning, "conference \(state.conference?.name ?? ""): \(action) failed: \(detail)")
        state.conference = nil
        failNode()
        return .applied
    }

    /// The poll timer while another call creates the conference: try again.
    mutating func conferencePoll() {
        guard case .conference(let spec)? = node?.kind else { return }
        state.waiting = .nothing
        if !joinConference(spec) { runCurrent() }
    }

    /// Ending a call that created a live conference: it is kept (after the hang-up) until the
    /// conference ends, holding the name so later callers join the same one.
    mutating func awaitConferenceEnd() {
        state.phase = .afterHangup
        let id = "\(state.callControlID)#conference"
        effects.append(.startTimer(id: id, milliseconds: ConferenceSpec.keptAfterHangupMs))
        state.waiting = .conference(timer: id)
        trace(.note, "kept until conference \(state.conference?.name ?? "") ends")
    }
}

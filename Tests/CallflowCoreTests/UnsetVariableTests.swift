import CallflowCore
import Testing

/// `check` warns about a variable read where some path (or every path) reaches it unset.
@Suite struct UnsetVariableTests {
    /// The variable warnings (`file: pointer: message`) of one flow `f` (and `extra` flows).
    static func warnings(_ nodes: String, top: String = "", extra: [String: String] = [:]) -> [String] {
        let diagnostics = FlowCheckTests.check(FlowCheckTests.flow(nodes, top: top), extra: extra)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        return diagnostics.filter { $0.message.contains("vars.") }.map(\.description)
    }

    static func neverSet(_ name: String, at pointer: String, file: String = "f.json") -> String {
        "\(file): \(pointer): warning: vars.\(name) is read here but never set; declare it in \"vars\" or write {{vars.\(name) | 'default'}}"
    }

    static func unsetOn(_ name: String, _ path: String, at pointer: String, file: String = "f.json") -> String {
        "\(file): \(pointer): warning: vars.\(name) may be unset here: the path \(path) does not set it; "
            + "set it on that path or write {{vars.\(name) | 'default'}}"
    }

    @Test func aVariableNothingSetsWarns() {
        #expect(
            Self.warnings(#""a":{"type":"say","text":"Hi {{vars.name}}","next":"end"}"#)
                == [Self.neverSet("name", at: "/nodes/a/text")])
    }

    @Test func declaredFallbackOrCallReferencesDoNotWarn() {
        #expect(!Self.warnings(#""a":{"type":"say","text":"Hi {{vars.name}}","next":"end"}"#).isEmpty, "the control warns")
        #expect(Self.warnings(#""a":{"type":"say","text":"Hi {{vars.name}}","next":"end"}"#, top: #""vars":{"name":"you"},"#).isEmpty)
        #expect(Self.warnings(#""a":{"type":"say","text":"Hi {{vars.name | ''}}","next":"end"}"#).isEmpty)
        #expect(Self.warnings(#""a":{"type":"say","text":"Hi {{vars.name | call.from}}","next":"end"}"#).isEmpty)
        #expect(Self.warnings(#""a":{"type":"say","text":"Hi {{call.from}}","next":"end"}"#).isEmpty)
    }

    @Test func aNullDeclarationIsNotASetting() {
        #expect(
            Self.warnings(#""a":{"type":"say","text":"Hi {{vars.name}}","next":"end"}"#, top: #""vars":{"name":null},"#)
                == [Self.neverSet("name", at: "/nodes/a/text")])
    }

    @Test func setOnOnePathOnlyNamesAPathThatMissesIt() {
        let nodes = #"""
            "a":{"type":"menu","prompt":"1 or 2","choices":{"1":"ask","2":"say"},"on_invalid":"end","on_no_input":"end"},
            "ask":{"type":"gather","min_digits":4,"max_digits":4,"save_as":"pin","next":"say","on_invalid":"end","on_no_input":"end"},
            "say":{"type":"say","text":"PIN {{vars.pin}}","next":"end"}
            """#
        #expect(Self.warnings(nodes) == [Self.unsetOn("pin", "a → say", at: "/nodes/say/text")])
    }

    @Test func setOnEveryPathDoesNotWarn() {
        let nodes = #"""
            "a":{"type":"menu","prompt":"1 or 2","choices":{"1":"one","2":"two"},"on_invalid":"end","on_no_input":"end"},
            "one":{"type":"set","vars":{"pick":"one"},"next":"say"},
            "two":{"type":"set","vars":{"pick":"two"},"next":"say"},
            "say":{"type":"say","text":"You chose {{vars.pick}}","next":"end"}
            """#
        #expect(Self.warnings(nodes).isEmpty)
        #expect(
            Self.warnings(nodes.replacing(#"{"pick":"two"}"#, with: "{}"))
                == [Self.unsetOn("pick", "a → two → say", at: "/nodes/say/text")])
    }

    @Test func readsOfAPathCountAsReadingTheVariable() {
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"http","method":"GET","url":"https://x","save_as":"crm","next":"s","on_error":"s"},
                "s":{"type":"switch","value":"{{vars.crm.tier}}","cases":{"gold":"end"},"default":"end"}
                """#) == [Self.unsetOn("crm.tier", "a → s", at: "/nodes/s/value")])
    }

    @Test func httpSavesTheBodyOnNextAndTheStatusEverywhere() {
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"http","method":"GET","url":"https://x","save_as":"crm","on_status":{"404":"missing"},"next":"ok","on_error":"bad"},
                "ok":{"type":"say","text":"{{vars.crm.tier}} {{vars.crm_status}}","next":"end"},
                "missing":{"type":"say","text":"{{vars.crm_status}} {{vars.crm.error}}","next":"end"},
                "bad":{"type":"say","text":"{{vars.crm_status}}","next":"end"}
                """#) == [Self.unsetOn("crm.error", "a → missing", at: "/nodes/missing/text")])
    }

    @Test func otherSettersCount() {
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"record","max_length_secs":10,"save_as":"rec","next":"b"},
                "b":{"type":"ai_gather","parameters":{"type":"object"},"save_as":"ai","next":"c","on_error":"end"},
                "c":{"type":"say","text":"{{vars.rec}} {{vars.ai.name}} {{vars.nope}}","next":"end"}
                """#) == [Self.neverSet("nope", at: "/nodes/c/text")])
    }

    @Test func setEntriesSeeEarlierEntriesOnly() {
        #expect(Self.warnings(#""a":{"type":"set","vars":{"one":1,"two":"{{vars.one}}"},"next":"end"}"#).isEmpty)
        #expect(
            Self.warnings(#""a":{"type":"set","vars":{"two":"{{vars.one}}","one":1},"next":"end"}"#)
                == [
                    #"f.json: /nodes/a/vars/two: warning: vars.one is read here but set only after this read; declare it in "vars" or write {{vars.one | 'default'}}"#
                ])
    }

    @Test func settingNullUnsets() {
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"set","vars":{"x":1},"next":"b"},
                "b":{"type":"set","vars":{"x":null},"next":"c"},
                "c":{"type":"say","text":"{{vars.x}}","next":"end"}
                """#) == [Self.unsetOn("x", "a → b → c", at: "/nodes/c/text")])
    }

    @Test func onHangupSeesOnlyWhatIsSetBeforeTheFirstWait() {
        let nodes = #"""
            "a":{"type":"set","vars":{"early":1},"next":"b"},
            "b":{"type":"gather","min_digits":1,"max_digits":4,"save_as":"late","next":"end","on_invalid":"end","on_no_input":"end"},
            "log":{"type":"http","method":"POST","url":"https://x","body":{"e":"{{vars.early}}","l":"{{vars.late}}"}}
            """#
        #expect(
            Self.warnings(nodes, top: #""on_hangup":"log","#)
                == [Self.unsetOn("late", "a → b → [caller hangs up] → log", at: "/nodes/log/body/l")])
    }

    @Test func emptyChecksGuardTheOtherBranch() {
        // `empty` holds: the else branch knows the value is there; `"to": false` the other way round.
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"gather","min_digits":1,"max_digits":4,"save_as":"pin","next":"i","on_invalid":"i","on_no_input":"i"},
                "i":{"type":"if","conditions":[{"value":"{{vars.pin | ''}}","op":"empty","next":"end"}],"else":"say"},
                "j":{"type":"if","conditions":[{"value":"{{vars.pin | ''}}","op":"empty","to":false,"next":"say"}],"else":"end"},
                "say":{"type":"say","text":"{{vars.pin}}","next":"j"}
                """#
            ).isEmpty)
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"gather","min_digits":1,"max_digits":4,"save_as":"pin","next":"i","on_invalid":"i","on_no_input":"i"},
                "i":{"type":"if","conditions":[{"value":"{{vars.pin | 'none'}}","op":"empty","next":"end"}],"else":"say"},
                "say":{"type":"say","text":"{{vars.pin}}","next":"end"}
                """#) == [Self.unsetOn("pin", "a → i → say", at: "/nodes/say/text")])
    }

    @Test func equalityGuardsItsBranch() {
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"gather","min_digits":1,"max_digits":4,"save_as":"pin","next":"i","on_invalid":"i","on_no_input":"i"},
                "i":{"type":"if","conditions":[{"value":"{{vars.pin | '0'}}","op":"eq","to":1234,"next":"say"}],"else":"s"},
                "s":{"type":"switch","value":"{{vars.pin | 'none'}}","cases":{"1":"say","none":"end"},"default":"end"},
                "say":{"type":"say","text":"{{vars.pin}}","next":"end"}
                """#
            ).isEmpty)
        // A case equal to the fallback proves nothing.
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"gather","min_digits":1,"max_digits":4,"save_as":"pin","next":"s","on_invalid":"s","on_no_input":"s"},
                "s":{"type":"switch","value":"{{vars.pin | 'none'}}","cases":{"none":"say"},"default":"end"},
                "say":{"type":"say","text":"{{vars.pin}}","next":"end"}
                """#) == [Self.unsetOn("pin", "a → s → say", at: "/nodes/say/text")])
    }

    // MARK: across flows

    static let caller = #"{"start":"a","nodes":{"a":{"type":"set","vars":{"who":"Ann"},"next":"g"},"g":{"type":"goto","flow":"f"}}}"#

    @Test func aFlowEnteredByGotoSeesWhatItsCallersSet() {
        #expect(Self.warnings(#""a":{"type":"say","text":"Hi {{vars.who}}","next":"end"}"#, extra: ["caller": Self.caller]).isEmpty)
        // Without the goto, f would be a flow calls start in, and nothing sets who.
        #expect(
            Self.warnings(#""a":{"type":"say","text":"Hi {{vars.who}}","next":"end"}"#)
                == [Self.neverSet("who", at: "/nodes/a/text")])
    }

    @Test func everyCallerMustSetIt() {
        let other = #"{"start":"a","nodes":{"a":{"type":"answer","next":"g"},"g":{"type":"goto","flow":"f"}}}"#
        #expect(
            Self.warnings(#""a":{"type":"say","text":"Hi {{vars.who}}","next":"end"}"#, extra: ["caller": Self.caller, "other": other])
                == [Self.unsetOn("who", "other/a → other/g → a", at: "/nodes/a/text")])
    }

    @Test func aGotoDoesNotApplyTheTargetsVars() {
        let other = #"{"start":"a","nodes":{"a":{"type":"goto","flow":"f"}}}"#
        #expect(
            Self.warnings(#""a":{"type":"say","text":"Hi {{vars.who}}","next":"end"}"#, top: #""vars":{"who":"you"},"#, extra: ["other": other])
                == [
                    Self.unsetOn("who", "other/a → a", at: "/nodes/a/text")
                        + #" (a flow's "vars" apply only when a call starts in it, not after a goto)"#
                ])
    }

    @Test func aGotoToAnotherNodeLeavesTheStartAnEntry() {
        let other = #"{"start":"a","nodes":{"a":{"type":"set","vars":{"who":"Ann"},"next":"g"},"g":{"type":"goto","flow":"f","node":"b"}}}"#
        #expect(
            Self.warnings(
                #"""
                "a":{"type":"say","text":"{{vars.who}}","next":"b"},
                "b":{"type":"say","text":"{{vars.who}}","next":"end"}
                """#, extra: ["other": other])
                == [Self.neverSet("who", at: "/nodes/a/text"), Self.unsetOn("who", "a → b", at: "/nodes/b/text")])
    }

    @Test func flowsWithBrokenNodesAreLeftToTheirErrors() {
        // The gather that sets pin does not parse: what it sets is unknown, so nothing is guessed.
        let diagnostics = FlowCheckTests.check(
            FlowCheckTests.flow(
                #"""
                "a":{"type":"menu","prompt":"1 or 2","choices":{"1":"ask","2":"say"},"on_invalid":"end","on_no_input":"end"},
                "ask":{"type":"gather","min_digits":"x","max_digits":4,"save_as":"pin","next":"say","on_invalid":"end","on_no_input":"end"},
                "say":{"type":"say","text":"{{vars.pin}}","next":"end"}
                """#))
        #expect(diagnostics.map(\.pointer) == ["/nodes/ask/min_digits"], "\(diagnostics)")
    }

    /// The shipped flows warn only where a call really renders a missing value; the fallbacks
    /// proposed for them (`| ''`) silence exactly those. (Both states are made from the files, so
    /// this holds before and after the fallbacks are written into flows/.)
    @Test func shippedFlowsWarnOnlyWhereAValueIsReallyMissing() throws {
        let fixes = [
            "main": (#""{{vars.account}}""#, #""{{vars.account | ''}}""#),
            "voicemail": (#""value": "{{vars.voicemail_url}}""#, #""value": "{{vars.voicemail_url | ''}}""#),
        ]
        func load(fixed: Bool) throws -> [Diagnostic] {
            let files = try Flows.shipped.map { name in
                var text = String(decoding: try Flows.file(name), as: UTF8.self)
                if let (plain, withFallback) = fixes[name] {
                    text = fixed ? text.replacing(plain, with: withFallback) : text.replacing(withFallback, with: plain)
                }
                return (name: name, file: "flows/\(name).json", bytes: Array(text.utf8))
            }
            return FlowSet.load(files: files + (try Flows.groupFiles()), timeZones: TestZones()).diagnostics
        }
        let unfixed = try load(fixed: false).map(\.description)
        #expect(unfixed.count == 2, "\(unfixed)")
        #expect(unfixed.first?.hasPrefix("flows/main.json: /nodes/log_call/body/account: warning: vars.account may be unset here") == true)
        #expect(
            unfixed.last?.hasPrefix("flows/voicemail.json: /nodes/notify/conditions/0/value: warning: vars.voicemail_url may be unset here") == true)
        #expect(try load(fixed: true).isEmpty)
    }
}

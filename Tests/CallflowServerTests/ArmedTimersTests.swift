import Testing

@testable import CallflowRuntime

@Suite struct ArmedTimersTests {
    @Test func aCallsTimersAreFoundWithoutTheOthers() {
        var t = ArmedTimers()
        #expect(t.insert("a#1", call: "a", handle: 1) == nil)
        #expect(t.insert("a#2", call: "a", handle: 2) == nil)
        #expect(t.insert("ab#1", call: "ab", handle: 3) == nil, "a call whose id starts with another's is its own")
        #expect(Set(t.removeAll(of: "a")) == [1, 2])
        #expect(t.count == 1)
        #expect(t.contains("ab#1"))
        #expect(t.removeAll(of: "a").isEmpty)
    }

    @Test func reArmingAnIDHandsBackTheOldTimer() {
        var t = ArmedTimers()
        _ = t.insert("a#1", call: "a", handle: 1)
        #expect(t.insert("a#1", call: "a", handle: 7) == 1)
        #expect(t.remove("a#1") == 7)
        #expect(t.remove("a#1") == nil)
        #expect(t.removeAll(of: "a").isEmpty, "a fired timer leaves nothing behind")
        #expect(t.count == 0)
    }
}

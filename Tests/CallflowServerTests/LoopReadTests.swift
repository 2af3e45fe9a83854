import CallflowLoop
import Glibc
import Testing

/// `onReadable`/`stopReading` on the loop: what `callflow dev` reads piped keys with.
@Suite struct LoopReadTests {
    /// A pipe whose writer closed is readable for ever (end of input): after `stopReading`, the
    /// handler must not run again. Before the fix the event stayed armed and the loop spun at
    /// 100% CPU, calling the handler tens of thousands of times a second.
    @Test func stoppingAtTheEndOfInputStopsTheEvents() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let loop = try EventLoop()
        let before = loop.eventsAdded
        var calls = 0
        try loop.onReadable(fds[0]) {
            calls += 1
            var byte: UInt8 = 0
            if read(fds[0], &byte, 1) <= 0 { loop.stopReading(fds[0]) }
        }
        #expect(loop.eventsAdded == before + 1)
        close(fds[1])  // end of input at once
        try loop.schedule(afterMilliseconds: 100) { loop.handle.stop() }
        try loop.run()
        #expect(calls == 1, "the handler ran \(calls) times after the end of input")
        #expect(loop.eventsAdded == before, "the read event is still armed: the loop would spin on the closed input")
    }
}

import Testing

@testable import TrafficGenerator

@Suite("Load shard send ticks")
struct LoadShardTests {
    @Test("a shard wakes when the next transaction is due, or a tick after its last wake-up when that is later")
    func wakeUp() {
        // Spacing above the tick: every transaction on time.
        #expect(LoadShard.wakeUp(due: 5_000_000, lastWake: 1_000_000, tick: 1_000_000) == 5_000_000)
        // Spacing below the tick: the wake-up waits for the tick, and sends what fell due meanwhile.
        #expect(LoadShard.wakeUp(due: 1_200_000, lastWake: 1_000_000, tick: 1_000_000) == 2_000_000)
        // No tick: every transaction on time.
        #expect(LoadShard.wakeUp(due: 1_200_000, lastWake: 1_000_000, tick: 0) == 1_200_000)
    }

    @Test("ticks delay sends, never the intended starts: at most a tick late, none early, every one sent", arguments: [0, 250_000, 1_000_000] as [UInt64])
    func tickedSchedule(tick: UInt64) {
        // Simulate the shard's loop on an ideal clock: wake, send all due by then, arm the next wake-up.
        var schedule = ArrivalSchedule(rate: 5_000, duration: 1, process: .poisson, seed: 3)
        var intended: [UInt64] = []
        var sentAt: [UInt64] = []
        var next = schedule.next()
        var lastWake: UInt64 = 0
        while let due = next {
            let now = LoadShard.wakeUp(due: due, lastWake: lastWake, tick: tick)
            lastWake = now
            while let d = next, d <= now {
                intended.append(d)
                sentAt.append(now)
                next = schedule.next()
            }
        }
        var reference = ArrivalSchedule(rate: 5_000, duration: 1, process: .poisson, seed: 3)
        var expected: [UInt64] = []
        while let d = reference.next() { expected.append(d) }
        #expect(intended == expected)
        let lateness = zip(intended, sentAt).map { Int64($1) - Int64($0) }
        #expect(lateness.allSatisfy { $0 >= 0 && $0 <= Int64(tick) })
    }
}

import Testing

@testable import TrafficGenerator

@Suite("Arrival schedule (intended start times)")
struct ArrivalScheduleTests {
    static func all(_ schedule: ArrivalSchedule) -> [UInt64] {
        var s = schedule
        var out: [UInt64] = []
        while let t = s.next() { out.append(t) }
        return out
    }

    @Test("constant spacing: the n-th transaction is due at n / rate")
    func constant() {
        let times = Self.all(ArrivalSchedule(rate: 1000, duration: 2))
        #expect(times.count == 2000)
        for (n, t) in times.enumerated() {
            #expect(t == UInt64(n) * 1_000_000)
        }
    }

    @Test("a linear ramp: rate·t²/(2·ramp) due by t, then the full rate")
    func ramp() {
        let schedule = ArrivalSchedule(rate: 1000, duration: 3, ramp: 2)
        let times = Self.all(schedule)
        // Λ(3) = 1000·2/2 + 1000·1 = 2000.
        #expect(times.count == 2000)
        // Half-way through the ramp, a quarter of the ramp's arrivals are due.
        #expect(times.filter { $0 < 1_000_000_000 }.count == 250)
        #expect(times.filter { $0 < 2_000_000_000 }.count == 1000)
        // After the ramp, one every millisecond.
        let after = times.filter { $0 >= 2_000_000_000 }
        for (a, b) in zip(after, after.dropFirst()) {
            #expect(b - a >= 999_999 && b - a <= 1_000_001)
        }
        #expect(schedule.rate(at: 1) == 500)
        #expect(schedule.time(atCumulative: schedule.cumulative(at: 0.7)) - 0.7 < 1e-9)
    }

    @Test("shards with phases make one evenly spaced schedule together")
    func shardPhases() {
        let shards = 4
        var merged: [UInt64] = []
        for k in 0..<shards {
            merged += Self.all(ArrivalSchedule(rate: 2000.0 / Double(shards), duration: 1, phase: Double(k) / Double(shards)))
        }
        merged.sort()
        #expect(merged.count == 2000)
        for (n, t) in merged.enumerated() {
            let expected = Double(n) * 500_000
            #expect(abs(Double(t) - expected) <= 1)
        }
    }

    @Test("Poisson arrivals: the mean gap is 1/rate and gaps vary", arguments: [1, 2, 3] as [UInt64])
    func poisson(seed: UInt64) {
        let times = Self.all(ArrivalSchedule(rate: 5000, duration: 4, process: .poisson, seed: seed))
        // 20,000 expected; the standard deviation of a Poisson count is √20,000 ≈ 141.
        #expect(abs(times.count - 20_000) < 5 * 141)
        let gaps = zip(times, times.dropFirst()).map { Double($1 - $0) }
        let mean = gaps.reduce(0, +) / Double(gaps.count)
        #expect(abs(mean - 200_000) < 200_000 * 0.05)
        // Exponential gaps: the standard deviation equals the mean; about 1 - 1/e of gaps are below the mean.
        let below = Double(gaps.filter { $0 < mean }.count) / Double(gaps.count)
        #expect(abs(below - 0.632) < 0.03)
        #expect(times == times.sorted())
    }

    @Test("the same seed gives the same Poisson schedule")
    func reproducible() {
        #expect(Self.all(ArrivalSchedule(rate: 300, duration: 1, process: .poisson, seed: 9))
            == Self.all(ArrivalSchedule(rate: 300, duration: 1, process: .poisson, seed: 9)))
    }
}

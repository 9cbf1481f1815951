/// One second of a running load, for the progress line.
public struct LoadProgress: Hashable, Sendable {
    /// Seconds since the start.
    public var elapsed: Double
    /// Requests sent in the last second.
    public var offeredTPS: Double
    /// Answers received in the last second.
    public var achievedTPS: Double
    /// Latency (from the intended start) of the last second's answers, milliseconds.
    public var p50: Double
    public var p99: Double
    public var p999: Double
    /// Requests without an answer so far.
    public var errors: Int
    /// Declines so far.
    public var declined: Int
    /// Requests in flight now.
    public var inFlight: Int

    public init(elapsed: Double, offeredTPS: Double, achievedTPS: Double, p50: Double, p99: Double, p999: Double, errors: Int, declined: Int, inFlight: Int) {
        self.elapsed = elapsed
        self.offeredTPS = offeredTPS
        self.achievedTPS = achievedTPS
        self.p50 = p50
        self.p99 = p99
        self.p999 = p999
        self.errors = errors
        self.declined = declined
        self.inFlight = inFlight
    }

    /// `[  12s] offered 10000 tps  achieved  9998 tps  p50 0.412 ms  p99 1.873 ms  p99.9 4.120 ms  errors 0  declined 3  in flight 17`
    public var line: String {
        typealias F = TextFormatting
        return "[" + F.right(String(Int(self.elapsed.rounded())), 4) + "s] offered " + F.right(F.fixed(self.offeredTPS, 0), 6)
            + " tps  achieved " + F.right(F.fixed(self.achievedTPS, 0), 6) + " tps  p50 " + F.fixed(self.p50, 3)
            + " ms  p99 " + F.fixed(self.p99, 3) + " ms  p99.9 " + F.fixed(self.p999, 3) + " ms  errors "
            + String(self.errors) + "  declined " + String(self.declined) + "  in flight " + String(self.inFlight)
    }
}

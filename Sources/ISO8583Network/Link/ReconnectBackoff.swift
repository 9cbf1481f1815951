import NIOCore

/// Exponential reconnect backoff with a cap and optional jitter.
///
/// Attempt 1 waits ``initialDelay``, each further attempt ``multiplier`` times longer, never more
/// than ``maximumDelay``. With jitter `j`, a delay `d` becomes a value in `d * (1 - j) ... d`.
public struct ReconnectBackoff: Hashable, Sendable {
    /// The wait before the first reconnect attempt.
    public var initialDelay: TimeAmount
    /// The longest wait.
    public var maximumDelay: TimeAmount
    /// The growth factor between attempts.
    public var multiplier: Double
    /// The fraction (0 to 1) of each delay that is randomised away.
    public var jitter: Double

    /// Creates a backoff policy.
    public init(
        initialDelay: TimeAmount = .milliseconds(100),
        maximumDelay: TimeAmount = .seconds(30),
        multiplier: Double = 2,
        jitter: Double = 0
    ) {
        precondition(initialDelay.nanoseconds >= 0 && maximumDelay >= initialDelay, "invalid backoff delays")
        precondition(multiplier >= 1, "the backoff multiplier must be at least 1")
        precondition((0...1).contains(jitter), "jitter is a fraction between 0 and 1")
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before reconnect attempt `attempt` (1 for the first).
    ///
    /// - Parameter random: a number in `0..<1` drawn by the caller; only used when ``jitter`` is not zero.
    public func delay(forAttempt attempt: Int, random: Double = 0) -> TimeAmount {
        let exponent = Double(max(attempt, 1) - 1)
        let raw = Double(self.initialDelay.nanoseconds) * pow(self.multiplier, exponent)
        let capped = min(raw, Double(self.maximumDelay.nanoseconds))
        let jittered = capped * (1 - self.jitter * min(max(random, 0), 1))
        return .nanoseconds(Int64(jittered))
    }
}

/// A small deterministic pseudo-random generator (SplitMix64), so that state machines holding one
/// stay value types and replay identically in tests.
struct SplitMix64: RandomNumberGenerator, Hashable, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<1`.
    mutating func nextUnit() -> Double {
        Double(self.next() >> 11) * 0x1.0p-53
    }
}

@inline(__always)
private func pow(_ base: Double, _ exponent: Double) -> Double {
    // Integer exponents only: repeated multiplication, no Foundation.
    var result = 1.0
    var remaining = Int(exponent)
    while remaining > 0 && result < 1e18 {
        result *= base
        remaining -= 1
    }
    return result
}

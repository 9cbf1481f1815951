/// A small, fast, seedable random number generator (SplitMix64): the generator's choices are reproducible
/// from `--seed`, and each shard draws from its own stream.
public struct LoadRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose stream is determined by `seed`.
    public init(seed: UInt64) {
        self.state = seed
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(self.state)
    }

    /// A uniform integer in `0..<bound` (`bound` > 0), without the cost of the standard library's generic path.
    public mutating func below(_ bound: Int) -> Int {
        Int(truncatingIfNeeded: self.next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A uniform integer in `range`.
    public mutating func inRange(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(self.below(Int(range.upperBound - range.lowerBound) + 1))
    }

    /// A uniform double in `[0, 1)`.
    public mutating func unit() -> Double {
        Double(self.next() >> 11) * 0x1.0p-53
    }
}

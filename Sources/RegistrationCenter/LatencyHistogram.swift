/// A compact log-linear histogram of durations in nanoseconds (about 3% relative precision), for group-commit
/// latency and batch age. Not thread-safe: keep it behind the owner's lock.
public struct LatencyHistogram: Sendable, Hashable {
    private static let subBucketBits = 5
    private static let subBuckets = 1 << subBucketBits
    private var counts: [UInt64]
    /// How many values were recorded.
    public private(set) var count: UInt64 = 0
    /// The largest value recorded, in nanoseconds.
    public private(set) var max: UInt64 = 0
    private var sum: Double = 0

    /// An empty histogram.
    public init() {
        counts = [UInt64](repeating: 0, count: (64 - Self.subBucketBits + 1) * Self.subBuckets)
    }

    /// Records one value.
    public mutating func record(nanoseconds value: UInt64) {
        counts[Self.index(of: value)] &+= 1
        count &+= 1
        sum += Double(value)
        if value > max { max = value }
    }

    /// Records one value given as a signed number of nanoseconds (negative values count as zero).
    public mutating func record(nanoseconds value: Int64) {
        record(nanoseconds: UInt64(Swift.max(value, 0)))
    }

    /// Adds another histogram's values.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        count &+= other.count
        sum += other.sum
        max = Swift.max(max, other.max)
    }

    /// The mean in nanoseconds (0 when empty).
    public var mean: Double { count == 0 ? 0 : sum / Double(count) }

    /// The value at `quantile` (0...1) in nanoseconds: the upper edge of the bucket holding it (0 when empty).
    public func value(atQuantile quantile: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = UInt64((Double(count) * Swift.min(Swift.max(quantile, 0), 1)).rounded(.up))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= Swift.max(rank, 1) { return Swift.min(Self.upperEdge(of: index), max) }
        }
        return max
    }

    private static func index(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let magnitude = 63 - value.leadingZeroBitCount  // >= subBucketBits
        let shift = magnitude - subBucketBits
        let sub = Int((value >> UInt64(shift)) & UInt64(subBuckets - 1))
        return (shift + 1) * subBuckets + sub
    }

    private static func upperEdge(of index: Int) -> UInt64 {
        if index < subBuckets { return UInt64(index) }
        let shift = index / subBuckets - 1
        let sub = UInt64(index % subBuckets) | UInt64(subBuckets)
        return ((sub + 1) << UInt64(shift)) - 1
    }
}

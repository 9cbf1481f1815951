import Histogram

/// The registration center's histograms of durations (nanoseconds) and sizes: HdrHistogram with two significant
/// digits (1 % precision), growing its range as values arrive. Kept behind their owner's lock.
public typealias DurationHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    /// An empty histogram for durations in nanoseconds, or for counts.
    static func durations() -> Self {
        Self(numberOfSignificantValueDigits: .two)
    }

    /// Records a duration given as a signed number of nanoseconds (a negative one, from clocks of two processes,
    /// counts as zero).
    mutating func record(nanoseconds value: Int64) {
        _ = self.record(UInt64(Swift.max(value, 0)))
    }

    /// Records a duration (or a count).
    mutating func record(nanoseconds value: UInt64) {
        _ = self.record(value)
    }
}

import Histogram

/// The registration center's histograms (durations in nanoseconds, batch sizes): HdrHistogram with two significant
/// digits (1 % precision), growing its range as values arrive. Kept behind their owner's lock.
public typealias DurationHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    /// An empty histogram with two significant digits.
    static func twoDigits() -> Self {
        Self(numberOfSignificantValueDigits: .two)
    }

    /// Records a duration given as a signed number of nanoseconds (a negative one, from clocks of two processes,
    /// counts as zero).
    mutating func record(nanoseconds value: Int64) {
        _ = self.record(UInt64(Swift.max(value, 0)))
    }
}

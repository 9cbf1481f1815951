/// Allocates system trace audit numbers (DE 11): `1...999_999`, wrapping back to 1.
public struct STANCounter: Hashable, Sendable {
    /// The largest STAN, six decimal digits.
    public static let maximum: UInt32 = 999_999

    private var last: UInt32

    /// Creates a counter whose first STAN is `first` (clamped into `1...999_999`).
    public init(first: UInt32 = 1) {
        let clamped = min(max(first, 1), Self.maximum)
        self.last = clamped - 1
    }

    /// Returns the next STAN.
    public mutating func next() -> UInt32 {
        self.last = self.last >= Self.maximum ? 1 : self.last + 1
        return self.last
    }
}

/// Faults a simulated bank injects, for tests and for researchers: extra delay, dropped requests and
/// errors at a given rate.
public struct FaultInjection: Hashable, Sendable, Codable {
    /// Added to every answer, in milliseconds.
    public var delayMilliseconds: Int
    /// Fraction (0–1) of requests never answered.
    public var dropRate: Double
    /// Fraction (0–1) of requests answered with DE 39 96 (system malfunction).
    public var errorRate: Double

    public init(delayMilliseconds: Int = 0, dropRate: Double = 0, errorRate: Double = 0) {
        self.delayMilliseconds = delayMilliseconds
        self.dropRate = dropRate
        self.errorRate = errorRate
    }

    public init(from decoder: any Decoder) throws {
        enum Keys: String, CodingKey { case delayMilliseconds, dropRate, errorRate }
        let c = try decoder.container(keyedBy: Keys.self)
        self.delayMilliseconds = try c.decodeIfPresent(Int.self, forKey: .delayMilliseconds) ?? 0
        self.dropRate = try c.decodeIfPresent(Double.self, forKey: .dropRate) ?? 0
        self.errorRate = try c.decodeIfPresent(Double.self, forKey: .errorRate) ?? 0
    }

    public static let none = FaultInjection()
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How transactions arrive: evenly spaced, or as a Poisson process (exponential gaps) of the same mean rate.
public enum ArrivalProcess: String, Hashable, Sendable, CaseIterable {
    /// One transaction every `1 / rate` seconds.
    case constant
    /// Independent arrivals with exponentially distributed gaps of mean `1 / rate` seconds.
    case poisson
}

/// The intended start times of an open-loop run: when each transaction is due, whatever happened to the
/// ones before it.
///
/// The rate rises linearly from 0 to `rate` over the first `ramp` seconds, then stays at `rate` until
/// `duration`. With cumulative intensity Λ(t) (the number of arrivals due by t), the n-th arrival is at
/// Λ⁻¹(xₙ), where xₙ = n + phase for constant spacing and a sum of n unit exponential gaps for Poisson arrivals.
/// Shards of one run each take `rate / shards` with phase `shard / shards`, so that together they make the
/// same evenly spaced schedule as one generator would.
public struct ArrivalSchedule: Sendable {
    /// Transactions per second after the ramp.
    public let rate: Double
    /// Seconds over which the rate rises from 0 to `rate`.
    public let ramp: Double
    /// Seconds after which nothing more is due.
    public let duration: Double
    public let process: ArrivalProcess
    private var x: Double
    private var random: LoadRandom
    private let durationNanoseconds: UInt64

    /// - Parameters:
    ///   - rate: arrivals per second once ramped up (> 0).
    ///   - duration: seconds of sending, the ramp included.
    ///   - ramp: seconds of linear ramp at the start (0 for none).
    ///   - process: constant or Poisson.
    ///   - phase: offset of the constant schedule in units of one gap, in `0..<1`.
    ///   - seed: the Poisson process's random stream.
    public init(rate: Double, duration: Double, ramp: Double = 0, process: ArrivalProcess = .constant, phase: Double = 0, seed: UInt64 = 1) {
        precondition(rate > 0 && duration >= 0 && ramp >= 0, "rate > 0, duration and ramp ≥ 0")
        self.rate = rate
        self.ramp = min(ramp, duration)
        self.duration = duration
        self.process = process
        self.random = LoadRandom(seed: seed)
        self.durationNanoseconds = UInt64(duration * 1e9)
        switch process {
        case .constant: self.x = phase
        case .poisson: self.x = 0
        }
    }

    /// Seconds at which the cumulative number of due arrivals reaches `x`.
    public func time(atCumulative x: Double) -> Double {
        let rampArrivals = self.rate * self.ramp / 2
        if x < rampArrivals {
            return (2 * self.ramp * x / self.rate).squareRoot()
        }
        return self.ramp + (x - rampArrivals) / self.rate
    }

    /// The number of arrivals due by `t` seconds (Λ(t)).
    public func cumulative(at t: Double) -> Double {
        if t < self.ramp {
            return self.rate * t * t / (2 * self.ramp)
        }
        return self.rate * self.ramp / 2 + self.rate * (t - self.ramp)
    }

    /// The rate due at `t` seconds.
    public func rate(at t: Double) -> Double {
        t < self.ramp ? self.rate * t / self.ramp : self.rate
    }

    /// Nanoseconds from the start at which the next transaction is due, or `nil` when the run is over.
    public mutating func next() -> UInt64? {
        if self.process == .poisson {
            // Exponential gap of mean 1 in cumulative-intensity units; 1 - u is in (0, 1].
            self.x += -log(1 - self.random.unit())
        }
        let t = self.time(atCumulative: self.x)
        if self.process == .constant { self.x += 1 }
        let nanoseconds = (t * 1e9).rounded()
        guard nanoseconds < Double(self.durationNanoseconds) else { return nil }
        return UInt64(nanoseconds)
    }
}

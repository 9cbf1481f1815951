#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `--sweep FROM:TO:STEP --slo-p99 MS`: runs at a series of rates, several runs per rate, to find the highest
/// rate whose p99 latency stays within the SLO.
///
/// A rate passes when the median of its runs' p99 (corrected) is at most the SLO, at most 0.1 % of its requests
/// went unanswered, and the median run achieved at least ``minimumAchievedFraction`` (95 %) of what it offered. The sweep stops after
/// ``stopAfterFailures`` failing rates in a row.
public struct RateSweep: Hashable, Sendable {
    public var from: Double
    public var to: Double
    public var step: Double
    /// The p99 latency objective, milliseconds.
    public var sloP99Ms: Double
    /// Runs per rate.
    public var runsPerPoint: Int
    /// Failing rates in a row after which the sweep stops.
    public var stopAfterFailures: Int
    /// Seconds of pause between runs, for the target to settle.
    public var pause: Double
    /// The share of the offered rate a rate's median run must achieve (answers over the run's time, its tail of late
    /// answers included) to pass.
    public var minimumAchievedFraction = 0.95

    public init(from: Double, to: Double, step: Double, sloP99Ms: Double, runsPerPoint: Int = 3, stopAfterFailures: Int = 2, pause: Double = 1) {
        self.from = from
        self.to = to
        self.step = step
        self.sloP99Ms = sloP99Ms
        self.runsPerPoint = runsPerPoint
        self.stopAfterFailures = stopAfterFailures
        self.pause = pause
    }

    /// Parses `FROM:TO:STEP` (rates in transactions per second).
    public init(parsing text: String, sloP99Ms: Double, runsPerPoint: Int = 3) throws(LoadConfiguration.Invalid) {
        let parts = text.split(separator: ":").map { Double($0) }
        guard parts.count == 3, let from = parts[0], let to = parts[1], let step = parts[2] else {
            throw LoadConfiguration.Invalid(flag: "--sweep", reason: "expected FROM:TO:STEP, for example 2000:20000:2000")
        }
        guard from > 0, to >= from, step > 0 else {
            throw LoadConfiguration.Invalid(flag: "--sweep", reason: "FROM > 0, TO ≥ FROM and STEP > 0")
        }
        guard sloP99Ms > 0 else { throw LoadConfiguration.Invalid(flag: "--slo-p99", reason: "must be above 0 ms") }
        guard runsPerPoint >= 1 else { throw LoadConfiguration.Invalid(flag: "--sweep-runs", reason: "at least 1") }
        self.init(from: from, to: to, step: step, sloP99Ms: sloP99Ms, runsPerPoint: runsPerPoint)
    }

    /// The rates, in order.
    public var rates: [Double] {
        var out: [Double] = []
        var k = 0.0
        while self.from + k * self.step <= self.to + 1e-9 {
            out.append(self.from + k * self.step)
            k += 1
        }
        return out
    }

    /// Whether a rate's runs meet the objective.
    func passes(_ point: SweepReport.Point) -> Bool {
        let sent = point.runs.reduce(0) { $0 + $1.sent }
        let errors = point.runs.reduce(0) { $0 + $1.errors }
        return point.p99Ms <= self.sloP99Ms && Double(errors) <= Double(sent) * 0.001
            && point.achievedTPS >= self.minimumAchievedFraction * point.offeredTPS
    }
}

/// The outcome of a sweep, as `--report` writes it for `--sweep`.
public struct SweepReport: Codable, Sendable {
    /// One run of a sweep.
    public struct Run: Codable, Hashable, Sendable {
        public var offeredTPS: Double
        public var achievedTPS: Double
        public var sent: Int
        public var errors: Int
        public var declined: Int
        public var latencyMs: LoadReport.Percentiles
        public var serviceTimeMs: LoadReport.Percentiles

        enum CodingKeys: String, CodingKey {
            case sent, errors, declined
            case offeredTPS = "offered_tps"
            case achievedTPS = "achieved_tps"
            case latencyMs = "latency_ms"
            case serviceTimeMs = "service_time_ms"
        }

        public init(_ report: LoadReport) {
            self.offeredTPS = report.offeredTPS
            self.achievedTPS = report.achievedTPS
            self.sent = report.sent
            self.errors = report.errors
            self.declined = report.declined
            self.latencyMs = report.latencyMs
            self.serviceTimeMs = report.serviceTimeMs
        }
    }

    /// One rate of a sweep.
    public struct Point: Codable, Hashable, Sendable {
        public var rate: Double
        public var runs: [Run]
        /// Medians over the runs.
        public var p99Ms: Double
        public var p50Ms: Double
        public var p999Ms: Double
        public var offeredTPS: Double
        public var achievedTPS: Double
        public var withinSLO: Bool

        enum CodingKeys: String, CodingKey {
            case rate, runs
            case p99Ms = "p99_ms"
            case p50Ms = "p50_ms"
            case p999Ms = "p999_ms"
            case offeredTPS = "offered_tps"
            case achievedTPS = "achieved_tps"
            case withinSLO = "within_slo"
        }

        init(rate: Double, runs: [Run]) {
            func median(_ values: [Double]) -> Double {
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return 0 }
                return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            self.rate = rate
            self.runs = runs
            self.p99Ms = median(runs.map(\.latencyMs.p99))
            self.p50Ms = median(runs.map(\.latencyMs.p50))
            self.p999Ms = median(runs.map(\.latencyMs.p999))
            self.offeredTPS = median(runs.map(\.offeredTPS))
            self.achievedTPS = median(runs.map(\.achievedTPS))
            self.withinSLO = false
        }
    }

    public var sloP99Ms: Double
    public var runsPerPoint: Int
    public var durationS: Double
    public var points: [Point]
    /// The highest rate that met the objective, or `nil` when none did.
    public var maxRateWithinSLO: Double?
    /// The achieved throughput at that rate (median of its runs).
    public var achievedTPSWithinSLO: Double?

    enum CodingKeys: String, CodingKey {
        case points
        case sloP99Ms = "slo_p99_ms"
        case runsPerPoint = "runs_per_point"
        case durationS = "duration_s"
        case maxRateWithinSLO = "max_rate_within_slo"
        case achievedTPSWithinSLO = "achieved_tps_within_slo"
    }

    /// The report as pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Writes the JSON report to `path`.
    public func write(toPath path: String) throws {
        try writeOutput(self.jsonData(), toPath: path)
    }

    /// One row per rate, then the verdict.
    public var table: String {
        typealias F = TextFormatting
        var lines = [
            F.right("rate", 9) + F.right("offered", 10) + F.right("achieved", 10) + F.right("p50 ms", 9) + F.right("p99 ms", 9)
                + F.right("p99.9 ms", 10) + F.right("errors", 8) + "  within SLO"
        ]
        for p in self.points {
            let errors = p.runs.reduce(0) { $0 + $1.errors }
            lines.append(
                F.right(F.fixed(p.rate, 0), 9) + F.right(F.fixed(p.offeredTPS, 0), 10) + F.right(F.fixed(p.achievedTPS, 0), 10)
                    + F.right(F.fixed(p.p50Ms, 3), 9) + F.right(F.fixed(p.p99Ms, 3), 9) + F.right(F.fixed(p.p999Ms, 3), 10)
                    + F.right(String(errors), 8) + "  " + (p.withinSLO ? "yes" : "no")
            )
        }
        lines.append("")
        if let rate = self.maxRateWithinSLO {
            lines.append("highest rate with p99 ≤ \(F.fixed(self.sloP99Ms, 3)) ms: \(F.fixed(rate, 0)) tps (achieved \(F.fixed(self.achievedTPSWithinSLO ?? 0, 0)) tps; median of \(self.runsPerPoint) runs of \(F.fixed(self.durationS, 0)) s)")
        } else {
            lines.append("no rate kept p99 ≤ \(F.fixed(self.sloP99Ms, 3)) ms")
        }
        return lines.joined(separator: "\n")
    }
}

extension LoadGenerator {
    /// Runs `sweep`: each rate ``RateSweep/runsPerPoint`` times for the configured duration.
    ///
    /// - Parameters:
    ///   - sweep: rates and objective.
    ///   - progress: a line per finished run.
    public func sweep(_ sweep: RateSweep, progress: (@Sendable (String) -> Void)? = nil) async throws -> SweepReport {
        let rates = sweep.rates
        let expected = rates.reduce(0.0) { $0 + $1 * self.configuration.duration * Double(sweep.runsPerPoint) }
        try await self.prepare(expectedTransactions: Int(expected))
        var report = SweepReport(
            sloP99Ms: sweep.sloP99Ms, runsPerPoint: sweep.runsPerPoint, durationS: self.configuration.duration, points: [],
            maxRateWithinSLO: nil, achievedTPSWithinSLO: nil
        )
        var failuresInARow = 0
        for rate in rates {
            var runs: [SweepReport.Run] = []
            for i in 1...sweep.runsPerPoint {
                let run = try await self.run(rate: rate)
                runs.append(SweepReport.Run(run))
                progress?(
                    "sweep \(TextFormatting.fixed(rate, 0)) tps run \(i)/\(sweep.runsPerPoint): achieved "
                        + "\(TextFormatting.fixed(run.achievedTPS, 1)) tps, p99 \(TextFormatting.fixed(run.latencyMs.p99, 3)) ms, "
                        + "errors \(run.errors)"
                )
                if sweep.pause > 0 { try await Task.sleep(nanoseconds: UInt64(sweep.pause * 1e9)) }
            }
            var point = SweepReport.Point(rate: rate, runs: runs)
            point.withinSLO = sweep.passes(point)
            report.points.append(point)
            if point.withinSLO {
                failuresInARow = 0
                if rate > (report.maxRateWithinSLO ?? 0) {
                    report.maxRateWithinSLO = rate
                    report.achievedTPSWithinSLO = point.achievedTPS
                }
            } else {
                failuresInARow += 1
                if failuresInARow >= sweep.stopAfterFailures { break }
            }
        }
        return report
    }
}

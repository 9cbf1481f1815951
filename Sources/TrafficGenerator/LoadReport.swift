import DigitalCurrency
import Histogram

/// The outcome of a load run, as `--report FILE` writes it (JSON, snake_case keys).
///
/// The keys PRODUCT.md promises: `offered_tps`, `achieved_tps`, `duration_s`, `latency_ms` (`p50`, `p90`, `p99`,
/// `p999`, `max`; from each transaction's intended start, so corrected for coordinated omission),
/// `service_time_ms` (the same, from the actual send), `flows` (per flow: `sent`, `approved`, `declined`,
/// `errors`, `latency_ms`), `response_codes` (DE 39 → count), and `registry` and `conservation`, which `dcswitch
/// demo` fills in after its checks. The rest (`timeline`, `percentile_distribution`, …) feed the HTML report and
/// researchers' own tools.
public struct LoadReport: Codable, Sendable {
    /// Latency percentiles in milliseconds (microsecond resolution).
    public struct Percentiles: Codable, Hashable, Sendable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.p999 = p999
            self.max = max
        }

        /// The percentiles of a microsecond histogram (all 0 when it is empty).
        public init(_ histogram: LatencyHistogram) {
            func ms(_ p: Double) -> Double {
                histogram.totalCount == 0 ? 0 : TextFormatting.milliseconds(histogram.valueAtPercentile(p))
            }
            self.init(p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), max: histogram.totalCount == 0 ? 0 : TextFormatting.milliseconds(histogram.maxRecorded))
        }

        /// The percentiles of a nanosecond histogram, in milliseconds to the microsecond (all 0 when it is empty).
        /// A percentile is the upper edge of its bucket, so it is capped at the largest value recorded.
        public init(nanoseconds histogram: LatencyHistogram) {
            func ms(_ nanoseconds: UInt64) -> Double {
                histogram.totalCount == 0 ? 0 : TextFormatting.milliseconds(Swift.min(nanoseconds, histogram.maxRecorded) / 1000)
            }
            self.init(
                p50: ms(histogram.valueAtPercentile(50)), p90: ms(histogram.valueAtPercentile(90)),
                p99: ms(histogram.valueAtPercentile(99)), p999: ms(histogram.valueAtPercentile(99.9)), max: ms(histogram.maxRecorded)
            )
        }
    }

    /// A point where an approval waits until its effect is on disk (a bank's journal, the registry's journal): how
    /// long appends waited, how long each sync took, and how many appends shared a sync. Filled in by `dcswitch demo`.
    public struct DurabilityPoint: Codable, Hashable, Sendable {
        /// What was made durable (`"BANKA journal"`, `"registry journal"`).
        public var name: String
        /// Entries appended (a bank's legs, the switch's approvals).
        public var appends: Int
        /// `fdatasync` calls: appends / syncs is the mean group-commit size.
        public var syncs: Int
        /// Per append: appended → durable, what the answer waited for.
        public var appendMs: Percentiles
        /// Per sync: the `fdatasync` call's duration.
        public var fsyncMs: Percentiles

        enum CodingKeys: String, CodingKey {
            case name, appends, syncs
            case appendMs = "append_ms"
            case fsyncMs = "fsync_ms"
        }

        public init(name: String, appends: Int, syncs: Int, appendMs: Percentiles, fsyncMs: Percentiles) {
            self.name = name
            self.appends = appends
            self.syncs = syncs
            self.appendMs = appendMs
            self.fsyncMs = fsyncMs
        }
    }

    /// One flow's counts and latency.
    public struct FlowReport: Codable, Hashable, Sendable {
        public var sent: Int
        public var approved: Int
        public var declined: Int
        public var errors: Int
        public var latencyMs: Percentiles
        public var serviceTimeMs: Percentiles
        /// Owner-change records the approvals imply (DE 124.03 + 124.11 items).
        public var ownerChangeRecords: Int

        enum CodingKeys: String, CodingKey {
            case sent, approved, declined, errors
            case latencyMs = "latency_ms"
            case serviceTimeMs = "service_time_ms"
            case ownerChangeRecords = "owner_change_records"
        }

        public init(_ flow: FlowMeasurements) {
            self.sent = flow.sent
            self.approved = flow.approved
            self.declined = flow.declined
            self.errors = flow.errors
            self.latencyMs = Percentiles(flow.latency)
            self.serviceTimeMs = Percentiles(flow.service)
            self.ownerChangeRecords = flow.ownerChangeRecords
        }
    }

    /// One second of the run.
    public struct Interval: Codable, Hashable, Sendable {
        /// Seconds from the start to the end of this interval.
        public var t: Double
        /// Requests sent in the interval, per second.
        public var offeredTPS: Double
        /// Answers received in the interval, per second.
        public var achievedTPS: Double
        public var approved: Int
        public var declined: Int
        public var errors: Int
        /// Requests in flight at the end of the interval.
        public var inFlight: Int
        /// Latency (corrected) of the answers received in the interval.
        public var latencyMs: Percentiles
        /// Service time of the answers received in the interval.
        public var serviceTimeMs: Percentiles

        enum CodingKeys: String, CodingKey {
            case t, approved, declined, errors
            case offeredTPS = "offered_tps"
            case achievedTPS = "achieved_tps"
            case inFlight = "in_flight"
            case latencyMs = "latency_ms"
            case serviceTimeMs = "service_time_ms"
        }

        public init(
            t: Double, offeredTPS: Double, achievedTPS: Double, approved: Int, declined: Int, errors: Int, inFlight: Int,
            latencyMs: Percentiles, serviceTimeMs: Percentiles
        ) {
            self.t = t
            self.offeredTPS = offeredTPS
            self.achievedTPS = achievedTPS
            self.approved = approved
            self.declined = declined
            self.errors = errors
            self.inFlight = inFlight
            self.latencyMs = latencyMs
            self.serviceTimeMs = serviceTimeMs
        }
    }

    /// A point of a percentile distribution: `percentile` (0–100) and the latency at it.
    public struct PercentilePoint: Codable, Hashable, Sendable {
        public var percentile: Double
        public var latencyMs: Double

        enum CodingKeys: String, CodingKey {
            case percentile
            case latencyMs = "latency_ms"
        }

        public init(percentile: Double, latencyMs: Double) {
            self.percentile = percentile
            self.latencyMs = latencyMs
        }
    }

    /// `dcswitch demo`'s registry completeness check.
    public struct RegistryCheck: Codable, Hashable, Sendable {
        public var recordsExpected: Int
        public var recordsFound: Int
        public var duplicates: Int
        public var missingTransactions: Int?

        enum CodingKeys: String, CodingKey {
            case recordsExpected = "records_expected"
            case recordsFound = "records_found"
            case duplicates
            case missingTransactions = "missing_transactions"
        }

        public init(recordsExpected: Int, recordsFound: Int, duplicates: Int, missingTransactions: Int? = nil) {
            self.recordsExpected = recordsExpected
            self.recordsFound = recordsFound
            self.duplicates = duplicates
            self.missingTransactions = missingTransactions
        }
    }

    /// `dcswitch demo`'s conservation check: live coins add up to what was issued.
    public struct ConservationCheck: Codable, Hashable, Sendable {
        public var issued: Int64
        public var live: Int64
        public var ok: Bool

        public init(issued: Int64, live: Int64, ok: Bool) {
            self.issued = issued
            self.live = live
            self.ok = ok
        }
    }

    /// Where the CPU went while the traffic ran, from its start until the generator saw the last answer (it looks once a
    /// second, so the window may run up to a second past it). On a machine whose cores are all busy, latency is mostly
    /// time spent waiting for a core; this says whether that was so, and who used them.
    public struct CPUUsage: Codable, Hashable, Sendable {
        /// The window measured, in seconds.
        public var seconds: Double
        /// Online cores of the machine.
        public var cores: Int
        /// Share of all cores' time that was busy, whoever used it (0 to 1); `nil` without `/proc`.
        public var machineBusy: Double?
        /// Cores' worth of CPU this process used (CPU seconds over the window): the generator and, in `dcswitch demo`,
        /// the switch, banks and registration center too.
        public var processCores: Double
        /// Cores' worth used by the generator's own event-loop threads.
        public var generatorCores: Double
        /// Cores' worth used by the embedded PostgreSQL cluster (`dcswitch demo`); `nil` when not measured.
        public var postgresCores: Double?
        /// Transactions sent in the window, the divisor of the per-transaction figures.
        public var transactions: Int

        enum CodingKeys: String, CodingKey {
            case seconds, cores, transactions
            case machineBusy = "machine_busy"
            case processCores = "process_cores"
            case generatorCores = "generator_cores"
            case postgresCores = "postgres_cores"
        }

        /// Figures worked out from the others, written for readers of the JSON alone and not read back.
        enum DerivedKeys: String, CodingKey {
            case otherCores = "other_cores"
            case processMicrosPerTransaction = "process_us_per_transaction"
            case generatorMicrosPerTransaction = "generator_us_per_transaction"
            case postgresMicrosPerTransaction = "postgres_us_per_transaction"
        }

        public init(
            seconds: Double, cores: Int, machineBusy: Double?, processCores: Double, generatorCores: Double,
            postgresCores: Double?, transactions: Int
        ) {
            self.seconds = seconds
            self.cores = cores
            self.machineBusy = machineBusy
            self.processCores = processCores
            self.generatorCores = generatorCores
            self.postgresCores = postgresCores
            self.transactions = transactions
        }

        /// Cores' worth the machine spent on everything else: other processes (a compiler, another benchmark), and the
        /// kernel's work not charged to a process. The busy share of all cores less this process and PostgreSQL (when
        /// measured); `nil` without `/proc`. Well above zero, the run shared the machine and its latency says so.
        public var otherCores: Double? {
            guard let machineBusy else { return nil }
            let busy = machineBusy * Double(cores)
            return max(0, ((busy - processCores - (postgresCores ?? 0)) * 1000).rounded() / 1000)
        }

        /// Microseconds of CPU per transaction sent, for `cores` cores' worth over the window (to 0.1 µs).
        public func microsPerTransaction(_ cores: Double) -> Double {
            transactions > 0 ? (cores * seconds * 1e7 / Double(transactions)).rounded() / 10 : 0
        }

        /// The stored figures, then the derived ones beside them (decoding, synthesized, reads the stored ones only).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(seconds, forKey: .seconds)
            try container.encode(cores, forKey: .cores)
            try container.encodeIfPresent(machineBusy, forKey: .machineBusy)
            try container.encode(processCores, forKey: .processCores)
            try container.encode(generatorCores, forKey: .generatorCores)
            try container.encodeIfPresent(postgresCores, forKey: .postgresCores)
            try container.encode(transactions, forKey: .transactions)
            var derived = encoder.container(keyedBy: DerivedKeys.self)
            try derived.encodeIfPresent(otherCores, forKey: .otherCores)
            try derived.encode(microsPerTransaction(processCores), forKey: .processMicrosPerTransaction)
            try derived.encode(microsPerTransaction(generatorCores), forKey: .generatorMicrosPerTransaction)
            try derived.encodeIfPresent(postgresCores.map(microsPerTransaction), forKey: .postgresMicrosPerTransaction)
        }
    }

    /// Deliberate double-spend attempts and how many the switch approved (it should approve none).
    public struct DoubleSpends: Codable, Hashable, Sendable {
        public var attempts: Int
        public var approved: Int
    }

    /// How the run was set up.
    public struct Settings: Codable, Hashable, Sendable {
        public var target: String
        /// The rate asked for (`--rate`).
        public var rate: Double
        public var rampS: Double
        public var arrivals: String
        public var connections: Int
        public var threads: Int
        public var timeoutS: Double
        public var mix: [String: Int]
        public var seed: UInt64
        public var signatures: String

        enum CodingKeys: String, CodingKey {
            case target, rate, arrivals, connections, threads, mix, seed, signatures
            case rampS = "ramp_s"
            case timeoutS = "timeout_s"
        }

        public init(_ configuration: LoadConfiguration, rate: Double) {
            self.target = "\(configuration.host):\(configuration.port)"
            self.rate = rate
            self.rampS = configuration.ramp
            self.arrivals = configuration.arrivals.rawValue
            self.connections = configuration.connections
            self.threads = configuration.threads
            self.timeoutS = configuration.timeout
            self.mix = Dictionary(uniqueKeysWithValues: configuration.mix.weights.map { ($0.key.rawValue, $0.value) })
            self.seed = configuration.seed
            self.signatures = configuration.signatures.rawValue
        }
    }

    /// Requests sent per second of `duration_s`.
    public var offeredTPS: Double
    /// Answers (approved or declined) per second, over the time from the start to the last answer.
    public var achievedTPS: Double
    /// Seconds of sending.
    public var durationS: Double
    /// Seconds from the start to the last answer.
    public var elapsedS: Double
    /// Latency from the intended start (corrected for coordinated omission), all flows.
    public var latencyMs: Percentiles
    /// Service time from the actual send, all flows.
    public var serviceTimeMs: Percentiles
    /// Per flow name.
    public var flows: [String: FlowReport]
    /// Answers per DE 39.
    public var responseCodes: [String: Int]
    /// Latency per DE 39.
    public var responseCodeLatencyMs: [String: Percentiles]
    public var sent: Int
    public var approved: Int
    public var declined: Int
    /// Requests without an answer.
    public var errors: Int
    /// Requests without an answer, by reason (`timeout`, `not-signed-on`, `connection-closed`, `other`).
    public var errorKinds: [String: Int]
    /// Owner-change records the approvals imply, all flows: what the registry should hold for this run.
    public var ownerChangeRecords: Int
    /// Per flow, how often it could not be funded and another flow was sent instead.
    public var substitutions: [String: Int]
    public var doubleSpends: DoubleSpends?
    /// One entry per second.
    public var timeline: [Interval]
    /// Latency at percentiles, per flow name and `all`.
    public var percentileDistribution: [String: [PercentilePoint]]
    public var settings: Settings
    /// Filled in by `dcswitch demo`.
    public var registry: RegistryCheck?
    /// Filled in by `dcswitch demo`.
    public var conservation: ConservationCheck?
    /// Filled in by `dcswitch demo`: the journals every approval waits for, in the order it meets them.
    public var durability: [DurabilityPoint]?
    /// Where the CPU went during the traffic.
    public var cpu: CPUUsage?

    enum CodingKeys: String, CodingKey {
        case offeredTPS = "offered_tps"
        case achievedTPS = "achieved_tps"
        case durationS = "duration_s"
        case elapsedS = "elapsed_s"
        case latencyMs = "latency_ms"
        case serviceTimeMs = "service_time_ms"
        case flows
        case responseCodes = "response_codes"
        case responseCodeLatencyMs = "response_code_latency_ms"
        case sent, approved, declined, errors
        case errorKinds = "error_kinds"
        case ownerChangeRecords = "owner_change_records"
        case substitutions
        case doubleSpends = "double_spends"
        case timeline
        case percentileDistribution = "percentile_distribution"
        case settings
        case registry, conservation, durability, cpu
    }

    /// The report of a run's measurements.
    public init(
        settings: Settings, totals: Measurements, duration: Double, elapsed: Double, timeline: [Interval],
        substitutions: [Flow: Int]
    ) {
        self.settings = settings
        self.durationS = duration
        self.elapsedS = elapsed
        self.offeredTPS = duration > 0 ? Double(totals.sent) / duration : 0
        let span = Swift.max(duration, elapsed)
        self.achievedTPS = span > 0 ? Double(totals.answered) / span : 0
        self.latencyMs = Percentiles(totals.latency)
        self.serviceTimeMs = Percentiles(totals.service)
        var flows: [String: FlowReport] = [:]
        var distribution: [String: [PercentilePoint]] = ["all": Self.distribution(totals.latency)]
        for flow in Flow.allCases where totals[flow].sent > 0 {
            flows[flow.rawValue] = FlowReport(totals[flow])
            distribution[flow.rawValue] = Self.distribution(totals[flow].latency)
        }
        self.flows = flows
        self.percentileDistribution = distribution
        self.responseCodes = Dictionary(uniqueKeysWithValues: totals.responseCodes.map { (responseCodeText($0.key), $0.value) })
        self.responseCodeLatencyMs = Dictionary(uniqueKeysWithValues: totals.responseCodeLatency.map { (responseCodeText($0.key), Percentiles($0.value)) })
        self.sent = totals.sent
        self.approved = totals.approved
        self.declined = totals.declined
        self.errors = totals.errorCount
        self.errorKinds = Dictionary(uniqueKeysWithValues: totals.errors.map { ($0.key.rawValue, $0.value) })
        self.ownerChangeRecords = totals.ownerChangeRecords
        self.substitutions = Dictionary(uniqueKeysWithValues: substitutions.map { ($0.key.rawValue, $0.value) })
        self.doubleSpends = totals.doubleSpendAttempts > 0
            ? DoubleSpends(attempts: totals.doubleSpendAttempts, approved: totals.doubleSpendsApproved) : nil
        self.timeline = timeline
        self.registry = nil
        self.conservation = nil
        self.durability = nil
        self.cpu = nil
    }

    /// Percentile points of a histogram: 5 ticks per halving of the distance to 100 %, up to 99.9999 %.
    static func distribution(_ histogram: LatencyHistogram) -> [PercentilePoint] {
        guard histogram.totalCount > 0 else { return [] }
        var points: [PercentilePoint] = []
        var last = -1.0
        for value in histogram.percentiles(ticksPerHalfDistance: 5) {
            let p = value.percentileLevelIteratedTo
            guard p > last else { continue }
            last = p
            points.append(PercentilePoint(percentile: (p * 10_000).rounded() / 10_000, latencyMs: TextFormatting.milliseconds(value.value)))
            if p >= 99.9999 { break }
        }
        return points
    }
}

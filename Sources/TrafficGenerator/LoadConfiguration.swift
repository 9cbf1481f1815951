import DigitalCurrency

/// What a load run does: where it sends, how fast, for how long, which flows, and where its outputs go.
public struct LoadConfiguration: Sendable {
    /// How payers' signatures are made.
    public enum SignatureMode: String, Hashable, Sendable, CaseIterable {
        /// Payment authorizations are signed before the run (on all cores), taken in order while it runs; the
        /// send path signs only when the pool runs out and for redeems.
        case precomputed
        /// Every signed request is signed as it is sent.
        case inline
    }

    /// The switch's acquirer-facing host.
    public var host: String
    /// The switch's acquirer-facing port.
    public var port: Int
    /// Transactions per second once ramped up.
    public var rate: Double
    /// Seconds of sending (the ramp included).
    public var duration: Double
    /// Share of each flow.
    public var mix: TrafficMix
    /// TCP connections (ISO 8583 links), used round-robin.
    public var connections: Int
    /// Event-loop threads the generator sends from (each owns some connections and a share of the customers).
    public var threads: Int
    /// Seconds over which the rate rises linearly from 0.
    public var ramp: Double
    /// Constant spacing or Poisson arrivals.
    public var arrivals: ArrivalProcess
    /// Seconds a request may wait for its answer; afterwards it counts as an error (timeout).
    public var timeout: Double
    /// The shortest time between two sending wake-ups of a shard, seconds (0: wake for every transaction).
    /// Transactions that fall due in between are sent together at the next wake-up, one write per connection:
    /// fewer timers, system calls and segments per transaction. Their intended start times stay as the schedule
    /// has them and latency is still measured from them, so the wait (at most this long) shows in the latency,
    /// not in the service time. Above the rate's spacing only; slower rates send every transaction on time.
    public var sendTick: Double
    /// Amounts and deliberate declines.
    public var workload: WorkloadModel.Options
    /// Share (0–1) of wallet-paid requests that are sent twice with the same authorization (new STAN and RRN):
    /// deliberate double-spend attempts, which the switch should decline.
    public var doubleSpendFraction: Double
    /// DE 32, the acquiring institution the generator poses as.
    public var acquirer: String
    /// Seed of every random choice (payers, payees, amounts, Poisson gaps).
    public var seed: UInt64
    /// How payers' signatures are made.
    public var signatures: SignatureMode
    /// At most this many authorizations are signed ahead of a run.
    public var maximumPrecomputedSignatures: Int
    /// Seconds the links may take to connect and sign on before a run gives up.
    public var signOnTimeout: Double = 10
    /// Where to write one JSON line per approved transaction (`--record`), or `nil`.
    public var recordPath: String?
    /// Where to write the HdrHistogram interval log (`--hdr-log`), or `nil`.
    public var hdrLogPath: String?

    /// Creates a configuration; everything but the target, rate and duration has a default.
    public init(
        host: String,
        port: Int,
        rate: Double,
        duration: Double,
        mix: TrafficMix = .standard,
        connections: Int = 4,
        threads: Int = 1,
        ramp: Double = 0,
        arrivals: ArrivalProcess = .constant,
        timeout: Double = 5,
        workload: WorkloadModel.Options = .init(),
        doubleSpendFraction: Double = 0,
        acquirer: String = "30000000001",
        seed: UInt64 = 8583,
        signatures: SignatureMode = .precomputed,
        maximumPrecomputedSignatures: Int = 1_000_000,
        recordPath: String? = nil,
        hdrLogPath: String? = nil,
        sendTick: Double = 0.001
    ) {
        self.host = host
        self.port = port
        self.rate = rate
        self.duration = duration
        self.mix = mix
        self.connections = connections
        self.threads = threads
        self.ramp = ramp
        self.arrivals = arrivals
        self.timeout = timeout
        self.workload = workload
        self.doubleSpendFraction = doubleSpendFraction
        self.acquirer = acquirer
        self.seed = seed
        self.signatures = signatures
        self.maximumPrecomputedSignatures = maximumPrecomputedSignatures
        self.recordPath = recordPath
        self.hdrLogPath = hdrLogPath
        self.sendTick = sendTick
    }

    /// A problem with a configuration, named by its flag.
    public struct Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        public var flag: String
        public var reason: String
        public var description: String { "\(self.flag): \(self.reason)" }
    }

    /// Checks the values that would make a run meaningless.
    public func validate() throws(Invalid) {
        guard self.rate > 0, self.rate.isFinite else { throw Invalid(flag: "--rate", reason: "must be above 0") }
        guard self.duration > 0, self.duration.isFinite else { throw Invalid(flag: "--duration", reason: "must be above 0 seconds") }
        guard self.connections >= 1 else { throw Invalid(flag: "--connections", reason: "at least 1") }
        guard self.threads >= 1, self.threads <= self.connections else {
            throw Invalid(flag: "--threads", reason: "between 1 and the number of connections (\(self.connections))")
        }
        guard self.ramp >= 0, self.ramp <= self.duration else { throw Invalid(flag: "--ramp", reason: "between 0 and the duration") }
        guard self.timeout > 0 else { throw Invalid(flag: "--timeout", reason: "must be above 0 seconds") }
        guard self.sendTick >= 0, self.sendTick <= 0.1 else { throw Invalid(flag: "--send-tick", reason: "between 0 and 100 ms") }
        guard (0...1).contains(self.doubleSpendFraction) else { throw Invalid(flag: "--double-spend", reason: "a fraction between 0 and 1") }
        guard self.acquirer.count <= 11, !self.acquirer.isEmpty, self.acquirer.allSatisfy(\.isNumber) else {
            throw Invalid(flag: "--acquirer", reason: "1–11 digits")
        }
        let options = self.workload
        guard options.paymentAmount.lowerBound > 0, options.exchangeAmount.lowerBound > 0 else {
            throw Invalid(flag: "--amount", reason: "amounts must be above 0")
        }
        guard self.mix.weights.values.contains(where: { $0 > 0 }) else { throw Invalid(flag: "--mix", reason: "no flow has a weight") }
    }
}

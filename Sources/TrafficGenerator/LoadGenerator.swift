import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The open-loop traffic generator behind `dcswitch load` (and the traffic of `dcswitch demo`).
///
/// Every transaction has an intended start time (constant spacing or Poisson arrivals at the configured rate,
/// after an optional linear ramp) and is sent when it is due, however many are still unanswered. Latency is
/// measured from the intended start, so a stalled switch shows up as latency rather than as fewer requests
/// (the correction for coordinated omission that wrk2 makes); service time, from the actual send, is kept beside
/// it. Requests go round-robin over ``LoadConfiguration/connections`` ISO 8583 links. The workload is real: the
/// network's seeded cards, wallets and merchants, with balances tracked so that the generator asks only for money
/// that is there (see ``WorkloadModel``).
///
/// ```swift
/// let generator = LoadGenerator(configuration: .init(host: "127.0.0.1", port: 8583, rate: 10_000, duration: 30),
///                               network: network, eventLoopGroup: group, logger: logger)
/// let report = try await generator.run { progress in print(progress.line) }
/// try report.write(toPath: "report.json")
/// ```
///
/// A generator can run several times (``run(rate:progress:approvals:)``, ``sweep(_:progress:)``): what it knows of
/// every balance carries over from run to run, as the switch's books do.
public final class LoadGenerator: Sendable {
    /// What to run.
    public let configuration: LoadConfiguration
    /// The network whose seed data the workload draws on.
    public let network: NetworkConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let providedSeeds: [SeedData]?
    private let state: NIOLockedValueBox<State>

    private struct State {
        var shards: [NIOLoopBound<LoadShard>] = []
        var prepared = false
        var running = false
        var recordFile: AppendOnlyFile?
        var hdrLog: HistogramLogWriter?
        /// Uptime of the first run's start: the hdr log's time origin.
        var logOriginNanos: UInt64?
        var lastRRNPrefix: Int64 = -1
    }

    /// Why a run could not go ahead.
    public struct RunError: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { self.reason }
    }

    /// Creates a generator; nothing is connected or computed until ``prepare(expectedTransactions:)`` or a run.
    ///
    /// - Parameters:
    ///   - configuration: target, rate, mix, outputs.
    ///   - network: the network file's contents; its banks' seed data is the workload.
    ///   - seeds: the banks' seed data when the caller already generated it (`dcswitch demo`), in the network's
    ///     bank order; generated from `network` when `nil`.
    ///   - eventLoopGroup: the generator takes ``LoadConfiguration/threads`` event loops of it.
    ///   - logger: connection problems and run milestones (info level or quieter); never card numbers or keys.
    public init(
        configuration: LoadConfiguration, network: NetworkConfiguration, seeds: [SeedData]? = nil,
        eventLoopGroup: any EventLoopGroup, logger: Logger
    ) {
        self.configuration = configuration
        self.network = network
        self.providedSeeds = seeds
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(State())
    }

    // MARK: Preparation

    /// Builds the workload model from the seed data and, with precomputed signatures, signs the payment
    /// authorizations of `expectedTransactions` (by default: the configured rate × duration) on all cores.
    /// Runs call it when it was not called; call it early to keep its cost out of the first run's start-up.
    public func prepare(expectedTransactions: Int? = nil) async throws {
        if self.state.withLockedValue({ $0.prepared }) { return }
        try self.configuration.validate()
        let configuration = self.configuration
        let seeds: [SeedData]
        if let provided = self.providedSeeds {
            seeds = provided
        } else {
            let banks = self.network.banks
            seeds = await withTaskGroup(of: (Int, SeedData).self) { group in
                for (i, bank) in banks.enumerated() {
                    group.addTask { (i, SeedData(bank: bank)) }
                }
                var out: [SeedData?] = Array(repeating: nil, count: banks.count)
                for await (i, seed) in group { out[i] = seed }
                return out.map { $0! }
            }
        }
        guard !seeds.isEmpty else { throw RunError("the network has no banks") }
        let shardCount = configuration.threads
        let weights = configuration.mix.weights
        let total = weights.values.reduce(0, +)
        let paymentWeight = (weights[.nfc] ?? 0) + (weights[.qrCSB] ?? 0) + (weights[.inApp] ?? 0)
        let expected = expectedTransactions ?? Int(configuration.rate * configuration.duration)
        var signatures = 0
        if configuration.signatures == .precomputed, total > 0 {
            let share = Double(paymentWeight) / Double(total)
            signatures = min(configuration.maximumPrecomputedSignatures, Int(Double(expected) * share * 1.05) + 64)
        }
        let salt = LoadRandom.mix(configuration.seed ^ UInt64(bitPattern: UTCClock.nowNanoseconds()))
        var shards: [NIOLoopBound<LoadShard>] = []
        for k in 0..<shardCount {
            let model = WorkloadModel(seeds: seeds, options: configuration.workload, shard: k, of: shardCount)
            guard !model.customers.isEmpty else {
                throw RunError("shard \(k) of \(shardCount) has no customers: the network seeds too few for --threads \(shardCount)")
            }
            let poolNonces = NonceSource(salt: salt ^ (1 << 63), start: UInt64(k), stride: UInt64(shardCount))
            let pool = await AuthorizationPool.precompute(
                count: signatures / shardCount, model: model, amounts: configuration.workload.paymentAmount,
                nonces: poolNonces, seed: configuration.seed &+ UInt64(k) &* 7919, parallelism: System.coreCount
            )
            let loop = self.eventLoopGroup.next()
            let nonces = NonceSource(salt: salt, start: UInt64(k), stride: UInt64(shardCount))
            let builder = RequestBuilder(acquirer: configuration.acquirer)
            let logger = self.logger
            let seed = LoadRandom.mix(configuration.seed &+ UInt64(k) &+ 1)
            let shard = try await loop.submit {
                NIOLoopBound(
                    LoadShard(
                        index: k, shards: shardCount, eventLoop: loop, model: model, pool: pool, nonces: nonces, seed: seed,
                        builder: builder, mix: configuration.mix, doubleSpendFraction: configuration.doubleSpendFraction,
                        logger: logger
                    ),
                    eventLoop: loop
                )
            }.get()
            shards.append(shard)
        }
        self.logger.info(
            "load generator prepared",
            metadata: ["load.shards": "\(shardCount)", "load.signatures": "\(signatures)", "load.banks": "\(seeds.count)"]
        )
        self.state.withLockedValue {
            $0.shards = shards
            $0.prepared = true
        }
    }

    // MARK: Runs

    /// Runs once at `rate` (the configured rate when `nil`) for the configured duration and reports.
    ///
    /// - Parameters:
    ///   - rate: transactions per second.
    ///   - progress: called once a second (from a task, not an event loop) with the last second's figures.
    ///   - approvals: called on a generator event loop for every approval (keep it cheap).
    ///   - postgresCPUSeconds: the CPU seconds a PostgreSQL cluster has used so far, when the caller runs one (`demo`);
    ///     the report's ``LoadReport/cpu`` then says what it spent during the traffic.
    public func run(
        rate: Double? = nil,
        progress: (@Sendable (LoadProgress) -> Void)? = nil,
        approvals: (@Sendable (ApprovalRecord) -> Void)? = nil,
        postgresCPUSeconds: (@Sendable () -> Double?)? = nil
    ) async throws -> LoadReport {
        try await self.prepare()
        let rate = rate ?? self.configuration.rate
        guard rate > 0 else { throw RunError("--rate must be above 0") }
        try self.state.withLockedValue { state in
            guard !state.running else { throw RunError("a run is already going on") }
            state.running = true
        }
        defer { self.state.withLockedValue { $0.running = false } }
        let configuration = self.configuration
        let shards = self.state.withLockedValue { $0.shards }
        try self.openOutputs()

        // Links: connection i belongs to shard i % threads and lives on its event loop.
        guard let spec = MessageSpec.builtin("dcswitch-1987") else { throw RunError("the dcswitch-1987 spec is missing") }
        let codec = ISO8583LinkCodec(spec: spec)
        var linkLogger = self.logger
        if linkLogger.logLevel > .debug, linkLogger.logLevel < .warning {
            // A timeout per request at info level would flood the log at thousands per second.
            linkLogger.logLevel = .warning
        }
        var linksByShard: [[LoadShard.Link]] = Array(repeating: [], count: shards.count)
        for i in 0..<configuration.connections {
            let shard = shards[i % shards.count]
            let link = LoadShard.Link(
                configuration: .init(
                    host: configuration.host, port: configuration.port, name: "load-\(i)",
                    requestTimeout: .nanoseconds(Int64(configuration.timeout * 1e9))
                ),
                codec: codec, eventLoopGroup: shard.eventLoop, logger: linkLogger
            )
            linksByShard[i % shards.count].append(link)
        }
        let allLinks = linksByShard.flatMap { $0 }
        for link in allLinks { link.start() }
        do {
            try await Self.waitForSignOn(allLinks, within: .nanoseconds(Int64(configuration.signOnTimeout * 1e9)), on: shards[0].eventLoop)
        } catch {
            for link in allLinks { _ = try? await link.shutdown().get() }
            throw RunError("cannot sign on to \(configuration.host):\(configuration.port) within \(TextFormatting.fixed(configuration.signOnTimeout, 1)) s: \(error)")
        }

        let (rrnPrefix, recordFile, hdrLog) = self.state.withLockedValue { state -> ([UInt8], AppendOnlyFile?, HistogramLogWriter?) in
            var second = UTCClock.nowNanoseconds() / 1_000_000_000
            if second <= state.lastRRNPrefix { second = state.lastRRNPrefix + 1 }
            state.lastRRNPrefix = second
            return (Self.rrnPrefix(second), state.recordFile, state.hdrLog)
        }
        // Read before the start is fixed: reading a cluster's CPU scans /proc, which must not make the first sends late.
        let cpuBefore = try await CPUReading.take(shards.map(\.eventLoop), postgres: postgresCPUSeconds)
        let start = NIODeadline.now() + .milliseconds(20)
        let logOrigin = self.state.withLockedValue { state in
            if state.logOriginNanos == nil { state.logOriginNanos = start.uptimeNanoseconds }
            return state.logOriginNanos!
        }
        for (k, shard) in shards.enumerated() {
            let schedule = ArrivalSchedule(
                rate: rate / Double(shards.count), duration: configuration.duration, ramp: configuration.ramp,
                process: configuration.arrivals, phase: Double(k) / Double(shards.count),
                seed: LoadRandom.mix(configuration.seed ^ UInt64(k + 1) &* 0x9E37)
            )
            let parameters = LoadShard.RunParameters(
                start: start, schedule: schedule, links: linksByShard[k], timeout: .nanoseconds(Int64(configuration.timeout * 1e9)),
                tickNanoseconds: UInt64(configuration.sendTick * 1e9), rrnPrefix: rrnPrefix, recordFile: recordFile, approvalHandler: approvals
            )
            try await shard.eventLoop.submit { shard.value.begin(parameters) }.get()
        }
        self.logger.info("load run started", metadata: ["load.rate": "\(rate)", "load.duration": "\(configuration.duration)"])

        // Once a second: take every shard's interval, report progress, log histograms.
        var timeline: [LoadReport.Interval] = []
        var errorsSoFar = 0
        var declinedSoFar = 0
        var second = 1
        let hardStop = Int((configuration.duration + configuration.timeout).rounded(.up)) + 3
        var cancelled = false
        while true {
            let deadline = start + .seconds(Int64(second))
            let wait = deadline.uptimeNanoseconds > NIODeadline.now().uptimeNanoseconds
                ? deadline.uptimeNanoseconds - NIODeadline.now().uptimeNanoseconds : 0
            do {
                try await Task.sleep(nanoseconds: wait)
            } catch {
                cancelled = true
            }
            var merged = Measurements(keepsResponseCodeLatency: false)
            var inFlight = 0
            var sending = false
            for shard in shards {
                let (measurements, shardInFlight, shardSending) = try await shard.eventLoop.submit {
                    let taken = shard.value.takeInterval()
                    return (taken.0, taken.inFlight, taken.sending)
                }.get()
                merged.add(measurements)
                inFlight += shardInFlight
                sending = sending || shardSending
            }
            errorsSoFar += merged.errorCount
            declinedSoFar += merged.declined
            let latency = LoadReport.Percentiles(merged.latency)
            timeline.append(LoadReport.Interval(
                t: Double(second), offeredTPS: Double(merged.sent), achievedTPS: Double(merged.answered),
                approved: merged.approved, declined: merged.declined, errors: merged.errorCount, inFlight: inFlight,
                latencyMs: latency, serviceTimeMs: LoadReport.Percentiles(merged.service)
            ))
            progress?(LoadProgress(
                elapsed: Double(second), offeredTPS: Double(merged.sent), achievedTPS: Double(merged.answered),
                p50: latency.p50, p99: latency.p99, p999: latency.p999, errors: errorsSoFar, declined: declinedSoFar,
                inFlight: inFlight
            ))
            let intervalStart = Double(start.uptimeNanoseconds &- logOrigin) / 1e9 + Double(second - 1)
            hdrLog?.append(interval: merged, start: intervalStart, length: 1)
            if (!sending && inFlight == 0) || cancelled || second >= hardStop {
                if sending || cancelled {
                    for shard in shards { try await shard.eventLoop.submit { shard.value.stop() }.get() }
                }
                break
            }
            second += 1
        }

        let cpuAfter = try await CPUReading.take(shards.map(\.eventLoop), postgres: postgresCPUSeconds)

        // Shut the links down (failing whatever is still in flight), then gather the totals.
        for link in allLinks { _ = try? await link.shutdown().get() }
        var totals = Measurements()
        var substitutions: [Flow: Int] = [:]
        var lastAnswer: UInt64 = 0
        for shard in shards {
            try await shard.eventLoop.submit { shard.value.whenIdle() }.get().get()
            let (measurements, shardSubstitutions, shardLastAnswer) = try await shard.eventLoop.submit {
                let value = shard.value
                value.end()
                return (value.totals, value.model.substitutions, value.lastAnswerNanos)
            }.get()
            totals.add(measurements)
            for (flow, n) in shardSubstitutions { substitutions[flow, default: 0] += n }
            lastAnswer = max(lastAnswer, shardLastAnswer)
        }
        let elapsed = lastAnswer > start.uptimeNanoseconds ? Double(lastAnswer - start.uptimeNanoseconds) / 1e9 : 0
        var report = LoadReport(
            settings: .init(configuration, rate: rate), totals: totals, duration: configuration.duration, elapsed: elapsed,
            timeline: timeline, substitutions: substitutions
        )
        report.cpu = cpuAfter.usage(since: cpuBefore, transactions: totals.sent)
        self.logger.info(
            "load run finished",
            metadata: ["load.sent": "\(report.sent)", "load.approved": "\(report.approved)", "load.errors": "\(report.errors)"]
        )
        if cancelled { throw CancellationError() }
        return report
    }

    /// Closes the `--record` and `--hdr-log` files (runs after this reopen and truncate them).
    public func close() {
        self.state.withLockedValue { state in
            state.recordFile?.close()
            state.recordFile = nil
            state.hdrLog?.close()
            state.hdrLog = nil
            state.logOriginNanos = nil
        }
    }

    /// The workload model of every shard as it stands (balances the generator believes in).
    public func workloadModels() async throws -> [WorkloadModel] {
        try await self.prepare()
        let shards = self.state.withLockedValue { $0.shards }
        var models: [WorkloadModel] = []
        for shard in shards {
            models.append(try await shard.eventLoop.submit { shard.value.model }.get())
        }
        return models
    }

    // MARK: Helpers

    private func openOutputs() throws {
        try self.state.withLockedValue { state in
            if let path = self.configuration.recordPath, state.recordFile == nil {
                state.recordFile = try AppendOnlyFile(path: path)
            }
            if let path = self.configuration.hdrLogPath, state.hdrLog == nil {
                state.hdrLog = try HistogramLogWriter(path: path, startNanosecondsSinceEpoch: UTCClock.nowNanoseconds())
            }
        }
    }

    /// Five base-36 characters of the run's start second (they repeat after about two years): with a 7-character
    /// sequence, RRNs do not repeat between runs against a switch that remembers them.
    static func rrnPrefix(_ second: Int64) -> [UInt8] {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        var v = UInt64(second) % 60_466_176
        var out = [UInt8](repeating: 48, count: 5)
        for i in (0..<5).reversed() {
            out[i] = alphabet[Int(v % 36)]
            v /= 36
        }
        return out
    }

    static func waitForSignOn(_ links: [LoadShard.Link], within timeout: TimeAmount, on eventLoop: any EventLoop) async throws {
        let all = EventLoopFuture.andAllSucceed(links.map { $0.waitForSignOn() }, on: eventLoop)
        let promise = eventLoop.makePromise(of: Void.self)
        let done = NIOLockedValueBox(false)
        let timer = eventLoop.scheduleTask(in: timeout) {
            guard done.withLockedValue({ d in defer { d = true }; return !d }) else { return }
            promise.fail(RunError("\(links.filter { $0.state != .signedOn }.count) of \(links.count) links not signed on"))
        }
        all.whenComplete { result in
            timer.cancel()
            guard done.withLockedValue({ d in defer { d = true }; return !d }) else { return }
            promise.completeWith(result)
        }
        try await promise.futureResult.get()
    }
}

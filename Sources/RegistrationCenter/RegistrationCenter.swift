import DigitalCurrency
import Histogram
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The central bank's registration center: the ``OwnerChangeSink`` the switch holds, and a `Service` that moves
/// records from the journal into PostgreSQL.
///
/// ``append(_:on:)`` writes the records to the ``RegistryJournal`` and succeeds once they are synced to disk; the
/// switch answers the acquirer only then. The batcher (``run()``) takes durable records in order and flushes them to
/// PostgreSQL when ``Configuration/maxBatchRecords`` are waiting or the oldest has waited
/// ``Configuration/maxBatchAge``, through ``RegistryWriter``-style idempotent batches; then the journal is
/// checkpointed. When PostgreSQL is down, the batcher retries with backoff while the journal keeps taking records, up
/// to ``Configuration/maxBacklogRecords`` journaled-but-uncommitted records; beyond that `append` fails with
/// `OwnerChangeSinkError(.backlogFull)` and the switch declines. After a crash, records journaled but not committed
/// are replayed on start; replays never duplicate.
///
/// ```swift
/// let center = try RegistrationCenter(
///     configuration: .init(journalDirectory: ".dcswitch/journal"),
///     database: postgres.clientConfiguration(), logger: logger)
/// let group = ServiceGroup(services: [center, theSwitch], logger: logger)  // the switch holds `center` as its sink
/// ```
public final class RegistrationCenter: Service, OwnerChangeSink, Sendable {
    /// When owner-change records are applied to the `coins` table (owner, status) and checked for double spends.
    public enum CoinStateMode: Sendable, Hashable {
        /// In the batch's own transaction: coin state and alerts are current whenever a batch is committed. Costs
        /// PostgreSQL about as much again as the records themselves (a keyed update or insert per record), on the
        /// batcher's one backend.
        case inBatchTransaction
        /// In a later transaction per batch, in batch order, on a second connection that runs beside the batcher
        /// (PostgreSQL applies batch N while it ingests batch N + 1); once `maxLagRecords` committed records wait to
        /// be applied, ingest pauses until the lag is back under the bound. The records are durable and registered
        /// at COPY speed; coin state and alerts follow within the lag. Batches committed but not applied when a
        /// process stops are applied at the next start, in either mode.
        case deferred(maxLagRecords: Int)
    }

    /// Batching, backlog and retry settings.
    public struct Configuration: Sendable {
        /// The journal (directory, segment size).
        public var journal: RegistryJournal.Configuration
        /// Flush as soon as this many records wait. At most this many records go into one batch (whole journal
        /// entries: a batch may exceed it by the records of one append).
        public var maxBatchRecords: Int
        /// Flush when the oldest waiting record has waited this long.
        public var maxBatchAge: Duration
        /// Records journaled but not yet committed in PostgreSQL beyond which `append` refuses with `.backlogFull`.
        public var maxBacklogRecords: Int
        /// First retry delay after a failed flush; doubles up to ``maxRetryDelay``.
        public var initialRetryDelay: Duration
        /// Longest retry delay.
        public var maxRetryDelay: Duration
        /// When records are applied to coin state (see ``CoinStateMode``).
        public var coinState: CoinStateMode
        /// In deferred mode, committed batches' records are kept in memory for their coin application up to this
        /// many records; batches beyond are read back from `owner_changes` when their turn comes.
        public var maxRetainedRecords: Int
        /// A flush attempt (one PostgreSQL transaction) that takes longer is cancelled and retried.
        public var flushTimeout: Duration
        /// On graceful shutdown, how long to keep trying to flush what is waiting (it stays in the journal
        /// otherwise and is replayed at the next start).
        public var shutdownDrainTimeout: Duration

        /// Defaults chosen by measurement (see the RegistryIngest benchmark): batches of up to 20,000 records or
        /// 100 ms, a backlog of 500,000 records (about 50 s of the 10,000 TPS workload), and coin state applied
        /// `.deferred(maxLagRecords: 200_000)`.
        ///
        /// Why deferred: on the 2-core box (RegistryIngest, 1M records, same run, counting a record only once its
        /// coin state is applied) deferred sustained 30,000 records/s against 21,100 in the batch transaction with
        /// the history indexes (0.74 against 0.52 of raw COPY), 45,400 against 39,200 without them, and a lower batch
        /// age (p99 4.6 s against 12.6 s at saturation): PostgreSQL applies batch N on a second backend while it
        /// ingests batch N + 1, so coin state uses the second core. It keeps every guarantee: records are committed
        /// and the journal checkpointed exactly as in the other mode (nothing lost, nothing twice); coin state is
        /// applied once per batch, in batch order, with the same ``CoinLedger`` checks (double spends and wrong owners
        /// flagged, within the lag); ``RegistryDatabase/conservation()`` counts issuance of applied batches only, so
        /// it holds at any instant; ``waitUntilCommitted(includingCoinState:)`` waits for coin state by default; and
        /// batches a process leaves unapplied are applied at the next start. What it gives up: coin state and alerts
        /// trail the committed records by up to `maxLagRecords` (about 2 s at 100,000 records/s, one batch at the
        /// switch's 10,000 TPS).
        public init(
            journalDirectory: String = ".dcswitch/journal",
            maxBatchRecords: Int = 20_000,
            maxBatchAge: Duration = .milliseconds(100),
            maxBacklogRecords: Int = 500_000,
            initialRetryDelay: Duration = .milliseconds(100),
            maxRetryDelay: Duration = .seconds(5),
            coinState: CoinStateMode = .deferred(maxLagRecords: 200_000),
            maxRetainedRecords: Int = 200_000,
            flushTimeout: Duration = .seconds(60),
            shutdownDrainTimeout: Duration = .seconds(10)
        ) {
            self.coinState = coinState
            self.maxRetainedRecords = maxRetainedRecords
            self.flushTimeout = flushTimeout
            self.journal = RegistryJournal.Configuration(directory: journalDirectory)
            self.maxBatchRecords = maxBatchRecords
            self.maxBatchAge = maxBatchAge
            self.maxBacklogRecords = maxBacklogRecords
            self.initialRetryDelay = initialRetryDelay
            self.maxRetryDelay = maxRetryDelay
            self.shutdownDrainTimeout = shutdownDrainTimeout
        }
    }

    /// A snapshot of the registration center's counters.
    public struct Statistics: Sendable {
        /// Records accepted by `append` (or replayed) and not yet committed in PostgreSQL.
        public var backlogRecords: Int
        /// Records durable in the journal and waiting for a flush (part of the backlog).
        public var queuedRecords: Int
        /// How long the oldest uncommitted record has been waiting (since it became durable), if any.
        public var oldestUncommittedAge: Duration?
        /// Records committed (inserted or found already there).
        public var committedRecords: UInt64
        /// Records inserted by this process.
        public var insertedRecords: UInt64
        /// Records that were already registered (replays).
        public var duplicateRecords: UInt64
        /// Batches committed by this process.
        public var batches: UInt64
        /// Batches that needed the idempotent or exact path.
        public var slowPathBatches: UInt64
        /// Alerts raised by this process.
        public var alerts: UInt64
        /// Failed flush attempts (PostgreSQL down, …).
        public var flushFailures: UInt64
        /// `append` calls refused because the backlog was full.
        public var backlogRefusals: UInt64
        /// Whether the last flush attempt succeeded.
        public var databaseAvailable: Bool
        /// Committed records not yet applied to coin state (deferred mode).
        public var unappliedRecords: Int
        /// Committed batches not yet applied to coin state (deferred mode; includes batches found at start).
        public var unappliedBatches: Int
        /// Per deferred coin application: its transaction's duration.
        public var coinApplyDuration: DurationHistogram
        /// Per record: created (its `createdAtNanos`) → its batch committed.
        public var batchAge: DurationHistogram
        /// Per batch: the PostgreSQL transaction's duration.
        public var flushDuration: DurationHistogram
        /// Records per committed batch.
        public var batchSizes: DurationHistogram
        /// The journal's counters (group commit).
        public var journal: RegistryJournal.Statistics
    }

    /// What the batcher reports for each committed batch.
    public struct BatchCommit: Sendable {
        public var batchID: Int64
        public var records: Int
        public var inserted: Int
        public var alerts: [RegistryAlert]
        /// The records' `createdAtNanos`, in batch order.
        public var createdAtNanos: [Int64]
        /// Wall-clock commit time, nanoseconds since the Unix epoch.
        public var committedAtNanos: Int64
    }

    private struct PendingApply {
        var batchID: Int64
        /// `nil`: read back from the database when applied.
        var records: [OwnerChangeRecord]?
        var count: Int
        /// `committedRecords` right after this batch committed.
        var committedMark: UInt64
    }

    private struct QueuedEntry {
        var entry: RegistryJournal.Entry
        var replayed: Bool
        var durableAt: UInt64
    }

    private struct State {
        var backlog = 0
        var queue: [QueuedEntry] = []
        /// The next entry to hand to a flush.
        var queueHead = 0
        /// The first entry not yet committed (entries from here to `queueHead` are being flushed).
        var committedHead = 0
        var queuedRecords = 0
        var closed = false
        var draining = false
        var committedRecords: UInt64 = 0
        var insertedRecords: UInt64 = 0
        var batches: UInt64 = 0
        var slowPathBatches: UInt64 = 0
        var alerts: UInt64 = 0
        var flushFailures: UInt64 = 0
        var backlogRefusals: UInt64 = 0
        var databaseAvailable = true
        var batchAge = DurationHistogram.twoDigits()
        var flushDuration = DurationHistogram.twoDigits()
        var batchSizes = DurationHistogram.twoDigits()
        /// Waiters of `waitUntilCommitted`: done once `target` records are committed (and applied, if asked).
        var drainWaiters: [(target: UInt64, applied: Bool, continuation: CheckedContinuation<Void, Never>)] = []
        /// Deferred mode: committed batches waiting for coin application, oldest first.
        var pendingApply: [PendingApply] = []
        var pendingApplyHead = 0
        var pendingApplyRecords = 0
        var retainedRecords = 0
        /// `committedRecords` as of the last batch whose coin state is applied.
        var appliedMark: UInt64 = 0
        var unappliedLoaded = false
        /// The flush loop has returned (the applier stops too, leaving what is pending for the next start).
        var flushLoopStopped = false
        /// `run()` has returned: nothing will be committed or applied any more, so nobody waits for it.
        var finished = false
        var coinApplyDuration = DurationHistogram.twoDigits()
        var acceptedRecords: UInt64 = 0
        /// Migrations applied; waiters of `waitUntilReady`.
        var ready = false
        var readyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// The configuration in use.
    public let configuration: Configuration
    /// Queries, registration and issuance on the same database.
    public let database: RegistryDatabase
    private let client: PostgresClient
    private let connectionConfiguration: PostgresConnection.Configuration
    let journal: RegistryJournal
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    private let signal = FlushSignal()
    /// Wakes the deferred coin-state applier (a batch committed, or the flush loop stopped).
    private let applySignal = FlushSignal()
    private let onBatchCommitted: (@Sendable (BatchCommit) -> Void)?
    private let metrics: MetricHandles

    private struct MetricHandles: Sendable {
        var committed = Counter(label: "registry_records_committed_total")
        var batches = Counter(label: "registry_batches_total")
        var flushFailures = Counter(label: "registry_flush_failures_total")
        var refusals = Counter(label: "registry_backlog_refusals_total")
        var backlog = Gauge(label: "registry_backlog_records")
        var flushTimer = Timer(label: "registry_batch_flush_duration")
        var alerts: [RegistryAlert.Kind: Counter] = Dictionary(
            uniqueKeysWithValues: RegistryAlert.Kind.allCases.map {
                ($0, Counter(label: "registry_alerts_total", dimensions: [("kind", $0.rawValue)]))
            })
    }

    /// Opens the journal (its uncommitted tail is queued for replay) and prepares the database connections.
    ///
    /// - Parameters:
    ///   - database: Where the registry lives (``EmbeddedPostgres/databaseURL(database:)`` or a parsed
    ///     `--database-url`). The batcher keeps one connection of its own, reconnecting with backoff; queries and
    ///     issuance (``database``) use a small pool. Both run inside ``run()``.
    ///   - onBatchCommitted: Called after each batch commits (benchmarks measure batch age with it).
    public init(
        configuration: Configuration,
        database: DatabaseURL,
        logger: Logger,
        onBatchCommitted: (@Sendable (BatchCommit) -> Void)? = nil
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.onBatchCommitted = onBatchCommitted
        self.metrics = MetricHandles()
        self.connectionConfiguration = try database.connectionConfiguration()
        var clientConfiguration = database.clientConfiguration
        clientConfiguration.options.maximumConnections = 4
        self.client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        self.database = RegistryDatabase(client: client, logger: logger)
        let state = NIOLockedValueBox(State())
        self.state = state
        let signal = self.signal
        let maxBatch = configuration.maxBatchRecords
        let (journal, recovered) = try RegistryJournal.open(configuration.journal, logger: logger) { entries in
            Self.intake(entries, replayed: false, state: state, signal: signal, maxBatch: maxBatch)
        }
        self.journal = journal
        if !recovered.isEmpty {
            let count = recovered.reduce(0) { $0 + $1.records.count }
            state.withLockedValue {
                $0.backlog += count
                $0.acceptedRecords += UInt64(count)
            }
            Self.intake(recovered, replayed: true, state: state, signal: signal, maxBatch: maxBatch)
        }
    }

    // MARK: - OwnerChangeSink

    /// Journals the records; the future succeeds once they are on disk (fsync'ed).
    ///
    /// Fails with `OwnerChangeSinkError(.backlogFull)` when the uncommitted backlog would exceed
    /// ``Configuration/maxBacklogRecords``, `.closed` after shutdown, `.ioFailure` when the journal cannot write.
    public func append(_ records: [OwnerChangeRecord], on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        if let refusal = reserve(records.count) { return eventLoop.makeFailedFuture(refusal) }
        let future = journal.append(records, on: eventLoop)
        future.whenFailure { [self] _ in self.release(records.count) }
        return future
    }

    /// ``append(_:on:)`` for async callers.
    public func append(_ records: [OwnerChangeRecord]) async throws {
        if let refusal = reserve(records.count) { throw refusal }
        do {
            try await journal.append(records)
        } catch {
            release(records.count)
            throw error
        }
    }

    private func reserve(_ count: Int) -> OwnerChangeSinkError? {
        let refusal = state.withLockedValue { state -> OwnerChangeSinkError? in
            if state.closed { return OwnerChangeSinkError(.closed, "the registration center is shut down") }
            if state.backlog + count > configuration.maxBacklogRecords && count > 0 {
                state.backlogRefusals += 1
                return OwnerChangeSinkError(
                    .backlogFull,
                    "registry backlog full: \(state.backlog) records not yet committed (bound \(configuration.maxBacklogRecords))"
                )
            }
            state.backlog += count
            state.acceptedRecords += UInt64(count)
            return nil
        }
        if refusal?.code == .backlogFull { metrics.refusals.increment() }
        return refusal
    }

    private func release(_ count: Int) {
        state.withLockedValue {
            $0.backlog -= count
            $0.acceptedRecords -= UInt64(count)
        }
    }

    private static func intake(
        _ entries: [RegistryJournal.Entry], replayed: Bool, state: NIOLockedValueBox<State>, signal: FlushSignal,
        maxBatch: Int
    ) {
        let now = RegistryJournal.monotonicNanos()
        let wake = state.withLockedValue { state -> Bool in
            let wasEmpty = state.queuedRecords == 0
            for entry in entries {
                state.queue.append(QueuedEntry(entry: entry, replayed: replayed, durableAt: now))
                state.queuedRecords += entry.records.count
            }
            return wasEmpty || state.queuedRecords >= maxBatch
        }
        if wake { signal.signal() }
    }

    // MARK: - Service

    /// Runs the PostgreSQL client, applies migrations, and flushes batches until graceful shutdown (then drains what
    /// it can within ``Configuration/shutdownDrainTimeout`` and closes the journal) or cancellation.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { loops in
                    loops.addTask {
                        await self.flushLoop()
                        self.state.withLockedValue { $0.flushLoopStopped = true }
                        self.applySignal.signal()
                    }
                    if self.deferredLag != nil {
                        loops.addTask { await self.applyLoop() }
                    }
                }
            } onGracefulShutdown: {
                self.shutdown()
            }
            await journal.close()
            // Whatever could not be committed or applied (PostgreSQL gone past the drain deadline) stays in the
            // journal for the next start; whoever waits for it is released now rather than never.
            let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.finished = true
                defer { state.drainWaiters.removeAll() }
                return state.drainWaiters.map(\.continuation)
            }
            for waiter in waiters { waiter.resume() }
            group.cancelAll()
        }
    }

    /// Stops taking records and drains: the same as a graceful shutdown of the service group.
    public func shutdown() {
        state.withLockedValue {
            $0.closed = true
            $0.draining = true
        }
        signal.signal()
    }

    /// Waits until every record accepted before this call is committed in PostgreSQL and, unless
    /// `includingCoinState` is `false`, applied to coin state (which in deferred mode may come later).
    public func waitUntilCommitted(includingCoinState: Bool = true) async {
        let target = state.withLockedValue { $0.acceptedRecords }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLockedValue { state -> Bool in
                if state.finished || Self.reached(target, applied: includingCoinState, state) { return true }
                state.drainWaiters.append((target, includingCoinState, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    private static func reached(_ target: UInt64, applied: Bool, _ state: State) -> Bool {
        state.committedRecords >= target && (!applied || state.appliedMark >= target)
    }

    private static func readyWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        var ready: [CheckedContinuation<Void, Never>] = []
        let snapshot = state
        state.drainWaiters.removeAll { waiter in
            guard reached(waiter.target, applied: waiter.applied, snapshot) else { return false }
            ready.append(waiter.continuation)
            return true
        }
        return ready
    }

    /// Waits until the database is reachable and migrated (so ``database`` can be used for issuance and queries).
    public func waitUntilReady() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLockedValue { state -> Bool in
                if !state.ready { state.readyWaiters.append(continuation) }
                return state.ready
            }
            if ready { continuation.resume() }
        }
    }

    /// A snapshot of the counters.
    public func statistics() -> Statistics {
        let journalStatistics = journal.statistics()
        let now = RegistryJournal.monotonicNanos()
        return state.withLockedValue { state in
            let oldest = state.committedHead < state.queue.count ? state.queue[state.committedHead].durableAt : nil
            return Statistics(
                backlogRecords: state.backlog,
                queuedRecords: state.queuedRecords,
                oldestUncommittedAge: oldest.map { .nanoseconds(Int64(now &- $0)) },
                committedRecords: state.committedRecords,
                insertedRecords: state.insertedRecords,
                duplicateRecords: state.committedRecords - state.insertedRecords,
                batches: state.batches,
                slowPathBatches: state.slowPathBatches,
                alerts: state.alerts,
                flushFailures: state.flushFailures,
                backlogRefusals: state.backlogRefusals,
                databaseAvailable: state.databaseAvailable,
                unappliedRecords: state.pendingApplyRecords,
                unappliedBatches: state.pendingApply.count - state.pendingApplyHead,
                coinApplyDuration: state.coinApplyDuration,
                batchAge: state.batchAge,
                flushDuration: state.flushDuration,
                batchSizes: state.batchSizes,
                journal: journalStatistics)
        }
    }

    // MARK: - Batcher

    private enum Decision: Equatable {
        case flush
        case wait(Duration?)
        case stop
    }

    private var deferredLag: Int? {
        if case .deferred(let maxLag) = configuration.coinState { return maxLag }
        return nil
    }

    private func flushLoop() async {
        var connection: PostgresConnection?
        var migrated = false
        var retryDelay = configuration.initialRetryDelay
        var drainDeadline: ContinuousClock.Instant?
        defer {
            if let connection { Task { try? await connection.close() } }
        }
        while !Task.isCancelled {
            if connection == nil || !migrated {
                do {
                    let fresh = try await connectIfNeeded(connection)
                    connection = fresh
                    if !migrated {
                        try await RegistrySchema.migrate(fresh, logger: logger)
                        try await loadUnappliedBatches(on: fresh)
                        if deferredLag == nil {
                            // Batches a deferred-mode process committed but did not apply: apply them before any
                            // new batch applies its own coin state, so that coin state follows batch order.
                            while state.withLockedValue({ $0.pendingApplyHead < $0.pendingApply.count }) {
                                try await applyNextBatch(on: fresh)
                            }
                        }
                        migrated = true
                        let waiters = state.withLockedValue { state in
                            state.ready = true
                            defer { state.readyWaiters.removeAll() }
                            return state.readyWaiters
                        }
                        for waiter in waiters { waiter.resume() }
                        applySignal.signal()
                    }
                } catch {
                    logger.warning(
                        "Registry database not reachable; retrying", metadata: ["error": "\(String(reflecting: error))"])
                    await dropConnection(&connection)
                    state.withLockedValue {
                        $0.flushFailures += 1
                        $0.databaseAvailable = false
                    }
                    if await backOff(&retryDelay, deadline: &drainDeadline) { return }
                    continue
                }
            }
            let decision = flushDecision()
            if let maxLag = deferredLag, decision == .flush,
                state.withLockedValue({ $0.pendingApplyRecords >= maxLag })
            {
                // Back-pressure: coin state is `maxLag` records behind; let the applier catch up (it signals).
                await signal.wait(timeout: .milliseconds(50))
                continue
            }
            switch decision {
            case .stop:
                return
            case .wait(let timeout):
                await signal.wait(timeout: timeout)
            case .flush:
                let entries = takeBatch()
                // Replayed entries try the direct COPY too (most were never committed; the writer falls back to the
                // idempotent path on the first duplicate). A retry after a failure goes idempotent at once.
                var attemptReplay = false
                while true {
                    do {
                        let open = try await connectIfNeeded(connection)
                        connection = open
                        try await flush(entries, mayContainDuplicates: attemptReplay, on: open)
                        retryDelay = configuration.initialRetryDelay
                        break
                    } catch {
                        // The transaction may have committed before the error reached us: retry idempotently, on a
                        // fresh connection.
                        attemptReplay = true
                        await dropConnection(&connection)
                        state.withLockedValue {
                            $0.flushFailures += 1
                            $0.databaseAvailable = false
                        }
                        metrics.flushFailures.increment()
                        logger.warning(
                            "Registry batch flush failed; retrying",
                            metadata: ["error": "\(String(reflecting: error))", "registry.entries": "\(entries.count)"])
                        if await backOff(&retryDelay, deadline: &drainDeadline) {
                            // Shutting down with PostgreSQL unreachable: the journal keeps the records for the
                            // next start.
                            return
                        }
                    }
                }
            }
        }
    }

    private func connectIfNeeded(_ connection: PostgresConnection?, id: Int = 1) async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        return try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: connectionConfiguration, id: id,
            logger: logger)
    }

    private func dropConnection(_ connection: inout PostgresConnection?) async {
        if let open = connection { try? await open.close() }
        connection = nil
    }

    /// Sleeps before a retry. Returns `true` when the loop must give up (cancelled, or draining past its deadline).
    private func backOff(_ delay: inout Duration, deadline: inout ContinuousClock.Instant?) async -> Bool {
        if state.withLockedValue({ $0.draining }) {
            let limit = deadline ?? ContinuousClock.now + configuration.shutdownDrainTimeout
            deadline = limit
            if ContinuousClock.now >= limit {
                logger.warning("Registry shutdown with records still uncommitted; they stay in the journal")
                return true
            }
        }
        try? await Task.sleep(for: delay)
        delay = min(delay * 2, configuration.maxRetryDelay)
        return Task.isCancelled
    }

    private func flushDecision() -> Decision {
        let now = RegistryJournal.monotonicNanos()
        let maxAgeNanos = UInt64(configuration.maxBatchAge.components.seconds) * 1_000_000_000
            + UInt64(configuration.maxBatchAge.components.attoseconds / 1_000_000_000)
        return state.withLockedValue { state -> Decision in
            guard state.queueHead < state.queue.count else {
                return state.draining ? .stop : .wait(nil)
            }
            let age = now &- state.queue[state.queueHead].durableAt
            guard state.queuedRecords >= configuration.maxBatchRecords || age >= maxAgeNanos || state.draining else {
                return .wait(.nanoseconds(Int64(maxAgeNanos - age)))
            }
            return .flush
        }
    }

    /// Takes whole entries, up to ``Configuration/maxBatchRecords`` records (at least one entry).
    private func takeBatch() -> [QueuedEntry] {
        state.withLockedValue { state in
            var taken: [QueuedEntry] = []
            var count = 0
            while state.queueHead < state.queue.count && (count == 0 || count < configuration.maxBatchRecords) {
                let next = state.queue[state.queueHead]
                if count > 0 && count + next.entry.records.count > configuration.maxBatchRecords { break }
                taken.append(next)
                count += next.entry.records.count
                state.queueHead += 1
            }
            // Entries stay queued (they count as waiting) until committed; only the head index moves.
            return taken
        }
    }

    /// Batches committed by an earlier deferred-mode process but not applied to coin state go first.
    private func loadUnappliedBatches(on connection: PostgresConnection) async throws {
        guard !state.withLockedValue({ $0.unappliedLoaded }) else { return }
        var pending: [PendingApply] = []
        let rows = try await connection.query(
            "SELECT id, inserted_count FROM batches WHERE coins_applied_at IS NULL ORDER BY id", logger: logger)
        for try await (id, count) in rows.decode((Int64, Int32).self) {
            pending.append(PendingApply(batchID: id, records: nil, count: Int(count), committedMark: 0))
        }
        state.withLockedValue { state in
            state.pendingApply.insert(contentsOf: pending, at: state.pendingApplyHead)
            state.pendingApplyRecords += pending.reduce(0) { $0 + $1.count }
            state.unappliedLoaded = true
        }
        if !pending.isEmpty {
            logger.info("Applying coin state of batches committed earlier", metadata: ["registry.batches": "\(pending.count)"])
        }
    }

    /// Deferred mode: applies committed batches to coin state, in batch order, on a connection of its own, beside
    /// the flush loop (so that PostgreSQL applies batch N while it ingests batch N + 1, on the other core). Stops
    /// when the flush loop has stopped; batches still pending are applied at the next start (`coins_applied_at`).
    private func applyLoop() async {
        var connection: PostgresConnection?
        var retryDelay = configuration.initialRetryDelay
        var drainDeadline: ContinuousClock.Instant?
        defer {
            if let connection { Task { try? await connection.close() } }
        }
        while !Task.isCancelled {
            let (ready, stopped, pending) = state.withLockedValue {
                ($0.ready, $0.flushLoopStopped, $0.pendingApplyHead < $0.pendingApply.count)
            }
            // After the flush loop stops (a shutdown), the batches it committed are still applied before this
            // loop ends: a drain waits for coin state.
            if stopped && !pending { return }
            guard ready && pending else {
                await applySignal.wait(timeout: nil)
                continue
            }
            do {
                let open = try await connectIfNeeded(connection, id: 2)
                connection = open
                try await applyNextBatch(on: open)
                retryDelay = configuration.initialRetryDelay
                // The flush loop may be holding back on the lag bound.
                signal.signal()
            } catch {
                await dropConnection(&connection)
                state.withLockedValue {
                    $0.flushFailures += 1
                    $0.databaseAvailable = false
                }
                logger.warning(
                    "Registry coin-state application failed; retrying",
                    metadata: ["error": "\(String(reflecting: error))"])
                if await backOff(&retryDelay, deadline: &drainDeadline) { return }
            }
        }
    }

    private func applyNextBatch(on connection: PostgresConnection) async throws {
        guard let next = state.withLockedValue({ $0.pendingApplyHead < $0.pendingApply.count ? $0.pendingApply[$0.pendingApplyHead] : nil })
        else { return }
        let writer = RegistryWriter(logger: logger)
        let started = RegistryJournal.monotonicNanos()
        let alerts = try await writer.applyDeferred(batchID: next.batchID, records: next.records, on: connection)
        let duration = RegistryJournal.monotonicNanos() &- started
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.pendingApplyHead += 1
            state.pendingApplyRecords -= next.count
            if next.records != nil { state.retainedRecords -= next.count }
            if state.pendingApplyHead > 1024 && state.pendingApplyHead * 2 > state.pendingApply.count {
                state.pendingApply.removeFirst(state.pendingApplyHead)
                state.pendingApplyHead = 0
            }
            state.appliedMark = max(state.appliedMark, next.committedMark)
            if state.pendingApplyHead == state.pendingApply.count {
                state.appliedMark = max(state.appliedMark, state.committedRecords)
            }
            state.alerts += UInt64(alerts?.count ?? 0)
            state.databaseAvailable = true
            _ = state.coinApplyDuration.record(duration)
            return Self.readyWaiters(&state)
        }
        for waiter in waiters { waiter.resume() }
        report(alerts ?? [])
    }

    private func report(_ alerts: [RegistryAlert]) {
        for alert in alerts {
            metrics.alerts[alert.kind]?.increment()
            logger.warning(
                "Registry alert",
                metadata: [
                    "registry.alert": "\(alert.kind.rawValue)", "registry.txn": "\(alert.transactionID)",
                    "registry.coin": "\(alert.coinID)",
                ])
        }
    }

    private func flush(
        _ entries: [QueuedEntry], mayContainDuplicates: Bool, on connection: PostgresConnection
    ) async throws {
        var records: [OwnerChangeRecord] = []
        records.reserveCapacity(entries.reduce(0) { $0 + $1.entry.records.count })
        for queued in entries { records += queued.entry.records }
        let writer = RegistryWriter(logger: logger)
        let started = RegistryJournal.monotonicNanos()
        let source: RegistryWriter.Source = entries.contains { $0.replayed } ? .replay : .journal
        let timeout = configuration.flushTimeout
        let batch = records
        let applyCoins = deferredLag == nil
        let outcome = try await withThrowingTaskGroup(of: RegistryWriter.Outcome?.self) { group in
            group.addTask {
                try await writer.write(
                    batch, source: source, mayContainDuplicates: mayContainDuplicates, applyCoins: applyCoins,
                    on: connection)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let outcome = first else {
                throw RegistrationCenterError(.notRunning, "batch flush timed out after \(timeout)")
            }
            return outcome
        }
        let flushNanos = RegistryJournal.monotonicNanos() &- started
        let committedAt = Self.wallClockNanos()
        journal.checkpoint(through: entries[entries.count - 1].entry.sequence)

        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.queuedRecords -= records.count
            state.committedHead += entries.count
            // Drop committed entries from the front of the queue (amortised: compact once half is committed).
            if state.committedHead > 4096 && state.committedHead * 2 > state.queue.count {
                state.queue.removeFirst(state.committedHead)
                state.queueHead -= state.committedHead
                state.committedHead = 0
            }
            state.backlog -= records.count
            state.committedRecords += UInt64(records.count)
            state.insertedRecords += UInt64(outcome.inserted)
            state.batches += 1
            if !outcome.fastPath { state.slowPathBatches += 1 }
            state.alerts += UInt64(outcome.alerts.count)
            state.databaseAvailable = true
            _ = state.flushDuration.record(flushNanos)
            _ = state.batchSizes.record(UInt64(records.count))
            records.withUnsafeBufferPointer { records in
                for index in records.indices {
                    state.batchAge.record(nanoseconds: committedAt - records[index].createdAtNanos)
                }
            }
            // Deferred mode: every batch goes to the applier, also one whose records were all registered already (its
            // row is pending too, and the batch that registered them may have committed unseen: see
            // `RegistryWriter.applyDeferred`).
            if applyCoins {
                if state.pendingApplyHead == state.pendingApply.count {
                    state.appliedMark = state.committedRecords
                }
            } else {
                let retain = state.retainedRecords + outcome.inserted <= configuration.maxRetainedRecords
                if retain { state.retainedRecords += outcome.inserted }
                state.pendingApply.append(
                    PendingApply(
                        batchID: outcome.batchID, records: retain ? outcome.insertedRecords : nil,
                        count: outcome.inserted, committedMark: state.committedRecords))
                state.pendingApplyRecords += outcome.inserted
            }
            return Self.readyWaiters(&state)
        }
        for waiter in waiters { waiter.resume() }
        if !applyCoins { applySignal.signal() }

        metrics.committed.increment(by: records.count)
        metrics.batches.increment()
        metrics.flushTimer.recordNanoseconds(Int64(flushNanos))
        metrics.backlog.record(state.withLockedValue { $0.backlog })
        report(outcome.alerts)
        if let onBatchCommitted {
            onBatchCommitted(
                BatchCommit(
                    batchID: outcome.batchID, records: records.count, inserted: outcome.inserted,
                    alerts: outcome.alerts, createdAtNanos: records.map(\.createdAtNanos),
                    committedAtNanos: committedAt))
        }
    }

    /// The wall clock in nanoseconds since the Unix epoch (the time base of `OwnerChangeRecord.createdAtNanos`).
    public static func wallClockNanos() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}

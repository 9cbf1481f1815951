// Owner-change records per second through the registration center (journal with group commit → batcher → COPY
// into PostgreSQL with coin-state checks), beside a raw `psql \copy` of the same rows into an identical fresh table,
// on the same embedded cluster in the same run. Prints one JSON line.
//
//   cd Benchmarks && swift run -c release RegistryIngest [--records 1000000] [--without-history-indexes]
//
// For each coin-state mode: `records_per_s` counts records committed; `coin_state_records_per_s` counts them once
// their coin state is applied too, the rate the registry sustains (in deferred mode the applier runs beside the
// batcher, bounded by --coin-state-max-lag, so the two differ by at most that lag). `batcher_drain` is the batcher
// alone, from a journal filled beforehand.
//
// Raw COPY runs twice, before and after the batcher, since the machine's load may change in between (both reported,
// with `load_average` at the end). `ratio_to_raw_copy` divides by the first; `ratio_to_mean_raw_copy` by the mean of
// the two rates, which brackets the batcher's phases in time: on a shared box a single raw COPY has been seen to
// vary by 2x within minutes, so quote medians of several runs. Every phase reports `cpu_seconds`: PostgreSQL's (all
// the cluster's processes) and this process's (appenders, journal, batcher). On a shared 2-core box the wall-clock rates follow whatever else
// runs; CPU seconds per million records are the steadier comparison (raw COPY is PostgreSQL alone; the batcher adds
// coin state on a second backend and the journal and encoding in this process).
//
//   ../.build-registry-bench/release/RegistryIngest --coin-state deferred   # after `swift build -c release
//       --scratch-path ../.build-registry-bench --product RegistryIngest` in Benchmarks/

import ArgumentParser
import Foundation
import RegistrationCenter

/// Options of the benchmark (`--help` lists them).
struct RegistryIngest: ParsableArguments {

    @Option(help: "Owner-change records to push.")
    var records = 1_000_000

    @Option(help: "Batcher: flush at this many records.")
    var batchRecords = 20_000

    @Option(help: "Batcher: flush when the oldest record waited this many milliseconds.")
    var batchAgeMs = 100

    @Option(help: "Concurrent appenders (each awaits durability before its next approval, like the switch).")
    var appenders = 256

    @Option(help: "Cluster and journal directory (default: a fresh temporary directory, deleted at exit).")
    var directory: String?

    @Option(help: "Log level for the registration center (to stdout): debug shows per-batch phase timings.")
    var logLevel: String = "error"

    @Option(help: "Offered load in records per second across all appenders (0: as fast as they go). Batch age is only meaningful below saturation.")
    var rate = 0

    @Option(help: "Coin-state mode(s) to measure: in-batch, deferred or both.")
    var coinState: String = "both"

    @Option(help: "Deferred mode: committed records allowed to wait for coin state before ingest pauses.")
    var coinStateMaxLag = 200_000

    @Flag(help: "Drop the history indexes (owner_changes by coin and by to-wallet) from every table measured, raw COPY's included, to see what they cost.")
    var withoutHistoryIndexes = false

    @Flag(help: "Also compare client-side COPY with multi-row INSERT (unnest arrays) into fresh tables.")
    var compareInsert = false

    @Option(help: "Rows for the COPY vs INSERT comparison.")
    var compareRows = 200_000

    func runBenchmark() async throws {
        var logger = Logger(label: "registry-ingest")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .error

        let root = directory ?? Self.temporaryDirectory()
        let cluster = try await EmbeddedPostgres.start(
            .init(directory: root + "/postgres", database: "registry", removeOnExit: directory == nil),
            logger: logger)
        let streams = Workload.approvals(records: records, streams: appenders)
        let approvals = Array(streams.joined())
        let total = approvals.reduce(0) { $0 + $1.count }
        log("workload: \(approvals.count) approvals, \(total) records, \(streams.count) streams")

        // Raw COPY of the same rows, into an identical fresh table (same columns, keys, indexes, defaults).
        let csv = root + "/owner_changes.csv"
        try Workload.writeCSV(approvals, batchID: 1, to: csv)
        let center0 = try RegistrationCenter(
            configuration: .init(journalDirectory: root + "/journal-migrate"), database: cluster.databaseURL(),
            logger: logger)
        try await Self.migrate(center0)
        if withoutHistoryIndexes { _ = try cluster.psql(["-c", Self.dropHistoryIndexes]) }
        _ = try cluster.psql(["-c", "CREATE TABLE warmup (LIKE owner_changes INCLUDING ALL)"])
        _ = try cluster.psql(["-c", "\\copy warmup (\(Workload.csvColumns)) FROM '\(csv)' WITH (FORMAT csv)"])
        _ = try cluster.psql(["-c", "DROP TABLE warmup", "-c", "CHECKPOINT"])
        let meter = CPUMeter(cluster: cluster)
        let rawBefore = try Self.rawCopy(csv: csv, cluster: cluster, meter: meter)
        log("raw COPY: \(rawBefore.rows) rows in \(rawBefore.seconds) s")
        let rawRate = Double(rawBefore.rows) / rawBefore.seconds

        var comparison: [String: Double] = [:]
        if compareInsert {
            comparison = try await Self.compareCopyAndInsert(
                cluster: cluster, approvals: approvals, rows: compareRows, batch: batchRecords, logger: logger)
        }

        var modes: [String: Any] = [:]
        for mode in coinStates {
            _ = try cluster.psql(["-c", "CHECKPOINT"])
            var figures = try await Self.ingest(
                streams: streams, total: total, rawRate: rawRate, mode: mode.mode,
                name: mode.name, cluster: cluster, root: root, options: self, meter: meter, logger: logger)
            _ = try cluster.psql(["-c", "CHECKPOINT"])
            figures["batcher_drain"] = try await Self.drain(
                streams: streams, total: total, rawRate: rawRate, mode: mode.mode,
                name: mode.name, cluster: cluster, root: root, options: self, meter: meter, logger: logger)
            modes[mode.name] = figures
        }

        // Raw COPY again after the batcher runs: the machine's load may have changed meanwhile; both are reported.
        _ = try cluster.psql(["-c", "CHECKPOINT"])
        let rawAfter = try Self.rawCopy(csv: csv, cluster: cluster, meter: meter)
        log("raw COPY after: \(rawAfter.rows) rows in \(rawAfter.seconds) s")

        var result: [String: Any] = [
            "benchmark": "registry_ingest",
            "records": total,
            "approvals": approvals.count,
            "raw_copy_seconds": Self.round(rawBefore.seconds),
            "raw_copy_records_per_s": Int(rawRate),
            "raw_copy_cpu_seconds": rawBefore.cpu,
            "raw_copy_after_records_per_s": Int(Double(rawAfter.rows) / rawAfter.seconds),
            "raw_copy_after_cpu_seconds": rawAfter.cpu,
            "load_average": Self.loadAverage(),
            "config": [
                "batch_records": batchRecords, "batch_age_ms": batchAgeMs, "appenders": appenders,
                "coin_state_max_lag": coinStateMaxLag, "offered_records_per_s": rate,
            ],
        ]
        let rawMean = (rawRate + Double(rawAfter.rows) / rawAfter.seconds) / 2
        result["raw_copy_mean_records_per_s"] = Int(rawMean)
        for (name, figures) in modes {
            result[name] = (figures as? [String: Any]).map { Self.withRatios($0, toRawCopy: rawMean) } ?? figures
        }
        if !comparison.isEmpty { result["copy_vs_insert_rows_per_s"] = comparison }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        if directory == nil {
            // The cluster under it is stopped and deleted at exit; the CSV and journals go now.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name != "postgres" {
                try? FileManager.default.removeItem(atPath: root + "/" + name)
            }
        }
    }

    /// Adds `ratio_to_mean_raw_copy` to a mode's figures and to its `batcher_drain`.
    static func withRatios(_ figures: [String: Any], toRawCopy rawRate: Double) -> [String: Any] {
        var figures = figures
        if let rate = figures["records_per_s"] as? Int {
            figures["ratio_to_mean_raw_copy"] = Self.round(Double(rate) / rawRate)
        }
        if var drain = figures["batcher_drain"] as? [String: Any], let rate = drain["records_per_s"] as? Int {
            drain["ratio_to_mean_raw_copy"] = Self.round(Double(rate) / rawRate)
            figures["batcher_drain"] = drain
        }
        return figures
    }

    var coinStates: [(name: String, mode: RegistrationCenter.CoinStateMode)] {
        let inBatch = ("in_batch", RegistrationCenter.CoinStateMode.inBatchTransaction)
        let deferred = ("deferred", RegistrationCenter.CoinStateMode.deferred(maxLagRecords: coinStateMaxLag))
        switch coinState {
        case "in-batch": return [inBatch]
        case "deferred": return [deferred]
        default: return [deferred, inBatch]
        }
    }

    /// The batcher alone: the whole workload is journaled first (durable, as after an outage or a crash), then a
    /// registration center starts on that journal and drains it into a fresh database. Time from start to all
    /// committed.
    static func drain(
        streams: [[[OwnerChangeRecord]]], total: Int, rawRate: Double, mode: RegistrationCenter.CoinStateMode,
        name: String, cluster: EmbeddedPostgres, root: String, options: RegistryIngest, meter: CPUMeter,
        logger: Logger
    ) async throws -> [String: Any] {
        let database = "drain_\(name)"
        try cluster.createDatabase(database)
        try await RegistryDatabase.withDatabase(at: cluster.databaseURL(database: database), logger: logger) { _ in }
        if options.withoutHistoryIndexes { _ = try cluster.psql(database: database, ["-c", Self.dropHistoryIndexes]) }
        let directory = root + "/journal-drain-\(name)"
        let (journal, _) = try RegistryJournal.open(.init(directory: directory), logger: logger) { _ in }
        try await withThrowingTaskGroup(of: Void.self) { appenders in
            for stream in streams {
                appenders.addTask {
                    for approval in stream {
                        var approval = approval
                        let now = RegistrationCenter.wallClockNanos()
                        for position in approval.indices { approval[position].createdAtNanos = now }
                        try await journal.append(approval)
                    }
                }
            }
            try await appenders.waitForAll()
        }
        await journal.close()
        let center = try RegistrationCenter(
            configuration: .init(
                journalDirectory: directory, maxBatchRecords: options.batchRecords,
                maxBatchAge: .milliseconds(options.batchAgeMs), maxBacklogRecords: max(total, 1), coinState: mode),
            database: cluster.databaseURL(database: database), logger: logger)
        let cpuStart = meter.sample()
        let start = ContinuousClock.now
        let (committed, applied, statistics, cpu) = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await center.run() }
            await center.waitUntilCommitted(includingCoinState: false)
            let committed = Self.seconds(ContinuousClock.now - start)
            let statistics = center.statistics()
            await center.waitUntilCommitted(includingCoinState: true)
            let applied = Self.seconds(ContinuousClock.now - start)
            let cpu = meter.sample() - cpuStart
            center.shutdown()
            try await group.waitForAll()
            return (committed, applied, statistics, cpu)
        }
        log("\(name) drain: committed in \(committed) s, coin state in \(applied) s")
        let registered = try cluster.psql(database: database, ["-tAc", "SELECT count(*) FROM owner_changes"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return [
            "registered_records": Int(registered) ?? -1,
            "seconds": Self.round(committed),
            "records_per_s": Int(Double(total) / committed),
            "ratio_to_raw_copy": Self.round(Double(total) / committed / rawRate),
            "coin_state_seconds": Self.round(applied),
            "coin_state_records_per_s": Int(Double(total) / applied),
            "flush_ms": Self.percentiles(statistics.flushDuration),
            "slow_path_batches": statistics.slowPathBatches,
            "cpu_seconds": cpu,
        ]
    }

    /// Pushes the workload through a registration center on a fresh database and returns its figures.
    static func ingest(
        streams: [[[OwnerChangeRecord]]], total: Int, rawRate: Double, mode: RegistrationCenter.CoinStateMode,
        name: String, cluster: EmbeddedPostgres, root: String, options: RegistryIngest, meter: CPUMeter,
        logger: Logger
    ) async throws -> [String: Any] {
        let database = "ingest_\(name)"
        try cluster.createDatabase(database)
        let center = try RegistrationCenter(
            configuration: .init(
                journalDirectory: root + "/journal-\(name)", maxBatchRecords: options.batchRecords,
                maxBatchAge: .milliseconds(options.batchAgeMs), maxBacklogRecords: max(total, 1), coinState: mode),
            database: cluster.databaseURL(database: database), logger: logger)
        let (committedSeconds, appliedSeconds, statistics, cpu) = try await withThrowingTaskGroup(of: Void.self) {
            group in
            group.addTask { try await center.run() }
            await center.waitUntilReady()
            if options.withoutHistoryIndexes { _ = try cluster.psql(database: database, ["-c", Self.dropHistoryIndexes]) }
            let cpuStart = meter.sample()
            let start = ContinuousClock.now
            let streamRate = options.rate > 0 ? Double(options.rate) / Double(streams.count) : 0
            try await withThrowingTaskGroup(of: Void.self) { appenders in
                for stream in streams {
                    appenders.addTask {
                        var sent = 0
                        for approval in stream {
                            if streamRate > 0 {
                                // Open-loop pacing: approval k goes at start + k / rate, whatever happened before.
                                let due = start + .seconds(Double(sent) / streamRate)
                                if due > ContinuousClock.now { try await Task.sleep(until: due) }
                            }
                            sent += approval.count
                            var approval = approval
                            let now = RegistrationCenter.wallClockNanos()
                            for position in approval.indices { approval[position].createdAtNanos = now }
                            try await center.append(approval)
                        }
                    }
                }
                try await appenders.waitForAll()
            }
            let journaled = ContinuousClock.now
            await center.waitUntilCommitted(includingCoinState: false)
            let committed = Self.seconds(ContinuousClock.now - start)
            let statistics = center.statistics()
            await center.waitUntilCommitted(includingCoinState: true)
            let applied = Self.seconds(ContinuousClock.now - start)
            let cpu = meter.sample() - cpuStart
            log("\(name): journaled in \(Self.seconds(journaled - start)) s, committed in \(committed) s, coin state in \(applied) s")
            center.shutdown()
            try await group.waitForAll()
            return (committed, applied, statistics, cpu)
        }
        func scalar(_ sql: String) throws -> String {
            try cluster.psql(database: database, ["-tAc", sql]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let conservation = try scalar(
            "SELECT (SELECT coalesce(sum(value),0) FROM owner_changes WHERE kind='issue') = (SELECT coalesce(sum(value),0) FROM coins WHERE status='live')")
        let rate = Double(total) / committedSeconds
        let journal = statistics.journal
        return [
            "registered_records": Int(try scalar("SELECT count(*) FROM owner_changes")) ?? -1,
            "alerts": Int(try scalar("SELECT count(*) FROM alerts")) ?? -1,
            "conservation_ok": conservation == "t",
            "seconds": Self.round(committedSeconds),
            "records_per_s": Int(rate),
            "ratio_to_raw_copy": Self.round(rate / rawRate),
            "coin_state_seconds": Self.round(appliedSeconds),
            "coin_state_records_per_s": Int(Double(total) / appliedSeconds),
            "batch_age_ms": Self.percentiles(statistics.batchAge),
            "flush_ms": Self.percentiles(statistics.flushDuration),
            "batches": statistics.batches,
            "mean_batch_records": statistics.batches == 0 ? 0 : Int(statistics.committedRecords / statistics.batches),
            "slow_path_batches": statistics.slowPathBatches,
            "cpu_seconds": cpu,
            "journal": [
                "append_latency_ms": Self.percentiles(journal.appendLatency),
                "fsync_ms": Self.percentiles(journal.syncLatency),
                "syncs": journal.syncs,
                "entries_per_sync": journal.syncs == 0 ? 0 : Self.round(Double(journal.entries) / Double(journal.syncs)),
                "bytes": journal.bytes,
            ],
        ]
    }

    /// `psql \\copy` of the workload's rows into a fresh table like `owner_changes` (same columns, keys, indexes,
    /// defaults), timed from psql's start to its exit.
    static func rawCopy(csv: String, cluster: EmbeddedPostgres, meter: CPUMeter) throws
        -> (rows: Int, seconds: Double, cpu: [String: Double])
    {
        _ = try cluster.psql(["-c", "CREATE TABLE owner_changes_raw (LIKE owner_changes INCLUDING ALL)"])
        let cpuStart = meter.sample()
        let start = ContinuousClock.now
        _ = try cluster.psql(["-c", "\\copy owner_changes_raw (\(Workload.csvColumns)) FROM '\(csv)' WITH (FORMAT csv)"])
        let seconds = Self.seconds(ContinuousClock.now - start)
        let cpu = meter.sample() - cpuStart
        let rows = Int(try cluster.psql(["-tAc", "SELECT count(*) FROM owner_changes_raw"])
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        _ = try cluster.psql(["-c", "DROP TABLE owner_changes_raw", "-c", "CHECKPOINT"])
        return (rows, seconds, cpu)
    }

    /// The 1, 5 and 15 minute load averages (how busy the machine was).
    static func loadAverage() -> [Double] {
        var loads = [Double](repeating: 0, count: 3)
        _ = getloadavg(&loads, 3)
        return loads.map { round($0) }
    }

    static let dropHistoryIndexes = "DROP INDEX owner_changes_coin, owner_changes_to_wallet"

    static func migrate(_ center: RegistrationCenter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await center.run() }
            await center.waitUntilReady()
            center.shutdown()
            try await group.waitForAll()
        }
    }

    /// Client-side COPY against multi-row INSERT, same rows, fresh identical tables (see `IngestStrategyProbe`).
    static func compareCopyAndInsert(
        cluster: EmbeddedPostgres, approvals: [[OwnerChangeRecord]], rows: Int, batch: Int, logger: Logger
    ) async throws -> [String: Double] {
        let now = RegistrationCenter.wallClockNanos()
        let records = approvals.joined().prefix(rows).map { record -> OwnerChangeRecord in
            var record = record
            record.createdAtNanos = now
            return record
        }
        let results = try await IngestStrategyProbe.compare(
            database: cluster.databaseURL(), records: records, batch: batch, logger: logger)
        _ = try cluster.psql(["-c", "CHECKPOINT"])
        log("COPY vs INSERT: \(results)")
        return results.mapValues { $0.rounded() }
    }

    static func percentiles(_ histogram: DurationHistogram) -> [String: Double] {
        [
            "p50": round(Double(histogram.valueAtPercentile(50)) / 1e6),
            "p99": round(Double(histogram.valueAtPercentile(99)) / 1e6),
            "max": round(Double(histogram.max) / 1e6),
            "mean": round(histogram.mean / 1e6),
        ]
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "dcswitch-registry-ingest-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // The server runs as `postgres` when this runs as root: it must be able to traverse this directory.
        chmod(path, 0o755)
        return path
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A payment workload shaped like the switch's: issuance (coin ids scattered, as seeded coins are), whole-coin
/// transfers, and split payments (retire one coin, create the payee's coin and the payer's change, named after the
/// transaction as the switch's banks name them). Every record is valid, so no alerts.
enum Workload {
    static let columns = [
        "transaction_id", "coin_id", "kind", "from_wallet", "to_wallet", "value", "flow", "payer_bank", "payee_bank",
        "created_at", "batch_id", "batch_position",
    ]
    static var csvColumns: String { columns.joined(separator: ", ") }

    /// `streams` independent sequences of approvals (one per appender): a coin is only ever touched by one stream,
    /// so each stream appending in order keeps every spend after the approval that gave the payer the coin, as the
    /// switch does (a bank only spends a coin it received).
    static func approvals(records target: Int, streams: Int) -> [[[OwnerChangeRecord]]] {
        var generator = SystemRandomNumberGenerator()
        let wallets = (0..<10_000).map { index in
            "W" + hex(UInt64(index) &* 0x9E37_79B9_7F4A_7C15, digits: 16) + hex(UInt64(index), digits: 24)
        }
        let streams = max(streams, 1)
        var live = [[(id: String, owner: Int, value: Int64)]](repeating: [], count: streams)
        var result = [[[OwnerChangeRecord]]](repeating: [], count: streams)
        var produced = 0
        var coinCounter: UInt64 = 0
        var txnCounter: UInt64 = 0
        let flows = ["nfc", "qr-bsc", "qr-csb", "in-app", "transfer-in"]
        func newCoinID() -> String {
            coinCounter += 1
            return "C" + hex(coinCounter &* 0xD6E8_FEB8_6659_FD93, digits: 16) + hex(coinCounter, digits: 8)
        }
        func newTxnID() -> String {
            txnCounter += 1
            return "T" + hex(txnCounter, digits: 15)
        }
        func bank(_ wallet: Int) -> String { "B00\(wallet % 4 + 1)" }

        var stream = 0
        while produced < target {
            stream = (stream + 1) % streams
            let roll = Int.random(in: 0..<100, using: &generator)
            let txn = newTxnID()
            let flow = flows[Int(txnCounter) % flows.count]
            var approval: [OwnerChangeRecord] = []
            if live[stream].count < 8 || roll < 20 {
                let owner = Int.random(in: 0..<wallets.count, using: &generator)
                let value = Int64.random(in: 1_000...100_000, using: &generator)
                let id = newCoinID()
                approval.append(
                    OwnerChangeRecord(
                        transactionID: txn, coinID: id, kind: .issue, fromWallet: nil, toWallet: wallets[owner],
                        value: value, flow: "issue", payerBank: "", payeeBank: bank(owner), createdAtNanos: 0))
                live[stream].append((id, owner, value))
            } else {
                let pick = Int.random(in: 0..<live[stream].count, using: &generator)
                let coin = live[stream][pick]
                var payee = Int.random(in: 0..<wallets.count, using: &generator)
                if payee == coin.owner { payee = (payee + 1) % wallets.count }
                if roll < 60 || coin.value < 2 {
                    approval.append(
                        OwnerChangeRecord(
                            transactionID: txn, coinID: coin.id, kind: .transfer, fromWallet: wallets[coin.owner],
                            toWallet: wallets[payee], value: coin.value, flow: flow, payerBank: bank(coin.owner),
                            payeeBank: bank(payee), createdAtNanos: 0))
                    live[stream][pick].owner = payee
                } else {
                    let paid = Int64.random(in: 1..<coin.value, using: &generator)
                    // The switch's banks name the coins a payment creates after the transaction (`N<txn>-<index>`).
                    let paidID = "N" + txn + "-0"
                    let changeID = "N" + txn + "-1"
                    approval.append(
                        OwnerChangeRecord(
                            transactionID: txn, coinID: coin.id, kind: .retire, fromWallet: wallets[coin.owner],
                            toWallet: nil, value: coin.value, flow: flow, payerBank: bank(coin.owner),
                            payeeBank: bank(payee), createdAtNanos: 0))
                    approval.append(
                        OwnerChangeRecord(
                            transactionID: txn, coinID: paidID, kind: .create, fromWallet: nil,
                            toWallet: wallets[payee], value: paid, flow: flow, payerBank: bank(coin.owner),
                            payeeBank: bank(payee), createdAtNanos: 0))
                    approval.append(
                        OwnerChangeRecord(
                            transactionID: txn, coinID: changeID, kind: .create, fromWallet: nil,
                            toWallet: wallets[coin.owner], value: coin.value - paid, flow: flow,
                            payerBank: bank(coin.owner), payeeBank: bank(payee), createdAtNanos: 0))
                    live[stream][pick] = (paidID, payee, paid)
                    live[stream].append((changeID, coin.owner, coin.value - paid))
                }
            }
            produced += approval.count
            result[stream].append(approval)
        }
        return result
    }

    /// The same rows as the batcher writes, as CSV for `psql \copy`.
    static func writeCSV(_ approvals: [[OwnerChangeRecord]], batchID: Int, to path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var chunk = ""
        chunk.reserveCapacity(1 << 22)
        let createdAt = timestamp(RegistrationCenter.wallClockNanos())
        var position = 0
        for approval in approvals {
            for record in approval {
                // Positions in batches of the batcher's default size, as it numbers its records.
                chunk += csvRow(record, createdAt: createdAt, batchID: batchID, position: position % 10_000)
                position += 1
            }
            if chunk.utf8.count > 1 << 22 {
                handle.write(Data(chunk.utf8))
                chunk.removeAll(keepingCapacity: true)
            }
        }
        handle.write(Data(chunk.utf8))
        try handle.close()
    }

    static func csvRow(_ record: OwnerChangeRecord, createdAt: String, batchID: Int, position: Int) -> String {
        // Unquoted empty is NULL in CSV: the wallets of issue/retire are NULL, an empty bank code is "".
        func text(_ value: String) -> String { value.isEmpty ? "\"\"" : value }
        return "\(record.transactionID),\(record.coinID),\(record.kind.rawValue),\(record.fromWallet ?? ""),\(record.toWallet ?? ""),\(record.value),\(record.flow),\(text(record.payerBank)),\(text(record.payeeBank)),\(createdAt),\(batchID),\(position)\n"
    }

    static func timestamp(_ nanos: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(nanos / 1000) / 1e6)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let micros = (nanos / 1000) % 1_000_000
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.year!, 4))-\(pad(parts.month!, 2))-\(pad(parts.day!, 2)) \(pad(parts.hour!, 2)):\(pad(parts.minute!, 2)):\(pad(parts.second!, 2)).\(pad(Int(micros), 6))+00"
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return text.count >= digits
            ? String(text.suffix(digits)) : String(repeating: "0", count: digits - text.count) + text
    }
}

/// CPU time used so far, in seconds: by the PostgreSQL cluster (the postmaster's live children plus those it has
/// reaped, from /proc) and by this process (the registration center and the appenders). On a loaded machine the
/// wall-clock rates depend on what else runs; CPU seconds per million records do much less.
struct CPUMeter {
    let cluster: EmbeddedPostgres

    struct Sample {
        var postgres: Double
        var process: Double
        var children: Double

        static func - (lhs: Sample, rhs: Sample) -> [String: Double] {
            [
                "postgres": RegistryIngest.round(lhs.postgres - rhs.postgres),
                "benchmark_process": RegistryIngest.round(lhs.process - rhs.process),
                "psql": RegistryIngest.round(lhs.children - rhs.children),
            ]
        }
    }

    func sample() -> Sample {
        #if os(Linux)
        let childrenWho = RUSAGE_CHILDREN.rawValue
        #else
        let childrenWho = RUSAGE_CHILDREN
        #endif
        var usage = rusage()
        getrusage(childrenWho, &usage)
        let children = Self.seconds(usage.ru_utime) + Self.seconds(usage.ru_stime)
        return Sample(postgres: cluster.cpuSeconds() ?? .nan, process: CPUTime.process(), children: children)
    }

    static func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
}

let options = RegistryIngest.parseOrExit()
do {
    try await options.runBenchmark()
} catch {
    RegistryIngest.exit(withError: error)
}

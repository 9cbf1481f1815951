import ArgumentParser
import Foundation
import Logging
import RegistrationCenter

/// Where the registry is, shared by `dcswitch registry …` and `dcswitch reconcile`.
struct RegistryDatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "PostgreSQL URL (postgres://user:password@host:port/database). Default: $DATABASE_URL, else the embedded cluster.")
    var databaseURL: String?

    @Option(name: .customLong("postgres-dir"), help: "The embedded cluster's directory (used without a database URL).")
    var postgresDirectory: String = ".dcswitch/postgres"

    @Option(name: .customLong("log-level"), help: "Log level (to stderr): trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        if let databaseURL {
            do {
                _ = try DatabaseURL(databaseURL)
            } catch let error as RegistrationCenterError {
                throw ValidationError("--database-url: \(error.message)")
            }
        }
    }

    var logger: Logger {
        var logger = Logger(label: "dcswitch.registry") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        return logger
    }

    /// Connects (starting the embedded cluster if that is the registry) and runs `body`.
    func withDatabase<T: Sendable>(_ body: @Sendable (RegistryDatabase) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            let location = try await RegistryDatabaseLocation.resolve(
                databaseURL: databaseURL, embeddedDirectory: postgresDirectory, logger: logger)
            return try await RegistryDatabase.withDatabase(at: location.url, logger: logger, body)
        } catch let error as RegistrationCenterError {
            throw RegistryCLIError(message: error.message)
        }
    }
}

/// A registry command failure, printed to stderr by ArgumentParser with a non-zero exit.
struct RegistryCLIError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Prints a JSON object as one line on stdout.
private func printJSONLine<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `dcswitch registry verify|coin|wallet|stats`: the central bank registration center's checks and queries.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Query and verify the registration center (owner-change records, coins, wallets).",
        subcommands: [Verify.self, CoinQuery.self, WalletQuery.self, Stats.self, RegistryIngestTestCommand.self]
    )

    /// `dcswitch registry verify --record FILE`.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check that every approval in a --record file has exactly its owner-change records.",
            discussion: """
                The record file is JSON lines, one per approved transaction: {"txn":"…","flow":"nfc","records":N}. \
                The last line printed is JSON with records_expected, records_found, duplicates, \
                missing_transactions and conservation (issued, live, ok). Exits non-zero when anything is off.
                """
        )

        @Option(name: .customLong("record"), help: "The traffic generator's --record file.")
        var record: String

        @OptionGroup var database: RegistryDatabaseOptions

        func validate() throws {
            guard FileManager.default.isReadableFile(atPath: record) else {
                throw ValidationError("--record \(record): no such readable file")
            }
        }

        func run() async throws {
            let approvals: [RecordedApproval]
            do {
                approvals = try RecordedApproval.read(file: record)
            } catch let error as RegistrationCenterError {
                throw ValidationError("--record \(error.message)")
            }
            let verification = try await database.withDatabase { try await $0.verify(approvals) }
            print(
                "approvals: \(verification.transactions), records expected: \(verification.recordsExpected), "
                    + "found: \(verification.recordsFound), missing transactions: \(verification.missingTransactions)"
            )
            if !verification.missingSample.isEmpty {
                print("missing, e.g.: \(verification.missingSample.joined(separator: " "))")
            }
            print(
                "conservation: issued \(verification.conservation.issued), live \(verification.conservation.live): "
                    + (verification.conservation.ok ? "ok" : "MISMATCH"))
            try printJSONLine(verification)
            if !verification.ok { throw ExitCode.failure }
        }
    }

    /// `dcswitch registry coin ID`.
    struct CoinQuery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coin", abstract: "Show a coin: value, owner, status, history and alerts (JSON).")

        @Argument(help: "The coin id.")
        var id: String

        @OptionGroup var database: RegistryDatabaseOptions

        func run() async throws {
            let id = self.id
            let report = try await database.withDatabase { try await $0.coin(id: id) }
            guard report.coin != nil || !report.history.isEmpty else {
                throw RegistryCLIError(message: "coin \(id): not registered")
            }
            try printJSONLine(CoinJSON(report))
        }
    }

    /// `dcswitch registry wallet ADDRESS`.
    struct WalletQuery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wallet", abstract: "Show a wallet's registration and its live coins (JSON).")

        @Argument(help: "The wallet address.")
        var address: String

        @OptionGroup var database: RegistryDatabaseOptions

        func run() async throws {
            let address = self.address
            let report = try await database.withDatabase { try await $0.wallet(address: address) }
            guard report.registration != nil || !report.coins.isEmpty else {
                throw RegistryCLIError(message: "wallet \(address): not registered and owns no coins")
            }
            try printJSONLine(WalletJSON(address: address, report))
        }
    }

    /// `dcswitch registry stats`.
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stats",
            abstract: "Registry counts: records, batches, batch age, backlog (from the journal), coins, alerts (JSON).")

        @Option(help: "The registration center's journal directory, for the backlog (records not yet committed).")
        var journal: String = ".dcswitch/journal"

        @OptionGroup var database: RegistryDatabaseOptions

        func run() async throws {
            let stats = try await database.withDatabase { try await $0.stats() }
            var backlog = 0
            var oldestAgeMilliseconds: Double?
            if FileManager.default.fileExists(atPath: journal) {
                let pending = try RegistryJournal.pendingEntries(directory: journal)
                backlog = pending.reduce(0) { $0 + $1.records.count }
                if let oldest = pending.flatMap({ $0.records.map(\.createdAtNanos) }).min() {
                    oldestAgeMilliseconds = Double(RegistrationCenter.wallClockNanos() - oldest) / 1e6
                }
            }
            try printJSONLine(StatsJSON(stats, backlog: backlog, oldestUncommittedAgeMilliseconds: oldestAgeMilliseconds))
        }
    }
}

/// `dcswitch reconcile --holdings FILE`: compare banks' books with the registry.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare each bank's holdings with the registration center and report mismatches (JSON lines).",
        discussion: """
            The holdings file is JSON: [{"bank":"B001","wallets":{"<address>":["<coin id>", …], …}}, …], listing every \
            wallet of each bank (empty lists for empty wallets). One JSON line per bank is printed; each run is recorded \
            in reconciliation_runs. Exits non-zero when there are mismatches.
            """
    )

    @Option(help: "The banks' holdings (JSON).")
    var holdings: String

    @Option(help: "Only reconcile this bank.")
    var bank: String?

    @OptionGroup var database: RegistryDatabaseOptions

    func run() async throws {
        let all: [BankHoldings]
        do {
            all = try JSONDecoder().decode([BankHoldings].self, from: Data(contentsOf: URL(fileURLWithPath: holdings)))
        } catch {
            throw ValidationError("--holdings \(holdings): \(error)")
        }
        let selected = bank.map { wanted in all.filter { $0.bank == wanted } } ?? all
        if let bank, selected.isEmpty {
            throw ValidationError("--bank \(bank): not in \(holdings) (banks: \(all.map(\.bank).joined(separator: ", ")))")
        }
        let reports = try await database.withDatabase { database in
            var reports: [ReconciliationReport] = []
            for holdings in selected { reports.append(try await database.reconcile(holdings)) }
            return reports
        }
        for report in reports { try printJSONLine(report) }
        if reports.contains(where: { !$0.mismatches.isEmpty }) { throw ExitCode.failure }
    }
}

// MARK: - JSON shapes

private struct CoinJSON: Encodable {
    struct Change: Encodable {
        var transaction_id: String
        var kind: String
        var from: String?
        var to: String?
        var value: Int64
        var flow: String
        var payer_bank: String
        var payee_bank: String
        var created_at_us: Int64
        var batch_id: Int64
    }

    struct Alert: Encodable {
        var kind: String
        var transaction_id: String
        var claimed_owner: String?
        var registered_owner: String?
        var detail: String
    }

    var id: String?
    var value: Int64?
    var owner: String?
    var previous_owner: String?
    var status: String?
    var history: [Change]
    var alerts: [Alert]

    init(_ report: RegistryDatabase.CoinReport) {
        id = report.coin?.id
        value = report.coin?.value
        owner = report.coin?.owner
        previous_owner = report.previousOwner
        status = report.coin?.status.rawValue
        history = report.history.map {
            Change(
                transaction_id: $0.record.transactionID, kind: $0.record.kind.rawValue, from: $0.record.fromWallet,
                to: $0.record.toWallet, value: $0.record.value, flow: $0.record.flow, payer_bank: $0.record.payerBank,
                payee_bank: $0.record.payeeBank, created_at_us: $0.record.createdAtNanos / 1000, batch_id: $0.batchID)
        }
        alerts = report.alerts.map {
            Alert(
                kind: $0.kind.rawValue, transaction_id: $0.transactionID, claimed_owner: $0.claimedOwner,
                registered_owner: $0.registeredOwner, detail: $0.detail)
        }
    }
}

private struct WalletJSON: Encodable {
    struct CoinEntry: Encodable {
        var id: String
        var value: Int64
    }

    var address: String
    var registered: Bool
    var bank: String?
    var public_key: String?
    var customer_ref: String?
    var balance: Int64
    var coins: [CoinEntry]

    init(address: String, _ report: RegistryDatabase.WalletReport) {
        self.address = address
        registered = report.registration != nil
        bank = report.registration?.bank
        public_key = report.registration?.publicKey
        customer_ref = report.registration?.customerReference
        balance = report.balance
        coins = report.coins.map { CoinEntry(id: $0.id, value: $0.value) }
    }
}

private struct StatsJSON: Encodable {
    var records: Int64
    var batches: Int64
    var backlog: Int
    var oldest_uncommitted_age_ms: Double?
    var batch_age_ms_p50: Double?
    var batch_age_ms_p99: Double?
    var batch_age_ms_max: Double?
    var wallets: Int64
    var live_coins: Int64
    var retired_coins: Int64
    var alerts: Int64
    var reconciliation_runs: Int64
    var conservation: RegistryDatabase.Conservation

    init(_ stats: RegistryDatabase.Stats, backlog: Int, oldestUncommittedAgeMilliseconds: Double?) {
        records = stats.records
        batches = stats.batches
        self.backlog = backlog
        oldest_uncommitted_age_ms = oldestUncommittedAgeMilliseconds
        batch_age_ms_p50 = stats.batchAgeP50Milliseconds
        batch_age_ms_p99 = stats.batchAgeP99Milliseconds
        batch_age_ms_max = stats.batchAgeMaxMilliseconds
        wallets = stats.wallets
        live_coins = stats.liveCoins
        retired_coins = stats.retiredCoins
        alerts = stats.alerts
        reconciliation_runs = stats.reconciliationRuns
        conservation = .init(issued: stats.issuedValue, live: stats.liveValue, ok: stats.issuedValue == stats.liveValue)
    }
}

import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// What one bank says its customers' wallets hold.
public struct BankHoldings: Sendable, Hashable, Codable {
    /// The bank's institution code (as in `wallets.bank`).
    public var bank: String
    /// Wallet address → ids of the live coins the bank believes it holds. List every wallet of the bank, with an
    /// empty set for empty ones, so that registered wallets the bank does not know about are reported.
    public var wallets: [String: Set<String>]

    public init(bank: String, wallets: [String: Set<String>]) {
        self.bank = bank
        self.wallets = wallets
    }
}

/// One difference between a bank's books and the registry.
public struct ReconciliationMismatch: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The bank holds a coin the registry does not know.
        case unknownCoin = "unknown_coin"
        /// The bank holds a coin the registry says another wallet owns.
        case ownedElsewhere = "owned_elsewhere"
        /// The bank holds a coin the registry says is retired.
        case retiredCoin = "retired_coin"
        /// The registry says the wallet owns a live coin the bank does not list.
        case missingAtBank = "missing_at_bank"
        /// The bank lists a wallet that is not registered.
        case unregisteredWallet = "unregistered_wallet"
        /// A wallet registered to the bank that the bank did not list.
        case walletMissingAtBank = "wallet_missing_at_bank"
    }

    public var kind: Kind
    public var wallet: String
    public var coinID: String?
    /// The registry's owner of the coin, when it differs.
    public var registryOwner: String?

    enum CodingKeys: String, CodingKey {
        case kind, wallet
        case coinID = "coin_id"
        case registryOwner = "registry_owner"
    }
}

/// The outcome of reconciling one bank.
public struct ReconciliationReport: Sendable, Hashable, Codable {
    /// The `reconciliation_runs` row recording this run.
    public var runID: Int64
    public var bank: String
    public var walletsChecked: Int
    public var coinsChecked: Int
    public var mismatches: [ReconciliationMismatch]

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case bank
        case walletsChecked = "wallets_checked"
        case coinsChecked = "coins_checked"
        case mismatches
    }
}

extension RegistryDatabase {
    /// Compares one bank's holdings with the registry and records a `reconciliation_runs` row.
    public func reconcile(_ holdings: BankHoldings) async throws -> ReconciliationReport {
        let started = RegistrationCenter.wallClockNanos()
        var walletText = CopyTextEncoder(capacity: holdings.wallets.count * 48)
        var coinText = CopyTextEncoder(capacity: holdings.wallets.count * 96)
        var coinsChecked = 0
        for (wallet, coins) in holdings.wallets {
            walletText.text(wallet)
            walletText.endRow()
            for coin in coins {
                coinText.text(wallet)
                coinText.tab()
                coinText.text(coin)
                coinText.endRow()
                coinsChecked += 1
            }
        }
        let logger = self.logger
        let walletData = walletText.buffer
        let coinData = coinText.buffer
        let mismatches = try await client.withConnection { connection -> [ReconciliationMismatch] in
            try await connection.query(
                "CREATE TEMP TABLE IF NOT EXISTS recon_wallets (wallet text PRIMARY KEY)", logger: logger)
            try await connection.query(
                "CREATE TEMP TABLE IF NOT EXISTS recon_coins (wallet text, coin_id text)", logger: logger)
            try await connection.query("TRUNCATE recon_wallets, recon_coins", logger: logger)
            try await connection.copyFrom(table: "recon_wallets", columns: ["wallet"], logger: logger) { writer in
                if walletData.readableBytes > 0 { try await writer.write(walletData) }
            }
            try await connection.copyFrom(table: "recon_coins", columns: ["wallet", "coin_id"], logger: logger) {
                writer in
                if coinData.readableBytes > 0 { try await writer.write(coinData) }
            }
            try await connection.query("ANALYZE recon_wallets", logger: logger)
            try await connection.query("ANALYZE recon_coins", logger: logger)
            var mismatches: [ReconciliationMismatch] = []
            let held = try await connection.query(
                """
                SELECT h.wallet, h.coin_id, c.owner, c.status
                FROM recon_coins h LEFT JOIN coins c ON c.id = h.coin_id
                WHERE c.id IS NULL OR c.owner <> h.wallet OR c.status <> 'live'
                ORDER BY h.wallet, h.coin_id
                """, logger: logger)
            for try await (wallet, coin, owner, status) in held.decode((String, String, String?, String?).self) {
                let kind: ReconciliationMismatch.Kind =
                    owner == nil ? .unknownCoin : (owner != wallet ? .ownedElsewhere : .retiredCoin)
                _ = status
                mismatches.append(.init(kind: kind, wallet: wallet, coinID: coin, registryOwner: owner))
            }
            let missing = try await connection.query(
                """
                SELECT c.owner, c.id FROM coins c JOIN recon_wallets w ON w.wallet = c.owner
                WHERE c.status = 'live'
                  AND NOT EXISTS (SELECT 1 FROM recon_coins h WHERE h.coin_id = c.id AND h.wallet = c.owner)
                ORDER BY c.owner, c.id
                """, logger: logger)
            for try await (wallet, coin) in missing.decode((String, String).self) {
                mismatches.append(.init(kind: .missingAtBank, wallet: wallet, coinID: coin, registryOwner: wallet))
            }
            let unregistered = try await connection.query(
                """
                SELECT w.wallet FROM recon_wallets w LEFT JOIN wallets r ON r.address = w.wallet
                WHERE r.address IS NULL ORDER BY w.wallet
                """, logger: logger)
            for try await wallet in unregistered.decode(String.self) {
                mismatches.append(.init(kind: .unregisteredWallet, wallet: wallet, coinID: nil, registryOwner: nil))
            }
            let unlisted = try await connection.query(
                """
                SELECT r.address FROM wallets r
                WHERE r.bank = \(holdings.bank)
                  AND NOT EXISTS (SELECT 1 FROM recon_wallets w WHERE w.wallet = r.address)
                ORDER BY r.address
                """, logger: logger)
            for try await wallet in unlisted.decode(String.self) {
                mismatches.append(.init(kind: .walletMissingAtBank, wallet: wallet, coinID: nil, registryOwner: nil))
            }
            return mismatches
        }
        let detail = try JSONEncoder().encode(Array(mismatches.prefix(1000)))
        let detailText = String(decoding: detail, as: UTF8.self)
        let finished = RegistrationCenter.wallClockNanos()
        var runID: Int64 = 0
        let rows = try await client.query(
            """
            INSERT INTO reconciliation_runs (bank, started_at, finished_at, wallets_checked, coins_checked, mismatches,
                                             detail)
            VALUES (\(holdings.bank),
                    'epoch'::timestamptz + \(started / 1000) * interval '1 microsecond',
                    'epoch'::timestamptz + \(finished / 1000) * interval '1 microsecond',
                    \(holdings.wallets.count), \(coinsChecked), \(mismatches.count), \(detailText)::jsonb)
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { runID = id }
        if !mismatches.isEmpty {
            logger.warning(
                "Reconciliation found mismatches",
                metadata: ["bank.id": "\(holdings.bank)", "registry.mismatches": "\(mismatches.count)"])
        }
        return ReconciliationReport(
            runID: runID, bank: holdings.bank, walletsChecked: holdings.wallets.count, coinsChecked: coinsChecked,
            mismatches: mismatches)
    }
}

/// Reconciles every bank with the registry at a fixed interval: the "regular synchronization" of the paper.
///
/// The holdings come from a closure (the simulated banks' books, or a fetch from real bank hosts). Runs as a
/// `Service` until graceful shutdown.
public struct ReconciliationJob: Service {
    private let database: RegistryDatabase
    private let interval: Duration
    private let holdings: @Sendable () async throws -> [BankHoldings]
    private let onReport: @Sendable (ReconciliationReport) -> Void
    private let logger: Logger

    /// - Parameters:
    ///   - interval: Time between runs; the first run happens after one interval.
    ///   - holdings: Produces each bank's holdings at the time of the run.
    ///   - onReport: Called with each bank's report.
    public init(
        database: RegistryDatabase, interval: Duration, logger: Logger,
        holdings: @escaping @Sendable () async throws -> [BankHoldings],
        onReport: @escaping @Sendable (ReconciliationReport) -> Void = { _ in }
    ) {
        self.database = database
        self.interval = interval
        self.holdings = holdings
        self.onReport = onReport
        self.logger = logger
    }

    /// Runs until cancelled or graceful shutdown.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    for bank in try await holdings() {
                        onReport(try await database.reconcile(bank))
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("Reconciliation run failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

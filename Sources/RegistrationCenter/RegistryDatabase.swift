import DigitalCurrency
import Logging
import PostgresNIO

/// The registry's database: migrations, wallet registration, coin issuance and queries.
///
/// Works on any running `PostgresClient` (the registration center's own, or one the CLI starts for a query). The
/// hot path, batches from the journal, is ``RegistrationCenter``'s; issuance uses the same idempotent writer.
public struct RegistryDatabase: Sendable {
    /// The client; it must be running (`client.run()` in a task or service group).
    public let client: PostgresClient
    let logger: Logger

    /// Wraps a running client.
    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Applies pending migrations (see ``RegistrySchema``).
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await RegistrySchema.migrate(client, logger: logger)
    }

    // MARK: - Registration and issuance

    /// Registers wallets (account openings). An address already registered is left as it is.
    ///
    /// - Returns: How many wallets were new.
    @discardableResult
    public func register(_ wallets: [WalletRegistration]) async throws -> Int {
        guard !wallets.isEmpty else { return 0 }
        let rows = try await client.query(
            """
            INSERT INTO wallets (address, public_key, bank, customer_ref, opened_at)
            SELECT address, public_key, bank, customer_ref, 'epoch'::timestamptz + opened_us * interval '1 microsecond'
            FROM unnest(\(wallets.map(\.address)), \(wallets.map(\.publicKey)), \(wallets.map(\.bank)),
                        \(wallets.map(\.customerReference)), \(wallets.map { $0.openedAtNanos / 1000 }))
                AS w(address, public_key, bank, customer_ref, opened_us)
            ON CONFLICT (address) DO NOTHING
            RETURNING 1
            """, logger: logger)
        var inserted = 0
        for try await _ in rows { inserted += 1 }
        return inserted
    }

    /// The result of an issuance.
    public struct Issuance: Sendable {
        /// The batch the issue records went into.
        public var batchID: Int64
        /// Coins newly issued (a repeated issuance of the same id is not issued twice).
        public var issued: Int
        /// Refusals (a coin id that already exists, …).
        public var alerts: [RegistryAlert]
    }

    /// The central bank issues coins to their first owners: `issue` owner-change records under `issuanceID` and
    /// the coins themselves, in one transaction. Idempotent by (issuance id, coin id).
    public func issue(
        _ coins: [Coin], issuanceID: String, bank: String, atNanos: Int64 = RegistrationCenter.wallClockNanos()
    ) async throws -> Issuance {
        let records = coins.map {
            OwnerChangeRecord(
                transactionID: issuanceID, coinID: $0.id, kind: .issue, fromWallet: nil, toWallet: $0.owner,
                value: $0.value, flow: "issue", payerBank: "", payeeBank: bank, createdAtNanos: atNanos)
        }
        let outcome = try await write(records, source: .issuance)
        return Issuance(batchID: outcome.batchID, issued: outcome.inserted, alerts: outcome.alerts)
    }

    /// Writes owner-change records directly, idempotently, as one batch (bypassing the journal). For tools and
    /// tests; the switch goes through ``RegistrationCenter/append(_:on:)``.
    public func writeBatch(_ records: [OwnerChangeRecord]) async throws -> (inserted: Int, alerts: [RegistryAlert]) {
        let outcome = try await write(records, source: .replay)
        return (outcome.inserted, outcome.alerts)
    }

    func write(_ records: [OwnerChangeRecord], source: RegistryWriter.Source) async throws -> RegistryWriter.Outcome {
        let writer = RegistryWriter(logger: logger)
        return try await client.withConnection { connection in
            try await writer.write(records, source: source, mayContainDuplicates: true, on: connection)
        }
    }

    // MARK: - Queries

    /// One owner-change record as registered.
    public struct RegisteredChange: Sendable, Hashable {
        public var record: OwnerChangeRecord
        public var batchID: Int64
        /// When its batch committed, microseconds since the Unix epoch.
        public var committedAtMicros: Int64
    }

    /// A coin, its history and its alerts.
    public struct CoinReport: Sendable {
        /// The coin's current state, `nil` when the registry has no such coin.
        public var coin: Coin?
        /// The owner before the current one.
        public var previousOwner: String?
        public var issuedAtMicros: Int64?
        public var updatedAtMicros: Int64?
        /// Every owner change of the coin, oldest first.
        public var history: [RegisteredChange]
        public var alerts: [RegistryAlert]
    }

    /// A coin by id, with its history (through the `owner_changes (coin_id)` index).
    public func coin(id: String) async throws -> CoinReport {
        var report = CoinReport(coin: nil, history: [], alerts: [])
        let coinRows = try await client.query(
            """
            SELECT id, value, owner, status, previous_owner,
                   (extract(epoch FROM issued_at) * 1000000)::int8, (extract(epoch FROM updated_at) * 1000000)::int8
            FROM coins WHERE id = \(id)
            """, logger: logger)
        for try await (id, value, owner, status, previous, issued, updated) in coinRows.decode(
            (String, Int64, String, String, String?, Int64, Int64).self)
        {
            report.coin = Coin(id: id, value: value, owner: owner, status: Coin.Status(rawValue: status) ?? .live)
            report.previousOwner = previous
            report.issuedAtMicros = issued
            report.updatedAtMicros = updated
        }
        let historyRows = try await client.query(
            """
            SELECT transaction_id, coin_id, kind, from_wallet, to_wallet, value, flow, payer_bank, payee_bank,
                   (extract(epoch FROM created_at) * 1000000)::int8, batch_id,
                   (extract(epoch FROM committed_at) * 1000000)::int8
            FROM owner_changes WHERE coin_id = \(id) ORDER BY batch_id, created_at
            """, logger: logger)
        for try await row in historyRows.decode(
            (String, String, String, String?, String?, Int64, String, String, String, Int64, Int64, Int64).self)
        {
            let record = OwnerChangeRecord(
                transactionID: row.0, coinID: row.1, kind: OwnerChangeRecord.Kind(rawValue: row.2) ?? .transfer,
                fromWallet: row.3, toWallet: row.4, value: row.5, flow: row.6, payerBank: row.7, payeeBank: row.8,
                createdAtNanos: row.9 * 1000)
            report.history.append(RegisteredChange(record: record, batchID: row.10, committedAtMicros: row.11))
        }
        report.alerts = try await alerts(coinID: id)
        return report
    }

    /// A wallet's registration and the live coins it owns.
    public struct WalletReport: Sendable {
        /// `nil` when the address was never registered (it may still own coins).
        public var registration: WalletRegistration?
        /// Live coins owned, by id.
        public var coins: [Coin]
        /// Sum of the live coins' values.
        public var balance: Int64
    }

    /// A wallet by address with its live coins.
    public func wallet(address: String) async throws -> WalletReport {
        var report = WalletReport(registration: nil, coins: [], balance: 0)
        let walletRows = try await client.query(
            """
            SELECT address, public_key, bank, customer_ref, (extract(epoch FROM opened_at) * 1000000)::int8
            FROM wallets WHERE address = \(address)
            """, logger: logger)
        for try await (address, key, bank, customer, opened) in walletRows.decode(
            (String, String, String, String, Int64).self)
        {
            report.registration = WalletRegistration(
                address: address, publicKey: key, bank: bank, customerReference: customer,
                openedAtNanos: opened * 1000)
        }
        // Every coin a wallet owns reached it by a record to it: find them through the `to_wallet` index rather
        // than scan `coins` (which has no `owner` index, so that coin moves stay heap-only updates).
        let coinRows = try await client.query(
            """
            SELECT c.id, c.value FROM coins c
            WHERE c.id IN (SELECT coin_id FROM owner_changes WHERE to_wallet = \(address))
              AND c.owner = \(address) AND c.status = 'live'
            ORDER BY c.id
            """, logger: logger)
        for try await (id, value) in coinRows.decode((String, Int64).self) {
            report.coins.append(Coin(id: id, value: value, owner: address))
            report.balance += value
        }
        return report
    }

    /// A wallet's owner changes, newest first: the records that gave it coins and those that spent them, found
    /// through the `to_wallet` and `coin_id` indexes (a wallet only spends coins that reached it by a record to it;
    /// a refused spend by a wallet that never owned the coin is in ``alerts(coinID:limit:)``).
    public func walletHistory(address: String, limit: Int = 100) async throws -> [RegisteredChange] {
        let rows = try await client.query(
            """
            WITH received AS (SELECT DISTINCT coin_id FROM owner_changes WHERE to_wallet = \(address))
            SELECT transaction_id, coin_id, kind, from_wallet, to_wallet, value, flow, payer_bank, payee_bank,
                   (extract(epoch FROM created_at) * 1000000)::int8, batch_id,
                   (extract(epoch FROM committed_at) * 1000000)::int8
            FROM owner_changes
            WHERE coin_id IN (SELECT coin_id FROM received)
              AND (to_wallet = \(address) OR from_wallet = \(address))
            ORDER BY batch_id DESC, created_at DESC
            LIMIT \(limit)
            """, logger: logger)
        var history: [RegisteredChange] = []
        for try await row in rows.decode(
            (String, String, String, String?, String?, Int64, String, String, String, Int64, Int64, Int64).self)
        {
            let record = OwnerChangeRecord(
                transactionID: row.0, coinID: row.1, kind: OwnerChangeRecord.Kind(rawValue: row.2) ?? .transfer,
                fromWallet: row.3, toWallet: row.4, value: row.5, flow: row.6, payerBank: row.7, payeeBank: row.8,
                createdAtNanos: row.9 * 1000)
            history.append(RegisteredChange(record: record, batchID: row.10, committedAtMicros: row.11))
        }
        return history
    }

    /// Alerts, newest first.
    public func alerts(coinID: String? = nil, limit: Int = 100) async throws -> [RegistryAlert] {
        let rows: PostgresRowSequence
        if let coinID {
            rows = try await client.query(
                """
                SELECT kind, transaction_id, coin_id, claimed_owner, registered_owner, coin_status, detail
                FROM alerts WHERE coin_id = \(coinID) ORDER BY id DESC LIMIT \(limit)
                """, logger: logger)
        } else {
            rows = try await client.query(
                """
                SELECT kind, transaction_id, coin_id, claimed_owner, registered_owner, coin_status, detail
                FROM alerts ORDER BY id DESC LIMIT \(limit)
                """, logger: logger)
        }
        var alerts: [RegistryAlert] = []
        for try await (kind, txn, coin, claimed, registered, status, detail) in rows.decode(
            (String, String, String, String?, String?, String?, String).self)
        {
            alerts.append(
                RegistryAlert(
                    kind: RegistryAlert.Kind(rawValue: kind) ?? .wrongOwner, transactionID: txn, coinID: coin,
                    claimedOwner: claimed, registeredOwner: registered,
                    coinStatus: status.flatMap(Coin.Status.init(rawValue:)), detail: detail))
        }
        return alerts
    }

    /// Registry-wide counts.
    public struct Stats: Sendable, Hashable {
        /// Rows in `owner_changes`.
        public var records: Int64
        public var batches: Int64
        /// When the last batch committed, microseconds since the Unix epoch.
        public var lastBatchCommittedAtMicros: Int64?
        /// Over all batches: record created → batch committed, for the oldest record of each batch, in ms.
        public var batchAgeP50Milliseconds: Double?
        public var batchAgeP99Milliseconds: Double?
        public var batchAgeMaxMilliseconds: Double?
        public var wallets: Int64
        public var liveCoins: Int64
        public var retiredCoins: Int64
        /// Sum of live coins' values.
        public var liveValue: Int64
        /// Sum of issued coins' values.
        public var issuedValue: Int64
        public var alerts: Int64
        public var reconciliationRuns: Int64
    }

    /// Counts over the whole registry.
    public func stats() async throws -> Stats {
        let rows = try await client.query(
            """
            SELECT (SELECT count(*) FROM owner_changes),
                   (SELECT count(*) FROM batches),
                   (SELECT (extract(epoch FROM max(committed_at)) * 1000000)::int8 FROM batches),
                   (SELECT percentile_cont(0.5) WITHIN GROUP
                        (ORDER BY extract(epoch FROM committed_at - first_created_at) * 1000) FROM batches),
                   (SELECT percentile_cont(0.99) WITHIN GROUP
                        (ORDER BY extract(epoch FROM committed_at - first_created_at) * 1000) FROM batches),
                   (SELECT (max(extract(epoch FROM committed_at - first_created_at)) * 1000)::float8 FROM batches),
                   (SELECT count(*) FROM wallets),
                   (SELECT count(*) FROM coins WHERE status = 'live'),
                   (SELECT count(*) FROM coins WHERE status = 'retired'),
                   (SELECT coalesce(sum(value), 0)::int8 FROM coins WHERE status = 'live'),
                   (SELECT coalesce(sum(value), 0)::int8 FROM owner_changes WHERE kind = 'issue'),
                   (SELECT count(*) FROM alerts),
                   (SELECT count(*) FROM reconciliation_runs)
            """, logger: logger)
        for try await row in rows.decode(
            (
                Int64, Int64, Int64?, Double?, Double?, Double?, Int64, Int64, Int64, Int64, Int64, Int64, Int64
            ).self)
        {
            return Stats(
                records: row.0, batches: row.1, lastBatchCommittedAtMicros: row.2, batchAgeP50Milliseconds: row.3,
                batchAgeP99Milliseconds: row.4, batchAgeMaxMilliseconds: row.5, wallets: row.6, liveCoins: row.7,
                retiredCoins: row.8, liveValue: row.9, issuedValue: row.10, alerts: row.11,
                reconciliationRuns: row.12)
        }
        throw RegistrationCenterError(.notRunning, "stats query returned no row")
    }

    /// Value conservation: what the central bank issued against what is live.
    public struct Conservation: Sendable, Hashable, Codable {
        /// Sum of the values of the `issue` records whose batches are applied to coin state.
        public var issued: Int64
        /// Sum of the values of all live coins.
        public var live: Int64
        /// `issued == live`.
        public var ok: Bool

        public init(issued: Int64, live: Int64, ok: Bool) {
            self.issued = issued
            self.live = live
            self.ok = ok
        }
    }

    /// Checks value conservation, as of the batches applied to coin state: `issue` records of a batch whose coin state
    /// is still pending (deferred mode) are counted once the batch is applied, in the same transaction that makes its
    /// coins live, so the check holds at any instant rather than only once the applier has caught up.
    public func conservation() async throws -> Conservation {
        let rows = try await client.query(
            """
            SELECT (SELECT coalesce(sum(o.value), 0)::int8 FROM owner_changes o JOIN batches b ON b.id = o.batch_id
                    WHERE o.kind = 'issue' AND b.coins_applied_at IS NOT NULL),
                   (SELECT coalesce(sum(value), 0)::int8 FROM coins WHERE status = 'live')
            """, logger: logger)
        for try await (issued, live) in rows.decode((Int64, Int64).self) {
            return Conservation(issued: issued, live: live, ok: issued == live)
        }
        throw RegistrationCenterError(.notRunning, "conservation query returned no row")
    }
}

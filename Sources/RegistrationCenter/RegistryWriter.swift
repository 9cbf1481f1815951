import Crypto
import DigitalCurrency
import Logging
import NIOCore
import PostgresNIO

/// Writes one batch of owner-change records into PostgreSQL, in one transaction, exactly once.
///
/// 1. `COPY` the records straight into `owner_changes` (the fast path). If any `(transaction_id, coin_id)` is already
///    there (a replay after a crash, or a retry after an ambiguous failure), roll back to a savepoint and take the
///    idempotent path instead: `COPY` into a temporary staging table, then
///    `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` the keys actually inserted. Batches that are known to
///    be replays take the idempotent path directly.
/// 2. Apply the inserted records to `coins` with ``CoinLedger``'s rules: optimistically, with one `COPY` of the new
///    coins and one set-based `UPDATE` of the moved ones whose preconditions PostgreSQL checks; if any precondition
///    fails, roll back to a savepoint, read the registered state of the batch's coins `FOR UPDATE` and apply
///    exactly. Refused records go to `alerts`.
/// 3. Insert the `batches` row (count, time range, SHA-256 digest of the inserted rows) and commit.
///
/// With `applyCoins: false` step 2 is left to ``applyDeferred(batchID:records:on:)``, run later in its own
/// transaction (``CoinStateMode/deferred(maxLagRecords:)``); the batch row says so (`coins_applied_at` NULL).
struct RegistryWriter: Sendable {
    /// Where a batch came from, stored in `batches.source`.
    enum Source: String, Sendable {
        case journal
        case replay
        case issuance
    }

    struct Outcome: Sendable {
        var batchID: Int64
        /// Records in the batch.
        var records: Int
        /// Records inserted (the others were already there).
        var inserted: Int
        var alerts: [RegistryAlert]
        /// Whether the fast path (direct COPY, optimistic coin update) held all the way.
        var fastPath: Bool
        /// The records inserted, in batch order (for deferred coin application).
        var insertedRecords: [OwnerChangeRecord]
    }

    /// Copy data is sent in chunks of about this size.
    static let copyChunkBytes = 1 << 20
    /// Rows encoded and sent per COPY chunk.
    static let copyChunkRows = 2_000

    var logger: Logger

    func write(
        _ records: [OwnerChangeRecord], source: Source, mayContainDuplicates: Bool, applyCoins: Bool = true,
        on connection: PostgresConnection
    ) async throws -> Outcome {
        try await connection.withTransaction(logger: logger) { connection in
            try await writeInTransaction(
                records, source: source, mayContainDuplicates: mayContainDuplicates, applyCoins: applyCoins,
                on: connection)
        }
    }

    /// Applies a committed batch's records to `coins` (deferred mode), once, and after every older batch.
    ///
    /// Coin state must follow batch order. Batches are queued for application in the order this process commits
    /// them, after the pending batches an earlier process left (listed at start); but a batch can also commit unseen:
    /// the COMMIT of a process SIGKILLed mid-flush still runs in its backend and can land after the next process has
    /// listed the pending batches, and a flush whose success was lost with its connection is retried idempotently and
    /// finds its records already there. The replay of such a batch's records inserts none of them, so a later record
    /// of the same coin would otherwise be applied first (a false double spend, wrong owner or unknown coin). So the
    /// claim takes every pending batch up to `batchID`, in one statement, and applies them oldest first.
    ///
    /// - Parameter records: The records of batch `batchID` when the caller kept them (others are read back).
    /// - Returns: The alerts raised, or `nil` when no batch up to `batchID` was pending (it had been applied already).
    func applyDeferred(batchID: Int64, records: [OwnerChangeRecord]?, on connection: PostgresConnection)
        async throws -> [RegistryAlert]?
    {
        try await connection.withTransaction(logger: logger) { connection -> [RegistryAlert]? in
            let claimed = try await claimPendingBatches(through: batchID, on: connection)
            guard !claimed.isEmpty else { return nil }
            var alerts: [RegistryAlert] = []
            for id in claimed {
                alerts += try await applyClaimedBatch(id, records: id == batchID ? records : nil, on: connection)
            }
            return alerts
        }
    }

    /// Marks every batch up to `batchID` whose coin state is pending as applied (the caller applies them in the same
    /// transaction) and returns their ids, oldest first.
    private func claimPendingBatches(through batchID: Int64, on connection: PostgresConnection) async throws
        -> [Int64]
    {
        var claimed: [Int64] = []
        for try await id in try await connection.query(
            """
            WITH claimed AS (
                UPDATE batches SET coins_applied_at = now() WHERE id <= \(batchID) AND coins_applied_at IS NULL
                RETURNING id
            )
            SELECT id FROM claimed ORDER BY id
            """, logger: logger
        ).decode(Int64.self) {
            claimed.append(id)
        }
        let unseen = claimed.filter { $0 != batchID }
        if !unseen.isEmpty {
            logger.warning(
                "Applying coin state of batches committed unseen, before the next one",
                metadata: ["registry.batch": "\(batchID)", "registry.unseen": "\(unseen)"])
        }
        return claimed
    }

    /// Applies a claimed batch's records (`records`, or read back when `nil`) to `coins` and registers its alerts.
    private func applyClaimedBatch(_ batchID: Int64, records: [OwnerChangeRecord]?, on connection: PostgresConnection)
        async throws -> [RegistryAlert]
    {
        let batchRecords: [OwnerChangeRecord]
        if let records {
            batchRecords = records
        } else {
            batchRecords = try await Self.readBatch(batchID, on: connection, logger: logger)
        }
        let coins = try await applyToCoins(batchRecords, on: connection)
        if !coins.alerts.isEmpty {
            try await insertAlerts(coins.alerts, batchID: batchID, on: connection)
        }
        return coins.alerts
    }

    /// A batch's records in the order they were written: by `batch_position` (physical order is not insertion order,
    /// see migration 4), by physical order for rows written before it had one.
    static func readBatch(_ batchID: Int64, on connection: PostgresConnection, logger: Logger) async throws
        -> [OwnerChangeRecord]
    {
        var records: [OwnerChangeRecord] = []
        let rows = try await connection.query(
            """
            SELECT transaction_id, coin_id, kind, from_wallet, to_wallet, value, flow, payer_bank, payee_bank,
                   (extract(epoch FROM created_at) * 1000000)::int8
            FROM owner_changes WHERE batch_id = \(batchID) ORDER BY batch_position, ctid
            """, logger: logger)
        for try await row in rows.decode(
            (String, String, String, String?, String?, Int64, String, String, String, Int64).self)
        {
            records.append(
                OwnerChangeRecord(
                    transactionID: row.0, coinID: row.1, kind: OwnerChangeRecord.Kind(rawValue: row.2) ?? .transfer,
                    fromWallet: row.3, toWallet: row.4, value: row.5, flow: row.6, payerBank: row.7,
                    payeeBank: row.8, createdAtNanos: row.9 * 1000))
        }
        return records
    }

    private func writeInTransaction(
        _ records: [OwnerChangeRecord], source: Source, mayContainDuplicates: Bool, applyCoins: Bool,
        on connection: PostgresConnection
    ) async throws -> Outcome {
        var batchID: Int64 = 0
        for try await id in try await connection.query("SELECT nextval('batch_ids')", logger: logger).decode(
            Int64.self)
        {
            batchID = id
        }

        let started = ContinuousClock.now
        var fastPath = !mayContainDuplicates
        var inserted: [OwnerChangeRecord] = records
        var digestHex = ""
        if fastPath {
            try await connection.query("SAVEPOINT direct_copy", logger: logger)
            do {
                digestHex = try await streamCopy(records, batchID: batchID, into: "owner_changes", on: connection)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                logger.debug("Batch holds records already registered; inserting idempotently",
                             metadata: ["registry.batch": "\(batchID)"])
                try await connection.query("ROLLBACK TO SAVEPOINT direct_copy", logger: logger)
                fastPath = false
            }
        }
        if !fastPath {
            let positions: [Int]
            (inserted, positions) = try await insertIdempotently(records, batchID: batchID, on: connection)
            var copyText = CopyTextEncoder(capacity: inserted.count * 200)
            inserted.withUnsafeBufferPointer { rows in
                for index in rows.indices {
                    copyText.ownerChange(rows[index], batchID: batchID, position: positions[index])
                }
            }
            digestHex = Self.digest(copyText.buffer)
        }
        let copied = ContinuousClock.now

        // In-batch mode, records already registered: the batch that registered them may be a deferred-mode batch that
        // committed unseen (see `applyDeferred`); its coin state goes first. (This batch's own row is not written yet.)
        var unseenAlerts: [RegistryAlert] = []
        if applyCoins && inserted.count < records.count {
            for id in try await claimPendingBatches(through: batchID, on: connection) {
                unseenAlerts += try await applyClaimedBatch(id, records: nil, on: connection)
            }
        }
        var coins = applyCoins
            ? try await applyToCoins(inserted, on: connection) : CoinsOutcome(alerts: [], optimisticHeld: true)
        let applied = ContinuousClock.now
        if !coins.alerts.isEmpty {
            try await insertAlerts(coins.alerts, batchID: batchID, on: connection)
        }
        coins.alerts = unseenAlerts + coins.alerts

        // Through the buffer: `for record in inserted` would copy every record (and retain its strings).
        let (first, last) = inserted.withUnsafeBufferPointer { records -> (Int64?, Int64?) in
            guard !records.isEmpty else { return (nil, nil) }
            var first = Int64.max
            var last = Int64.min
            for index in records.indices {
                first = min(first, records[index].createdAtNanos)
                last = max(last, records[index].createdAtNanos)
            }
            return (first, last)
        }
        try await connection.query(
            """
            INSERT INTO batches (id, record_count, inserted_count, first_created_at, last_created_at, digest, source,
                                 coins_applied_at)
            VALUES (\(batchID), \(records.count), \(inserted.count),
                    'epoch'::timestamptz + \(first.map { $0 / 1000 }) * interval '1 microsecond',
                    'epoch'::timestamptz + \(last.map { $0 / 1000 }) * interval '1 microsecond',
                    \(digestHex), \(source.rawValue), CASE WHEN \(applyCoins) THEN now() END)
            """, logger: logger)
        logger.debug(
            "Registry batch written",
            metadata: [
                "registry.batch": "\(batchID)", "registry.records": "\(records.count)",
                "registry.copy": "\(copied - started)",
                "registry.coins": "\(applied - copied)", "registry.fast_path": "\(fastPath && coins.optimisticHeld)",
            ])
        return Outcome(
            batchID: batchID, records: records.count, inserted: inserted.count, alerts: coins.alerts,
            fastPath: fastPath && coins.optimisticHeld, insertedRecords: applyCoins ? [] : inserted)
    }

    /// SHA-256 of a batch's rows as sent (hex).
    static func digest(_ rows: ByteBuffer) -> String {
        var digest = SHA256()
        rows.withUnsafeReadableBytes { digest.update(bufferPointer: $0) }
        return Self.hex(digest.finalize())
    }

    /// Lowercase hex of a digest.
    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(SHA256.Digest.byteCount * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - owner_changes

    /// Returns the records inserted, in batch order, and their positions in the batch (as stored).
    private func insertIdempotently(
        _ records: [OwnerChangeRecord], batchID: Int64, on connection: PostgresConnection
    ) async throws -> (records: [OwnerChangeRecord], positions: [Int]) {
        try await connection.query(
            """
            CREATE TEMP TABLE IF NOT EXISTS staging_owner_changes
                (LIKE owner_changes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
            """, logger: logger)
        try await connection.query("TRUNCATE staging_owner_changes", logger: logger)
        _ = try await streamCopy(records, batchID: batchID, into: "staging_owner_changes", on: connection)
        var insertedKeys = Set<RecordKey>()
        let rows = try await connection.query(
            """
            INSERT INTO owner_changes SELECT * FROM staging_owner_changes
            ON CONFLICT (transaction_id, coin_id) DO NOTHING
            RETURNING transaction_id, coin_id
            """, logger: logger)
        for try await (transactionID, coinID) in rows.decode((String, String).self) {
            insertedKeys.insert(RecordKey(transactionID: transactionID, coinID: coinID))
        }
        // Keep the first occurrence of each inserted key, in batch order.
        var result: [OwnerChangeRecord] = []
        var positions: [Int] = []
        result.reserveCapacity(insertedKeys.count)
        positions.reserveCapacity(insertedKeys.count)
        for (position, record) in records.enumerated() {
            if insertedKeys.remove(RecordKey(transactionID: record.transactionID, coinID: record.coinID)) != nil {
                result.append(record)
                positions.append(position)
            }
        }
        return (result, positions)
    }

    /// COPYs rows, encoding them chunk by chunk so that encoding overlaps PostgreSQL's parsing of the previous
    /// chunk. Returns the SHA-256 (hex) of the bytes sent.
    private func streamCopy(
        _ records: [OwnerChangeRecord], batchID: Int64, into table: String, on connection: PostgresConnection
    ) async throws -> String {
        var digest = SHA256()
        try await connection.copyFrom(table: table, columns: CopyTextEncoder.ownerChangeColumns, logger: logger) {
            writer in
            var start = 0
            while start < records.count {
                let end = min(start + Self.copyChunkRows, records.count)
                var text = CopyTextEncoder(capacity: (end - start) * 200)
                // Rows are encoded from the array's buffer, so that no record is copied on the way.
                records.withUnsafeBufferPointer { rows in
                    for index in start..<end { text.ownerChange(rows[index], batchID: batchID, position: index) }
                }
                text.buffer.withUnsafeReadableBytes { digest.update(bufferPointer: $0) }
                try await writer.write(text.buffer)
                start = end
            }
        }
        return Self.hex(digest.finalize())
    }

    private func copy(
        _ buffer: ByteBuffer, into table: String, columns: [String], on connection: PostgresConnection
    ) async throws {
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            var remaining = buffer
            while remaining.readableBytes > 0 {
                let chunk = remaining.readSlice(length: min(Self.copyChunkBytes, remaining.readableBytes))!
                try await writer.write(chunk)
            }
        }
    }

    // MARK: - coins

    private struct CoinsOutcome {
        var alerts: [RegistryAlert]
        var optimisticHeld: Bool
    }

    private struct Move {
        var coinID: String
        /// `create`: insert a coin that must not exist; `transfer`: update a live coin owned by `expectedOwner`.
        var insert: Bool
        var expectedOwner: String
        var final: CoinLedger.State
        var issuedNanos: Int64
        var updatedNanos: Int64
    }

    private func applyToCoins(_ records: [OwnerChangeRecord], on connection: PostgresConnection) async throws
        -> CoinsOutcome
    {
        guard !records.isEmpty else { return CoinsOutcome(alerts: [], optimisticHeld: true) }
        // Grouped by coin and walked through the array's buffer: no array per coin, no copy of a record.
        let chains = records.withUnsafeBufferPointer { CoinLedger.Chains($0) }
        func plan(from registered: [String: CoinLedger.State]?) -> (alerts: [RegistryAlert], moves: [Move]) {
            var alerts: [RegistryAlert] = []
            var moves: [Move] = []
            moves.reserveCapacity(chains.heads.count)
            records.withUnsafeBufferPointer { records in
                for head in chains.heads {
                    let coinID = records[head].coinID
                    // Optimistic (no registered state given): every chain starts from the state its first record
                    // implies.
                    let start: CoinLedger.State?
                    if let registered {
                        start = registered[coinID]
                    } else {
                        start = CoinLedger.assumedStart(for: records[head])
                    }
                    let outcome = CoinLedger.walk(records, positions: chains.positions(from: head), from: start)
                    alerts += outcome.alerts
                    if let move = Self.move(for: coinID, outcome) { moves.append(move) }
                }
            }
            return (alerts, moves)
        }

        var (alerts, moves) = plan(from: nil)
        // A batch touches few of the coins: probe the primary key per move rather than hash the whole table (the
        // planner would otherwise weigh a full scan of `coins`).
        try await connection.query("SET LOCAL enable_hashjoin = off", logger: logger)
        try await connection.query("SET LOCAL enable_mergejoin = off", logger: logger)
        try await connection.query("SAVEPOINT coin_moves", logger: logger)
        if try await applyMoves(moves, on: connection) {
            return CoinsOutcome(alerts: alerts, optimisticHeld: true)
        }

        // A precondition failed somewhere: start over from the registered state of every coin in the batch.
        try await connection.query("ROLLBACK TO SAVEPOINT coin_moves", logger: logger)
        let ids = chains.heads.map { records[$0].coinID }
        var registered: [String: CoinLedger.State] = [:]
        let rows = try await connection.query(
            """
            SELECT id, owner, status, value, previous_owner FROM coins WHERE id = ANY(\(ids)) FOR UPDATE
            """, logger: logger)
        for try await (id, owner, status, value, previous) in rows.decode((String, String, String, Int64, String?).self) {
            registered[id] = CoinLedger.State(
                owner: owner, status: Coin.Status(rawValue: status) ?? .live, value: value, previousOwner: previous)
        }
        (alerts, moves) = plan(from: registered)
        guard try await applyMoves(moves, on: connection) else {
            throw RegistrationCenterError(
                .invalidInput, "coin state changed under the batch writer (another writer on the same registry?)")
        }
        return CoinsOutcome(alerts: alerts, optimisticHeld: false)
    }

    private static func move(for coinID: String, _ outcome: CoinLedger.Outcome) -> Move? {
        guard outcome.changed, let final = outcome.final else { return nil }
        if let start = outcome.start {
            return Move(
                coinID: coinID, insert: false, expectedOwner: start.owner, final: final, issuedNanos: 0,
                updatedNanos: outcome.lastAppliedNanos)
        }
        return Move(
            coinID: coinID, insert: true, expectedOwner: "", final: final,
            issuedNanos: outcome.createdNanos ?? outcome.lastAppliedNanos, updatedNanos: outcome.lastAppliedNanos)
    }

    /// Returns whether every move's precondition held (and so every move was applied). When it returns `false` the
    /// transaction may be in the failed state: the caller rolls back to its savepoint.
    ///
    /// New coins are COPYed straight into `coins` (the bulk insert path; a coin that already exists fails the
    /// primary key, which is the precondition failing). Moves of existing coins are applied with one `UPDATE … FROM
    /// unnest(…)` of binary arrays whose `WHERE` is the precondition (live, owned by the expected wallet): nothing is
    /// written to a staging table and no text is parsed for them.
    private func applyMoves(_ moves: [Move], on connection: PostgresConnection) async throws -> Bool {
        guard !moves.isEmpty else { return true }
        var created = CopyTextEncoder(capacity: 0)
        var createdCount = 0
        var movedIDs: [String] = []
        var expectedOwners: [String] = []
        var owners: [String] = []
        var statuses: [String] = []
        var previousOwners: [String] = []
        var updatedMicros: [Int64] = []
        let movedCount = moves.count(where: { !$0.insert })
        if movedCount > 0 {
            movedIDs.reserveCapacity(movedCount)
            expectedOwners.reserveCapacity(movedCount)
            owners.reserveCapacity(movedCount)
            statuses.reserveCapacity(movedCount)
            previousOwners.reserveCapacity(movedCount)
            updatedMicros.reserveCapacity(movedCount)
        }
        for move in moves {
            if move.insert {
                if createdCount == 0 { created = CopyTextEncoder(capacity: moves.count * 140) }
                createdCount += 1
                created.text(move.coinID)
                created.tab()
                created.integer(move.final.value)
                created.tab()
                created.text(move.final.owner)
                created.tab()
                created.text(move.final.status.rawValue)
                created.tab()
                created.optionalText(move.final.previousOwner)
                created.tab()
                created.timestamp(nanosecondsSinceEpoch: move.issuedNanos)
                created.tab()
                created.timestamp(nanosecondsSinceEpoch: move.updatedNanos)
                created.endRow()
            } else {
                movedIDs.append(move.coinID)
                expectedOwners.append(move.expectedOwner)
                owners.append(move.final.owner)
                statuses.append(move.final.status.rawValue)
                // Wallet addresses are never empty: "" stands for NULL (arrays of optionals are not bound).
                previousOwners.append(move.final.previousOwner ?? "")
                updatedMicros.append(Self.floorMicros(move.updatedNanos))
            }
        }
        if createdCount > 0 {
            do {
                try await copy(
                    created.buffer, into: "coins",
                    columns: ["id", "value", "owner", "status", "previous_owner", "issued_at", "updated_at"],
                    on: connection)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                // A created coin already exists: a precondition failed.
                return false
            }
        }
        guard movedCount > 0 else { return true }
        var applied: Int64 = -1
        let rows = try await connection.query(
            """
            WITH moved AS (
                UPDATE coins c
                SET owner = m.owner, status = m.status, previous_owner = NULLIF(m.previous_owner, ''),
                    updated_at = 'epoch'::timestamptz + m.updated_us * interval '1 microsecond'
                FROM unnest(\(movedIDs)::text[], \(expectedOwners)::text[], \(owners)::text[], \(statuses)::text[],
                            \(previousOwners)::text[], \(updatedMicros)::int8[])
                    AS m(coin_id, expected_owner, owner, status, previous_owner, updated_us)
                WHERE c.id = m.coin_id AND c.status = 'live' AND c.owner = m.expected_owner
                RETURNING 1
            )
            SELECT count(*) FROM moved
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { applied = count }
        return applied == Int64(movedCount)
    }

    /// Microseconds since the epoch, rounded toward the past (as ``CopyTextEncoder/timestamp(nanosecondsSinceEpoch:)``
    /// writes them).
    static func floorMicros(_ nanos: Int64) -> Int64 {
        nanos >= 0 ? nanos / 1000 : -((-(nanos + 1)) / 1000) - 1
    }

    // MARK: - alerts

    private func insertAlerts(_ alerts: [RegistryAlert], batchID: Int64, on connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            """
            INSERT INTO alerts (kind, transaction_id, coin_id, claimed_owner, registered_owner, coin_status, batch_id,
                                detail)
            SELECT kind, transaction_id, coin_id, NULLIF(claimed, ''), NULLIF(registered, ''), NULLIF(status, ''),
                   \(batchID), detail
            FROM unnest(\(alerts.map(\.kind.rawValue)), \(alerts.map(\.transactionID)), \(alerts.map(\.coinID)),
                        \(alerts.map { $0.claimedOwner ?? "" }), \(alerts.map { $0.registeredOwner ?? "" }),
                        \(alerts.map { $0.coinStatus?.rawValue ?? "" }), \(alerts.map(\.detail)))
                AS a(kind, transaction_id, coin_id, claimed, registered, status, detail)
            """, logger: logger)
    }
}

/// The identity of an owner-change record.
struct RecordKey: Hashable, Sendable {
    var transactionID: String
    var coinID: String
}

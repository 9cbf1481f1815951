import Logging
import PostgresNIO

/// One versioned schema change: statements run in order, in one transaction, recorded in `schema_migrations`.
public struct RegistryMigration: Sendable {
    /// Strictly increasing, starting at 1.
    public var version: Int
    /// A short name, stored beside the version.
    public var name: String
    /// SQL statements, one per element (the extended protocol takes one statement at a time).
    public var statements: [String]

    /// Creates a migration.
    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// The registration center's schema and the code that brings a database up to date.
public enum RegistrySchema {
    /// Every migration, in order. Append new ones; never edit one that has shipped.
    public static let migrations: [RegistryMigration] = [
        RegistryMigration(
            version: 1, name: "registry",
            statements: [
                // Identity registration of account opening (§3.2.1 step 3): the wallet's address and public key.
                """
                CREATE TABLE wallets (
                    address text PRIMARY KEY,
                    public_key text NOT NULL,
                    bank text NOT NULL,
                    customer_ref text NOT NULL,
                    opened_at timestamptz NOT NULL,
                    registered_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX wallets_bank ON wallets (bank)",
                // Current state of every coin. Updated in place on every owner change: no index on `owner`, so the
                // updates are HOT (heap-only) and a batch does not pay a second index insertion per record; the
                // fill factor leaves room for those updates in the same page.
                """
                CREATE TABLE coins (
                    id text PRIMARY KEY,
                    value bigint NOT NULL CHECK (value > 0),
                    owner text NOT NULL,
                    status text NOT NULL CHECK (status IN ('live', 'retired')),
                    previous_owner text,
                    issued_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL
                ) WITH (fillfactor = 70)
                """,
                // One row per ownership change. (transaction_id, coin_id) identifies a record: a replay of the same
                // pair is the same record, never a second change.
                """
                CREATE TABLE owner_changes (
                    transaction_id text NOT NULL,
                    coin_id text NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('issue', 'transfer', 'retire', 'create')),
                    from_wallet text,
                    to_wallet text,
                    value bigint NOT NULL,
                    flow text NOT NULL,
                    payer_bank text NOT NULL,
                    payee_bank text NOT NULL,
                    created_at timestamptz NOT NULL,
                    committed_at timestamptz NOT NULL DEFAULT now(),
                    batch_id bigint NOT NULL,
                    PRIMARY KEY (transaction_id, coin_id)
                )
                """,
                // Batches are written in id order, so a BRIN index finds a batch's rows at almost no insert cost.
                "CREATE INDEX owner_changes_batch ON owner_changes USING brin (batch_id)",
                "CREATE SEQUENCE batch_ids",
                """
                CREATE TABLE batches (
                    id bigint PRIMARY KEY,
                    record_count integer NOT NULL,
                    inserted_count integer NOT NULL,
                    first_created_at timestamptz,
                    last_created_at timestamptz,
                    committed_at timestamptz NOT NULL DEFAULT now(),
                    digest text NOT NULL,
                    source text NOT NULL
                )
                """,
                // What the registry refused to apply: a coin spent by a wallet that does not own it, spent after it
                // was retired, unknown, or created twice. The owner-change record itself is kept.
                """
                CREATE TABLE alerts (
                    id bigserial PRIMARY KEY,
                    kind text NOT NULL,
                    transaction_id text NOT NULL,
                    coin_id text NOT NULL,
                    claimed_owner text,
                    registered_owner text,
                    coin_status text,
                    batch_id bigint,
                    detail text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX alerts_coin ON alerts (coin_id)",
                """
                CREATE TABLE reconciliation_runs (
                    id bigserial PRIMARY KEY,
                    bank text NOT NULL,
                    started_at timestamptz NOT NULL,
                    finished_at timestamptz NOT NULL,
                    wallets_checked integer NOT NULL,
                    coins_checked integer NOT NULL,
                    mismatches integer NOT NULL,
                    detail jsonb NOT NULL
                )
                """,
            ]),
        RegistryMigration(
            version: 2, name: "deferred coin state",
            statements: [
                // When the batch's records were applied to `coins` (in the batch's own transaction, or later by the
                // deferred applier); NULL while pending.
                "ALTER TABLE batches ADD COLUMN coins_applied_at timestamptz",
                "UPDATE batches SET coins_applied_at = committed_at",
                "CREATE INDEX batches_coins_pending ON batches (id) WHERE coins_applied_at IS NULL",
            ]),
        RegistryMigration(
            version: 3, name: "history indexes",
            statements: [
                // A coin's history (`registry coin ID`) and a wallet's history and holdings (`registry wallet ADDRESS`)
                // by index rather than by scanning every record. Records by transaction use the primary key; a coin
                // by id, the coins' primary key. A wallet's spends are found through the coins it received (every
                // coin a wallet spends reached it by a record whose `to_wallet` it is), so `from_wallet` needs no
                // index of its own. These two indexes are most of what PostgreSQL does per ingested record (see the
                // RegistryIngest benchmark); raw COPY pays them too, into the same table.
                "CREATE INDEX owner_changes_coin ON owner_changes (coin_id)",
                "CREATE INDEX owner_changes_to_wallet ON owner_changes (to_wallet)",
            ]),
        RegistryMigration(
            version: 4, name: "record order in batch",
            statements: [
                // A record's place in its batch, the order in which coin state applied after the commit (deferred
                // mode, or after a restart) replays the batch. Physical order is not insertion order: once vacuum has
                // freed the space of aborted rows (a batch in flight when its process was killed), the next batch's
                // COPY fills it, so that rows it wrote later lie before rows it wrote first. NULL for older rows.
                "ALTER TABLE owner_changes ADD COLUMN batch_position integer",
            ]),
    ]

    /// The newest version this build knows.
    public static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Applies every migration the database has not seen, in order, each in its own transaction, under an advisory
    /// lock so that two processes starting at once do not race. Running it again is a no-op.
    ///
    /// - Returns: The versions applied by this call.
    /// - Throws: ``RegistrationCenterError/Code/migrationFailed`` when a statement fails or the database holds a
    ///   newer schema than this build.
    @discardableResult
    public static func migrate(
        _ client: PostgresClient, migrations: [RegistryMigration] = Self.migrations, logger: Logger
    ) async throws -> [Int] {
        try await client.withConnection { connection in
            try await migrate(connection, migrations: migrations, logger: logger)
        }
    }

    /// ``migrate(_:migrations:logger:)`` on one connection.
    @discardableResult
    public static func migrate(
        _ connection: PostgresConnection, migrations: [RegistryMigration] = Self.migrations, logger: Logger
    ) async throws -> [Int] {
        do {
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var applied: [Int] = []
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: logger)
            do {
                var current = 0
                for try await version in try await connection.query(
                    "SELECT coalesce(max(version), 0)::int8 FROM schema_migrations", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                let latest = migrations.last?.version ?? 0
                guard current <= latest else {
                    throw RegistrationCenterError(
                        .migrationFailed,
                        "database schema is at version \(current), newer than this build's \(latest)")
                }
                for migration in migrations where migration.version > current {
                    try await connection.withTransaction(logger: logger) { connection in
                        for statement in migration.statements {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                            logger: logger)
                    }
                    logger.info(
                        "Applied registry migration",
                        metadata: ["registry.migration": "\(migration.version) \(migration.name)"])
                    applied.append(migration.version)
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
            return applied
        } catch let error as RegistrationCenterError {
            throw error
        } catch {
            throw RegistrationCenterError(.migrationFailed, "\(String(reflecting: error))")
        }
    }

    /// An arbitrary constant identifying the registry's migration lock.
    static let advisoryLockKey: Int64 = 0x4443_5357_5245_4731  // "DCSWREG1"
}

import DigitalCurrency
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Measures the two ways of loading owner-change rows that the batch writer could use, on fresh identical tables:
/// `COPY … FROM STDIN` through PostgresNIO's `copyFrom`, and a multi-row `INSERT … SELECT FROM unnest(arrays)` (the
/// fastest multi-row form: one statement, one bind per column). The RegistryIngest benchmark reports both; the
/// writer uses COPY because it measured faster.
public enum IngestStrategyProbe {
    /// Rows per second for each strategy (`"copy"`, `"multi_row_insert"`), `batch` rows per transaction.
    public static func compare(
        database: DatabaseURL, records: [OwnerChangeRecord], batch: Int, logger: Logger
    ) async throws -> [String: Double] {
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: try database.connectionConfiguration(),
            id: 99, logger: logger)
        defer { Task { try? await connection.close() } }
        for table in ["probe_copy", "probe_insert"] {
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(table)"), logger: logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (LIKE owner_changes INCLUDING ALL)"), logger: logger)
        }
        var results: [String: Double] = [:]
        let batch = max(batch, 1)

        var start = ContinuousClock.now
        for chunk in stride(from: 0, to: records.count, by: batch) {
            var text = CopyTextEncoder(capacity: batch * 200)
            for position in chunk..<min(chunk + batch, records.count) {
                text.ownerChange(records[position], batchID: 1, position: position - chunk)
            }
            try await connection.query("BEGIN", logger: logger)
            try await connection.copyFrom(
                table: "probe_copy", columns: CopyTextEncoder.ownerChangeColumns, logger: logger
            ) { writer in
                try await writer.write(text.buffer)
            }
            try await connection.query("COMMIT", logger: logger)
        }
        results["copy"] = Double(records.count) / seconds(ContinuousClock.now - start)

        start = ContinuousClock.now
        for chunk in stride(from: 0, to: records.count, by: batch) {
            let slice = Array(records[chunk..<min(chunk + batch, records.count)])
            try await connection.query(
                """
                INSERT INTO probe_insert (transaction_id, coin_id, kind, from_wallet, to_wallet, value, flow,
                                          payer_bank, payee_bank, created_at, batch_id)
                SELECT t, c, k, NULLIF(f, ''), NULLIF(w, ''), v, fl, pb, eb,
                       'epoch'::timestamptz + ca * interval '1 microsecond', 1
                FROM unnest(\(slice.map(\.transactionID)), \(slice.map(\.coinID)), \(slice.map(\.kind.rawValue)),
                            \(slice.map { $0.fromWallet ?? "" }), \(slice.map { $0.toWallet ?? "" }),
                            \(slice.map(\.value)), \(slice.map(\.flow)), \(slice.map(\.payerBank)),
                            \(slice.map(\.payeeBank)), \(slice.map { $0.createdAtNanos / 1000 }))
                    AS r(t, c, k, f, w, v, fl, pb, eb, ca)
                """, logger: logger)
        }
        results["multi_row_insert"] = Double(records.count) / seconds(ContinuousClock.now - start)
        for table in ["probe_copy", "probe_insert"] {
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"), logger: logger)
        }
        return results
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

import DigitalCurrency
import PostgresNIO

extension RegistrationCenter: OwnerChangeLookup {
    /// The ids among `transactionIDs` with owner-change records: waits until every record accepted so far (journal
    /// replays included) is committed, then asks the database.
    public func transactionsWithRecords(among transactionIDs: [String]) async throws -> Set<String> {
        guard !transactionIDs.isEmpty else { return [] }
        await self.waitUntilCommitted(includingCoinState: false)
        var found: Set<String> = []
        // In slices, so that a long list does not make one huge parameter.
        var start = 0
        while start < transactionIDs.count {
            let slice = Array(transactionIDs[start..<min(start + 1000, transactionIDs.count)])
            let rows = try await self.database.client.query(
                "SELECT DISTINCT transaction_id FROM owner_changes WHERE transaction_id = ANY(\(slice))", logger: self.database.logger
            )
            for try await id in rows.decode(String.self) { found.insert(id) }
            start += 1000
        }
        return found
    }
}

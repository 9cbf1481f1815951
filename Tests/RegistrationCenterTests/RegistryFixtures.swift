import DCSwitchTestKit
import DigitalCurrency
import Foundation
import Logging
import PostgresNIO

@testable import RegistrationCenter

/// Builders for records and running registries, shared by the suites.
enum RegistryFixtures {
    static let t0: Int64 = 1_750_000_000_000_000_000

    static func transfer(_ txn: String, coin: String, from: String, to: String, value: Int64 = 100) -> OwnerChangeRecord {
        OwnerChangeRecord(
            transactionID: txn, coinID: coin, kind: .transfer, fromWallet: from, toWallet: to, value: value, flow: "nfc",
            payerBank: "B001", payeeBank: "B002", createdAtNanos: RegistrationCenter.wallClockNanos())
    }

    static func issue(_ txn: String, coin: String, to: String, value: Int64 = 100) -> OwnerChangeRecord {
        OwnerChangeRecord(
            transactionID: txn, coinID: coin, kind: .issue, fromWallet: nil, toWallet: to, value: value, flow: "issue",
            payerBank: "", payeeBank: "B001", createdAtNanos: RegistrationCenter.wallClockNanos())
    }

    static func retire(_ txn: String, coin: String, from: String, value: Int64 = 100) -> OwnerChangeRecord {
        OwnerChangeRecord(
            transactionID: txn, coinID: coin, kind: .retire, fromWallet: from, toWallet: nil, value: value,
            flow: "nfc", payerBank: "B001", payeeBank: "B002", createdAtNanos: RegistrationCenter.wallClockNanos())
    }

    static func create(_ txn: String, coin: String, to: String, value: Int64) -> OwnerChangeRecord {
        OwnerChangeRecord(
            transactionID: txn, coinID: coin, kind: .create, fromWallet: nil, toWallet: to, value: value, flow: "nfc",
            payerBank: "B001", payeeBank: "B002", createdAtNanos: RegistrationCenter.wallClockNanos())
    }

    /// A fresh database with the schema, and a running client on it; the client stops when `body` returns.
    static func withDatabase<T: Sendable>(
        _ body: @Sendable (RegistryDatabase, TestDatabase) async throws -> T
    ) async throws -> T {
        let testDatabase = try await TestPostgres.shared.makeDatabase()
        let client = PostgresClient(configuration: testDatabase.clientConfiguration, backgroundLogger: .noop)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let database = RegistryDatabase(client: client, logger: .noop)
            try await database.migrate()
            return try await body(database, testDatabase)
        }
    }

    /// Runs a registration center until `body` returns, then shuts it down gracefully (draining).
    static func withCenter<T: Sendable>(
        _ center: RegistrationCenter, _ body: @Sendable (RegistrationCenter) async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await center.run() }
            do {
                let result = try await body(center)
                center.shutdown()
                try await group.waitForAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// Scalar query helper.
    static func count(_ sql: String, in database: TestDatabase) async throws -> Int {
        let output = try await database.cluster.runPsql(database: database.name, ["-tAc", sql])
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func temporaryDirectory(_ tag: String) throws -> String {
        try TestPostgres.makeTemporaryDirectory(tag)
    }
}

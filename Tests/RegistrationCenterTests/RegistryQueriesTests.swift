import DCSwitchTestKit
import DigitalCurrency
import Foundation
import Testing

@testable import RegistrationCenter

@Suite("Registry queries, verify and reconcile", .timeLimit(.minutes(2)))
struct RegistryQueriesTests {
    typealias F = RegistryFixtures

    @Test func verifyCountsExpectedFoundAndMissing() async throws {
        try await F.withDatabase { database, _ in
            _ = try await database.issue(
                [Coin(id: "v1", value: 70, owner: "A"), Coin(id: "v2", value: 30, owner: "A")],
                issuanceID: "mint", bank: "B001")
            // t1 pays 50 out of v1 (70): retire it, create the payee's 50 and the change 20.
            _ = try await database.writeBatch([
                F.retire("t1", coin: "v1", from: "A", value: 70), F.create("t1", coin: "v3", to: "B", value: 50),
                F.create("t1", coin: "v4", to: "A", value: 20),
            ])
            _ = try await database.writeBatch([F.transfer("t2", coin: "v2", from: "A", to: "B", value: 30)])
            let file = try F.temporaryDirectory("verify") + "/record.jsonl"
            try """
            {"txn":"t1","flow":"nfc","records":3,"rrn":"000000000001","stan":"000001"}
            {"txn":"t2","flow":"qr-bsc","records":1}

            {"txn":"t3","flow":"in-app","records":2}
            {"txn":"open-1","flow":"account-open","records":0}
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let verification = try await database.verify(recordFile: file)
            #expect(verification.transactions == 4)
            #expect(verification.recordsExpected == 6)
            #expect(verification.recordsFound == 4)
            #expect(verification.duplicates == 0)
            #expect(verification.missingTransactions == 1)
            #expect(verification.missingSample == ["t3"])
            #expect(verification.conservation == .init(issued: 100, live: 100, ok: true))
            #expect(!verification.ok)
            let json = String(decoding: try JSONEncoder().encode(verification), as: UTF8.self)
            for key in ["records_expected", "records_found", "duplicates", "missing_transactions", "conservation"] {
                #expect(json.contains("\"\(key)\""))
            }
        }
    }

    /// Deferred coin state: a batch is committed (its records registered) but not yet applied to `coins`. Verify must
    /// find every record, and conservation must hold at that instant (issuance counts once its batch is applied, in
    /// the transaction that makes its coins live) and again once the batch is applied.
    @Test func verificationAndConservationHoldWhileBatchesArePendingApply() async throws {
        try await F.withDatabase { database, testDatabase in
            _ = try await database.issue([Coin(id: "p1", value: 70, owner: "A")], issuanceID: "mint", bank: "B001")
            // Committed, coin state pending: a new issue, a whole-coin transfer and a split of the issued coin.
            let pending = [
                F.issue("mint-2", coin: "p2", to: "B", value: 30),
                F.transfer("pay-1", coin: "p2", from: "B", to: "C", value: 30),
                F.retire("pay-2", coin: "p1", from: "A", value: 70), F.create("pay-2", coin: "p3", to: "C", value: 50),
                F.create("pay-2", coin: "p4", to: "A", value: 20),
            ]
            let writer = RegistryWriter(logger: .noop)
            let outcome = try await database.client.withConnection { connection in
                try await writer.write(
                    pending, source: .journal, mayContainDuplicates: false, applyCoins: false, on: connection)
            }
            #expect(outcome.inserted == 5)
            #expect(try await F.count("SELECT count(*) FROM batches WHERE coins_applied_at IS NULL", in: testDatabase) == 1)
            #expect(try await F.count("SELECT count(*) FROM coins", in: testDatabase) == 1)

            let file = try F.temporaryDirectory("verify-pending") + "/record.jsonl"
            try """
            {"txn":"mint-2","flow":"issue","records":1}
            {"txn":"pay-1","flow":"nfc","records":1}
            {"txn":"pay-2","flow":"nfc","records":3}
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let before = try await database.verify(recordFile: file)
            #expect(before.recordsExpected == 5 && before.recordsFound == 5)
            #expect(before.duplicates == 0 && before.missingTransactions == 0)
            #expect(before.conservation == .init(issued: 70, live: 70, ok: true))
            #expect(before.ok)

            let alerts = try await database.client.withConnection { connection in
                try await writer.applyDeferred(batchID: outcome.batchID, records: nil, on: connection)
            }
            #expect(alerts == [])
            #expect(try await F.count("SELECT count(*) FROM batches WHERE coins_applied_at IS NULL", in: testDatabase) == 0)
            let after = try await database.verify(recordFile: file)
            #expect(after.recordsFound == 5 && after.ok)
            #expect(after.conservation == .init(issued: 100, live: 100, ok: true))
            #expect(try await database.wallet(address: "C").coins.map(\.id) == ["p2", "p3"])
        }
    }

    @Test func malformedRecordFileNamesLineAndOffset() throws {
        let file = try F.temporaryDirectory("verify-bad") + "/record.jsonl"
        try "{\"txn\":\"t1\",\"flow\":\"nfc\",\"records\":1}\n{\"txn\":\"t2\",\"flow\":\"nfc\"}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: RegistrationCenterError.self) { try RecordedApproval.read(file: file) }
        #expect(error?.code == .invalidRecordFile)
        #expect(error?.message.contains(":2 (byte offset 38)") == true)
        #expect(error?.message.contains("records") == true)
    }

    /// Coin by id, coin history, wallet history and holdings, records by transaction: each has an index. With
    /// sequential scans disabled the planner still picks one when no index fits, so a missing index shows up as a
    /// `Seq Scan` on the big tables.
    @Test func registryQueriesUseIndexes() async throws {
        try await F.withDatabase { database, testDatabase in
            _ = try await database.issue(
                [Coin(id: "h1", value: 70, owner: "A"), Coin(id: "h2", value: 30, owner: "B")],
                issuanceID: "mint", bank: "B001")
            _ = try await database.writeBatch([F.transfer("p1", coin: "h1", from: "A", to: "B", value: 70)])
            _ = try await database.writeBatch([F.transfer("p2", coin: "h2", from: "B", to: "C", value: 30)])
            let history = try await database.walletHistory(address: "B")
            #expect(history.map(\.record.transactionID) == ["p2", "p1", "mint"])
            #expect(try await database.wallet(address: "B").coins.map(\.id) == ["h1"])

            let queries = [
                "SELECT * FROM coins WHERE id = 'h1'",
                "SELECT * FROM owner_changes WHERE coin_id = 'h1'",
                "SELECT * FROM owner_changes WHERE transaction_id = 'p1'",
                """
                SELECT c.id FROM coins c WHERE c.id IN (SELECT coin_id FROM owner_changes WHERE to_wallet = 'B')
                AND c.owner = 'B' AND c.status = 'live'
                """,
                """
                SELECT * FROM owner_changes WHERE coin_id IN (SELECT coin_id FROM owner_changes WHERE to_wallet = 'B')
                AND (to_wallet = 'B' OR from_wallet = 'B')
                """,
            ]
            for query in queries {
                let plan = try await testDatabase.cluster.runPsql(
                    database: testDatabase.name, ["-c", "SET enable_seqscan = off", "-c", "EXPLAIN " + query])
                #expect(!plan.contains("Seq Scan on owner_changes") && !plan.contains("Seq Scan on coins"), "\(plan)")
            }
        }
    }

    @Test func coinWalletAndStatsQueries() async throws {
        try await F.withDatabase { database, _ in
            try await database.register([
                WalletRegistration(address: "A", publicKey: "04aa", bank: "B001", customerReference: "cust-1", openedAtNanos: F.t0),
                WalletRegistration(address: "B", publicKey: "04bb", bank: "B002", customerReference: "cust-2", openedAtNanos: F.t0),
            ])
            #expect(try await database.register([
                WalletRegistration(address: "A", publicKey: "04aa", bank: "B001", customerReference: "cust-1", openedAtNanos: F.t0)
            ]) == 0)
            _ = try await database.issue([Coin(id: "q1", value: 10, owner: "A")], issuanceID: "mint", bank: "B001")
            _ = try await database.writeBatch([F.transfer("t1", coin: "q1", from: "A", to: "B", value: 10)])
            _ = try await database.writeBatch([F.transfer("t2", coin: "q1", from: "A", to: "C", value: 10)])

            let coin = try await database.coin(id: "q1")
            #expect(coin.coin == Coin(id: "q1", value: 10, owner: "B"))
            #expect(coin.previousOwner == "A")
            #expect(coin.history.map(\.record.transactionID) == ["mint", "t1", "t2"])
            #expect(coin.alerts.map(\.kind) == [.doubleSpend])

            let wallet = try await database.wallet(address: "B")
            #expect(wallet.registration?.publicKey == "04bb")
            #expect(wallet.registration?.openedAtNanos == F.t0)
            #expect(wallet.coins.map(\.id) == ["q1"])
            #expect(wallet.balance == 10)
            #expect(try await database.wallet(address: "A").coins.isEmpty)

            let stats = try await database.stats()
            #expect(stats.records == 3)
            #expect(stats.batches == 3)
            #expect(stats.wallets == 2)
            #expect(stats.liveCoins == 1 && stats.liveValue == 10 && stats.issuedValue == 10)
            #expect(stats.alerts == 1)
        }
    }

    @Test func reconciliationReportsEveryKindOfMismatchAndRecordsTheRun() async throws {
        try await F.withDatabase { database, testDatabase in
            try await database.register([
                WalletRegistration(address: "A", publicKey: "k", bank: "B001", customerReference: "1", openedAtNanos: F.t0),
                WalletRegistration(address: "B", publicKey: "k", bank: "B001", customerReference: "2", openedAtNanos: F.t0),
                WalletRegistration(address: "C", publicKey: "k", bank: "B001", customerReference: "3", openedAtNanos: F.t0),
                WalletRegistration(address: "X", publicKey: "k", bank: "B002", customerReference: "4", openedAtNanos: F.t0),
            ])
            _ = try await database.issue(
                [Coin(id: "r1", value: 5, owner: "A"), Coin(id: "r2", value: 5, owner: "B"),
                 Coin(id: "r3", value: 5, owner: "X"), Coin(id: "r4", value: 5, owner: "A")],
                issuanceID: "mint", bank: "B001")
            _ = try await database.writeBatch([F.retire("t1", coin: "r4", from: "A", value: 5)])
            let report = try await database.reconcile(
                BankHoldings(bank: "B001", wallets: ["A": ["r1", "r3", "nope", "r4"], "B": [], "E": []]))
            let found = Set(report.mismatches.map { "\($0.kind.rawValue):\($0.wallet):\($0.coinID ?? "-")" })
            #expect(
                found == [
                    "owned_elsewhere:A:r3", "unknown_coin:A:nope", "retired_coin:A:r4", "missing_at_bank:B:r2",
                    "unregistered_wallet:E:-", "wallet_missing_at_bank:C:-",
                ])
            #expect(report.walletsChecked == 3 && report.coinsChecked == 4)
            #expect(try await F.count("SELECT mismatches FROM reconciliation_runs WHERE id = \(report.runID)", in: testDatabase) == 6)

            let clean = try await database.reconcile(BankHoldings(bank: "B002", wallets: ["X": ["r3"]]))
            #expect(clean.mismatches.isEmpty)
        }
    }
}

@Suite("DatabaseURL")
struct DatabaseURLTests {
    @Test func parsesFullURL() throws {
        let url = try DatabaseURL("postgres://reg%40user:s%3Acret@db.example:6543/registry?sslmode=require")
        #expect(url.username == "reg@user")
        #expect(url.password == "s:cret")
        #expect(url.host == "db.example" && url.port == 6543 && url.database == "registry")
        #expect(url.tlsMode == .require)
        #expect(!url.description.contains("s:cret"))
    }

    @Test func defaultsPortAndTLS() throws {
        let url = try DatabaseURL("postgresql://postgres@127.0.0.1/dcswitch")
        #expect(url.port == 5432 && url.tlsMode == .disable && url.password == nil)
    }

    @Test(arguments: [
        "mysql://u@h/db", "postgres://h:5432/db", "postgres://u@h:5432/", "postgres://u@h:99999/db",
        "postgres://u:pw@h/db?sslmode=bogus", "not a url",
    ])
    func rejectsBadURLs(_ text: String) {
        let error = #expect(throws: RegistrationCenterError.self) { try DatabaseURL(text) }
        #expect(error?.code == .invalidDatabaseURL)
        #expect(error?.message.contains(":pw@") != true)
    }
}

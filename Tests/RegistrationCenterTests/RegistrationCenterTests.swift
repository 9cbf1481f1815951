import DCSwitchTestKit
import DigitalCurrency
import Foundation
import NIOPosix
import PostgresNIO
import Testing

@testable import RegistrationCenter

@Suite("RegistrationCenter", .timeLimit(.minutes(3)))
struct RegistrationCenterTests {
    typealias F = RegistryFixtures

    /// Both ways of applying coin state; `deferred` with a tiny lag bound so that both of its triggers (idle and
    /// lag) are exercised.
    static let coinStateModes: [RegistrationCenter.CoinStateMode] = [.inBatchTransaction, .deferred(maxLagRecords: 3)]

    static func makeCenter(
        _ database: TestDatabase, journal: String, maxBatch: Int = 1000, maxAge: Duration = .milliseconds(20),
        backlog: Int = 100_000, coinState: RegistrationCenter.CoinStateMode = .inBatchTransaction
    ) throws -> RegistrationCenter {
        try RegistrationCenter(
            configuration: .init(
                journalDirectory: journal, maxBatchRecords: maxBatch, maxBatchAge: maxAge, maxBacklogRecords: backlog,
                initialRetryDelay: .milliseconds(50), maxRetryDelay: .milliseconds(250), coinState: coinState,
                maxRetainedRecords: 50, shutdownDrainTimeout: .seconds(30)),
            database: database.databaseURL, logger: .noop)
    }

    /// Polls until `condition` holds; the suite's time limit is the only bound (no timed assertion).
    static func eventually(_ condition: () -> Bool) async throws {
        while !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func flushesBySize() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(database, journal: try F.temporaryDirectory("j"), maxBatch: 10, maxAge: .seconds(3600))
        let statistics = try await F.withCenter(center) { center in
            for index in 0..<25 { try await center.append([F.issue("size-\(index)", coin: "c\(index)", to: "A")]) }
            try await Self.eventually { center.statistics().committedRecords >= 20 }
            return center.statistics()
        }
        // Two full batches by size; the last five only went at shutdown (their age limit is an hour).
        #expect(statistics.batches == 2)
        #expect(statistics.queuedRecords == 5)
        #expect(statistics.batchSizes.max == 10)
        #expect(try await F.count("SELECT count(*) FROM owner_changes", in: database) == 25)
        #expect(try await F.count("SELECT count(*) FROM batches", in: database) == 3)
        #expect(try await F.count("SELECT count(*) FROM coins WHERE status = 'live'", in: database) == 25)
    }

    @Test func flushesByAge() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(database, journal: try F.temporaryDirectory("j"), maxBatch: 1000, maxAge: .milliseconds(30))
        let statistics = try await F.withCenter(center) { center in
            try await center.append([F.issue("age", coin: "a1", to: "A"), F.issue("age", coin: "a2", to: "A")])
            await center.waitUntilCommitted()
            return center.statistics()
        }
        #expect(statistics.batches == 1)
        #expect(statistics.committedRecords == 2)
        #expect(statistics.backlogRecords == 0)
        #expect(try await F.count("SELECT count(*) FROM owner_changes WHERE transaction_id = 'age'", in: database) == 2)
    }

    @Test(arguments: coinStateModes)
    func replayAfterCrashWithTornTailIsIdempotent(coinState: RegistrationCenter.CoinStateMode) async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let journal = try F.temporaryDirectory("j-crash")
        // A process that journals 20 approvals and dies before its batcher ever flushes.
        let crashed = try Self.makeCenter(database, journal: journal, coinState: coinState)
        for index in 0..<20 {
            try await crashed.append([
                F.issue("crash-\(index)", coin: "k\(index)", to: "A"),
                F.issue("crash-\(index)", coin: "k\(index)b", to: "B"),
            ])
        }
        await crashed.journal.close()
        // It was in the middle of writing a 21st entry.
        let segment = try FileManager.default.contentsOfDirectory(atPath: journal).first { $0.hasPrefix("segment-") }!
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: journal + "/" + segment))
        handle.seekToEndOfFile()
        handle.write(try RegistryJournalTests.encodedEntry(sequence: 21, records: [F.issue("lost", coin: "x", to: "A")]).prefix(30))
        try handle.close()
        let copy = try F.temporaryDirectory("j-copy")
        for name in try FileManager.default.contentsOfDirectory(atPath: journal) {
            try FileManager.default.copyItem(atPath: journal + "/" + name, toPath: copy + "/" + name)
        }

        let restarted = try Self.makeCenter(database, journal: journal, coinState: coinState)
        #expect(restarted.statistics().backlogRecords == 40)
        let first = try await F.withCenter(restarted) { center in
            await center.waitUntilCommitted()
            return center.statistics()
        }
        #expect(first.insertedRecords == 40)
        #expect(try await F.count("SELECT count(*) FROM owner_changes", in: database) == 40)
        #expect(try await F.count("SELECT count(*) FROM owner_changes WHERE transaction_id = 'lost'", in: database) == 0)

        // The same journal replayed a second time (as if the checkpoint had been lost): nothing doubles.
        let replayedAgain = try Self.makeCenter(database, journal: copy, coinState: coinState)
        let second = try await F.withCenter(replayedAgain) { center in
            await center.waitUntilCommitted()
            return center.statistics()
        }
        #expect(second.committedRecords == 40)
        #expect(second.insertedRecords == 0)
        #expect(try await F.count("SELECT count(*) FROM owner_changes", in: database) == 40)
        #expect(try await F.count("SELECT count(*) FROM coins", in: database) == 40)
        #expect(try await F.count("SELECT count(*) FROM alerts", in: database) == 0)
        #expect(try await F.count("SELECT sum(inserted_count) FROM batches", in: database) == 40)
        // And a clean restart after the checkpoint replays nothing.
        let clean = try Self.makeCenter(database, journal: journal)
        #expect(clean.statistics().backlogRecords == 0)
        await clean.journal.close()
    }

    @Test(arguments: coinStateModes)
    func doubleSpendsAndWrongOwnersAreFlaggedNeverApplied(coinState: RegistrationCenter.CoinStateMode) async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(database, journal: try F.temporaryDirectory("j"), coinState: coinState)
        try await F.withCenter(center) { center in
            await center.waitUntilReady()
            let issued = try await center.database.issue(
                [Coin(id: "d1", value: 100, owner: "A"), Coin(id: "d2", value: 100, owner: "A"),
                 Coin(id: "d3", value: 100, owner: "A")],
                issuanceID: "mint-1", bank: "B001")
            #expect(issued.issued == 3)
            // Spent twice within one batch.
            try await center.append([F.transfer("t1", coin: "d1", from: "A", to: "B"), F.transfer("t2", coin: "d1", from: "A", to: "C")])
            await center.waitUntilCommitted()
            // Spent twice across batches.
            try await center.append([F.transfer("t3", coin: "d2", from: "A", to: "B")])
            await center.waitUntilCommitted()
            try await center.append([F.transfer("t4", coin: "d2", from: "A", to: "C")])
            await center.waitUntilCommitted()
            // Spent by a wallet that never owned it.
            try await center.append([F.transfer("t5", coin: "d3", from: "Z", to: "C")])
            await center.waitUntilCommitted()
            // Created again under another transaction (beside a legitimate new coin in the same batch).
            try await center.append([F.create("t6", coin: "d1", to: "Z", value: 100), F.create("t6", coin: "d9", to: "Z", value: 1)])
            await center.waitUntilCommitted()
            #expect(center.statistics().alerts == 4)
        }
        #expect(try await F.count("SELECT count(*) FROM alerts WHERE kind = 'double_spend' AND transaction_id IN ('t2', 't4')", in: database) == 2)
        #expect(try await F.count("SELECT count(*) FROM alerts WHERE kind = 'wrong_owner' AND transaction_id = 't5'", in: database) == 1)
        #expect(try await F.count("SELECT count(*) FROM coins WHERE id IN ('d1', 'd2') AND owner = 'B'", in: database) == 2)
        #expect(try await F.count("SELECT count(*) FROM coins WHERE id = 'd3' AND owner = 'A'", in: database) == 1)
        #expect(try await F.count("SELECT count(*) FROM alerts WHERE kind = 'duplicate_coin' AND coin_id = 'd1'", in: database) == 1)
        #expect(try await F.count("SELECT count(*) FROM coins WHERE id = 'd9' AND owner = 'Z'", in: database) == 1)
        // The refused records are still registered: they are what the switch approved.
        #expect(try await F.count("SELECT count(*) FROM owner_changes WHERE kind = 'transfer'", in: database) == 5)
    }

    @Test(arguments: coinStateModes)
    func postgresOutageLosesNothing(coinState: RegistrationCenter.CoinStateMode) async throws {
        let cluster = try await TestPostgres.makePrivateCluster()
        let database = TestDatabase(cluster: cluster, name: cluster.database)
        let center = try Self.makeCenter(
            database, journal: try F.temporaryDirectory("j-outage"), maxAge: .milliseconds(10), coinState: coinState)
        let statistics = try await F.withCenter(center) { center in
            for index in 0..<100 { try await center.append([F.issue("before-\(index)", coin: "o\(index)", to: "A")]) }
            await center.waitUntilCommitted()
            try await cluster.stopServer()
            // The journal keeps taking approvals while PostgreSQL is down.
            for index in 0..<100 { try await center.append([F.issue("during-\(index)", coin: "p\(index)", to: "A")]) }
            try await Self.eventually { center.statistics().flushFailures > 0 }
            #expect(center.statistics().backlogRecords > 0)
            try await cluster.startServer()
            for index in 0..<100 { try await center.append([F.issue("after-\(index)", coin: "q\(index)", to: "A")]) }
            await center.waitUntilCommitted()
            return center.statistics()
        }
        #expect(statistics.flushFailures > 0)
        #expect(statistics.committedRecords == 300)
        #expect(try await F.count("SELECT count(*) FROM owner_changes", in: database) == 300)
        #expect(try await F.count("SELECT count(*) FROM coins", in: database) == 300)
        #expect(try await F.count("SELECT count(*) FROM alerts", in: database) == 0)
        try await cluster.stopServer()
    }

    @Test func deferredCoinStateIsAppliedAfterARestart() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let journal = try F.temporaryDirectory("j-deferred")
        // A lag bound far above the load: nothing is applied while records keep arriving… and the first process stops
        // before it is idle, leaving committed batches unapplied.
        let first = try Self.makeCenter(
            database, journal: journal, maxBatch: 5, maxAge: .seconds(3600), coinState: .deferred(maxLagRecords: 1_000))
        try await F.withCenter(first) { center in
            for index in 0..<10 { try await center.append([F.issue("m\(index)", coin: "m\(index)", to: "A")]) }
            await center.waitUntilCommitted(includingCoinState: false)
        }
        let pendingAfterFirst = try await F.count("SELECT count(*) FROM batches WHERE coins_applied_at IS NULL", in: database)
        let coinsAfterFirst = try await F.count("SELECT count(*) FROM coins", in: database)
        #expect(try await F.count("SELECT count(*) FROM owner_changes", in: database) == 10)
        #expect(pendingAfterFirst + coinsAfterFirst / 5 == 2)

        let second = try Self.makeCenter(database, journal: journal, coinState: .deferred(maxLagRecords: 1_000))
        try await F.withCenter(second) { center in
            await center.waitUntilReady()
            try await center.append([F.transfer("m-pay", coin: "m0", from: "A", to: "B")])
            await center.waitUntilCommitted()
            #expect(center.statistics().unappliedBatches == 0)
        }
        #expect(try await F.count("SELECT count(*) FROM batches WHERE coins_applied_at IS NULL", in: database) == 0)
        #expect(try await F.count("SELECT count(*) FROM coins", in: database) == 10)
        #expect(try await F.count("SELECT count(*) FROM coins WHERE id = 'm0' AND owner = 'B'", in: database) == 1)
        #expect(try await F.count("SELECT count(*) FROM alerts", in: database) == 0)
    }

    /// Coin state follows batch order even for a batch this process never saw commit: the COMMIT of a process killed
    /// mid-flush can land after the next process has listed the pending batches (and a flush whose success was lost
    /// with its connection commits unseen too). Its records come back in the replay, already registered: the replay
    /// inserts none of them, and a later record of the same coin must not be applied before them.
    @Test func aBatchCommittedUnseenIsAppliedBeforeLaterRecordsOfItsCoins() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(
            database, journal: try F.temporaryDirectory("j-unseen"), coinState: .deferred(maxLagRecords: 1_000))
        let earlier = [F.issue("u-1", coin: "u", to: "A"), F.transfer("u-2", coin: "u", from: "A", to: "B")]
        try await F.withCenter(center) { center in
            await center.waitUntilReady()
            // The earlier process's last batch commits now, coin state pending, after this one loaded the pending list.
            let client = PostgresClient(configuration: database.clientConfiguration, backgroundLogger: .noop)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                let outcome = try await client.withConnection { connection in
                    try await RegistryWriter(logger: .noop).write(
                        earlier, source: .journal, mayContainDuplicates: false, applyCoins: false, on: connection)
                }
                #expect(outcome.inserted == 2)
            }
            // The replay of its journal tail: every record registered already.
            try await center.append(earlier)
            await center.waitUntilCommitted()
            #expect(try await F.count("SELECT count(*) FROM coins WHERE id = 'u' AND owner = 'B'", in: database) == 1)
            #expect(try await F.count("SELECT count(*) FROM batches WHERE coins_applied_at IS NULL", in: database) == 0)
            // Then the coin moves on.
            try await center.append([F.transfer("u-3", coin: "u", from: "B", to: "C")])
            await center.waitUntilCommitted()
        }
        #expect(try await F.count("SELECT count(*) FROM coins WHERE id = 'u' AND owner = 'C'", in: database) == 1)
        #expect(try await F.count("SELECT count(*) FROM batches WHERE coins_applied_at IS NULL", in: database) == 0)
        #expect(try await F.count("SELECT count(*) FROM alerts", in: database) == 0)
    }

    /// A batch read back for its coin state (deferred mode, after a restart) replays its records in the order they
    /// were written, whatever their physical order: vacuum lets a later COPY fill the space of aborted rows, so that
    /// rows written later lie before rows written first (a crash test run flagged 406 false alerts so). Here an
    /// update of the first row moves it behind the second.
    @Test func aBatchReadBackKeepsItsRecordOrderWhateverThePhysicalOrder() async throws {
        try await F.withDatabase { database, testDatabase in
            let writer = RegistryWriter(logger: .noop)
            let outcome = try await database.client.withConnection { connection in
                try await writer.write(
                    [F.issue("o-1", coin: "o", to: "A"), F.transfer("o-2", coin: "o", from: "A", to: "B")],
                    source: .journal, mayContainDuplicates: false, applyCoins: false, on: connection)
            }
            _ = try await testDatabase.cluster.runPsql(
                database: testDatabase.name, ["-c", "UPDATE owner_changes SET flow = flow WHERE transaction_id = 'o-1'"])
            let physicallyFirst = try await testDatabase.cluster.runPsql(
                database: testDatabase.name,
                ["-tAc", "SELECT transaction_id FROM owner_changes WHERE batch_id = \(outcome.batchID) ORDER BY ctid LIMIT 1"])
            #expect(physicallyFirst.trimmingCharacters(in: .whitespacesAndNewlines) == "o-2")
            let alerts = try await database.client.withConnection { connection in
                try await writer.applyDeferred(batchID: outcome.batchID, records: nil, on: connection)
            }
            #expect(alerts?.isEmpty == true)
            #expect(try await F.count("SELECT count(*) FROM coins WHERE id = 'o' AND owner = 'B'", in: testDatabase) == 1)
            #expect(try await F.count("SELECT count(*) FROM alerts", in: testDatabase) == 0)
        }
    }

    @Test func backlogBoundRefusesInsteadOfLosing() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(database, journal: try F.temporaryDirectory("j-bound"), backlog: 10)
        // Not running yet: nothing drains.
        try await center.append((0..<6).map { F.issue("b\($0)", coin: "b\($0)", to: "A") })
        try await center.append((6..<10).map { F.issue("b\($0)", coin: "b\($0)", to: "A") })
        let refused = await #expect(throws: OwnerChangeSinkError.self) {
            try await center.append([F.issue("b10", coin: "b10", to: "A")])
        }
        #expect(refused?.code == .backlogFull)
        let failedFuture = center.append(
            [F.issue("b11", coin: "b11", to: "A")], on: MultiThreadedEventLoopGroup.singleton.next())
        await #expect(throws: OwnerChangeSinkError.self) { try await failedFuture.get() }
        #expect(center.statistics().backlogRefusals == 2)
        try await F.withCenter(center) { center in
            await center.waitUntilCommitted()
            try await center.append([F.issue("b10", coin: "b10", to: "A")])
            await center.waitUntilCommitted()
        }
        #expect(try await F.count("SELECT count(*) FROM owner_changes", in: database) == 11)
    }

    /// `dcswitch serve` on SIGTERM: the graceful shutdown reaches the registry first, and then the network waits for
    /// everything accepted to be committed and applied. That wait must end, with coin state applied, also in deferred
    /// mode (it used to hang: the apply loop stopped with the flush loop, leaving committed batches unapplied).
    @Test(arguments: coinStateModes)
    func shutdownThenWaitAppliesEverythingAndReturns(coinState: RegistrationCenter.CoinStateMode) async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(database, journal: try F.temporaryDirectory("j-stop"), maxBatch: 5, coinState: coinState)
        let run = Task { try await center.run() }
        for index in 0..<40 { try await center.append([F.issue("stop-\(index)", coin: "s\(index)", to: "A")]) }
        center.shutdown()
        await center.waitUntilCommitted()
        #expect(center.statistics().committedRecords == 40)
        #expect(try await F.count("SELECT count(*) FROM coins WHERE status = 'live'", in: database) == 40)
        try await run.value
        // Once the registry has stopped, a wait returns at once.
        await center.waitUntilCommitted()
    }

    @Test func appendsAfterShutdownAreRefused() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let center = try Self.makeCenter(database, journal: try F.temporaryDirectory("j-closed"))
        try await F.withCenter(center) { _ in }
        let error = await #expect(throws: OwnerChangeSinkError.self) {
            try await center.append([F.issue("late", coin: "late", to: "A")])
        }
        #expect(error?.code == .closed)
    }
}

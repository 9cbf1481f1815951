import ArgumentParser
import DigitalCurrency
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import RegistrationCenter

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `dcswitch registry ingest-test` (hidden): the registration center under load in a process of its own, for the
/// crash test that SIGKILLs it mid-load and restarts it on the same journal.
///
/// It does what the switch does with a registration center: starts one on `--journal` (replaying whatever an
/// earlier process left there), hands it approvals through `append(_:on:)` from concurrent streams, and counts an
/// approval as approved only once that future succeeds (the switch answers the acquirer then, not before). Each
/// approved transaction is written to `--record` in the traffic generator's `--record` format, with one `write(2)`
/// per line, after the acknowledgement: a SIGKILL loses at most acknowledgements not yet written, never writes one
/// that was not acknowledged. After `--approvals` approvals it drains (everything committed and applied to coin
/// state) and exits 0.
///
/// The workload is valid by construction (each stream issues its own coins and only moves coins it holds), so value
/// is conserved and the registry raises no alert; transaction and coin ids carry `--run` so that runs on the same
/// registry never collide.
struct RegistryIngestTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest-test",
        abstract: "Journal approvals into a registration center under load (for crash tests).",
        shouldDisplay: false
    )

    @Option(name: .customLong("journal"), help: "The registration center's journal directory.")
    var journal: String

    @Option(name: .customLong("record"), help: "Acknowledged approvals are appended here (JSON lines).")
    var record: String

    @Option(name: .customLong("run"), help: "A tag unique to this run, prefixed to its transaction and coin ids.")
    var run: String

    @Option(name: .customLong("approvals"), help: "Approvals to send before draining and exiting (0: only recover).")
    var approvals = 100_000

    @Option(name: .customLong("streams"), help: "Concurrent approval streams.")
    var streams = 32

    @Option(name: .customLong("coin-state"), help: "Coin-state mode: default, in-batch or deferred.")
    var coinState = "default"

    @Option(name: .customLong("batch-age-ms"), help: "Batcher: flush when the oldest record waited this long.")
    var batchAgeMs = 20

    @OptionGroup var database: RegistryDatabaseOptions

    func validate() throws {
        guard ["default", "in-batch", "deferred"].contains(coinState) else {
            throw ValidationError("--coin-state \(coinState): use default, in-batch or deferred")
        }
        guard approvals >= 0, streams > 0 else { throw ValidationError("--approvals ≥ 0 and --streams > 0") }
    }

    func run() async throws {
        let logger = database.logger
        let location = try await RegistryDatabaseLocation.resolve(
            databaseURL: database.databaseURL, embeddedDirectory: database.postgresDirectory, logger: logger)
        var configuration = RegistrationCenter.Configuration(
            journalDirectory: journal, maxBatchAge: .milliseconds(Int64(batchAgeMs)))
        switch coinState {
        case "in-batch": configuration.coinState = .inBatchTransaction
        case "deferred": configuration.coinState = .deferred(maxLagRecords: 200_000)
        default: break
        }
        let center = try RegistrationCenter(configuration: configuration, database: location.url, logger: logger)
        let recovered = center.statistics().backlogRecords
        let recordFD = open(record, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard recordFD >= 0 else { throw RegistryCLIError(message: "--record \(record): cannot open (errno \(errno))") }
        defer { close(recordFD) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await center.run() }
            await center.waitUntilReady()
            Self.say(#"{"event":"ready","recovered_records":\#(recovered)}"#)
            let approved = NIOLockedValueBox(0)
            let eventLoops = MultiThreadedEventLoopGroup.singleton
            try await withThrowingTaskGroup(of: Void.self) { senders in
                for stream in 0..<streams {
                    let count = approvals / streams + (stream < approvals % streams ? 1 : 0)
                    senders.addTask {
                        var workload = Workload(run: run, stream: stream)
                        for _ in 0..<count {
                            let approval = workload.next()
                            // The switch's path: the future succeeds once the records are durable.
                            try await center.append(approval.records, on: eventLoops.next()).get()
                            Self.write(approval, to: recordFD)
                            approved.withLockedValue { $0 += 1 }
                        }
                    }
                }
                try await senders.waitForAll()
            }
            await center.waitUntilCommitted(includingCoinState: true)
            let statistics = center.statistics()
            Self.say(
                #"{"event":"drained","approved":\#(approved.withLockedValue { $0 }),"#
                    + #""committed_records":\#(statistics.committedRecords),"#
                    + #""duplicate_records":\#(statistics.duplicateRecords),"alerts":\#(statistics.alerts)}"#)
            center.shutdown()
            try await group.waitForAll()
        }
    }

    private static func write(_ approval: Workload.Approval, to fd: Int32) {
        var line = #"{"txn":""# + approval.records[0].transactionID + #"","flow":""# + approval.records[0].flow
            + #"","records":"# + String(approval.records.count) + "}\n"
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    private static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// One stream's approvals: an issue, then payments of whole coins (transfer) and split payments (retire one
    /// coin, create the payee's coin and the payer's change), only ever spending coins the stream holds.
    struct Workload {
        struct Approval {
            var records: [OwnerChangeRecord]
        }

        let prefix: String
        var sequence = 0
        var coins: [(id: String, owner: String, value: Int64)] = []
        var random = SystemRandomNumberGenerator()

        init(run: String, stream: Int) {
            self.prefix = "\(run)-s\(stream)-"
        }

        mutating func next() -> Approval {
            sequence += 1
            let txn = "X" + prefix + String(sequence)
            let now = RegistrationCenter.wallClockNanos()
            let roll = Int.random(in: 0..<100, using: &random)
            func wallet() -> String { "W\(prefix)\(Int.random(in: 0..<50, using: &random))" }
            if coins.count < 4 || roll < 15 {
                let coin = (id: "N" + txn + "-0", owner: wallet(), value: Int64.random(in: 100...10_000, using: &random))
                coins.append(coin)
                return Approval(records: [
                    OwnerChangeRecord(
                        transactionID: txn, coinID: coin.id, kind: .issue, fromWallet: nil, toWallet: coin.owner,
                        value: coin.value, flow: "issue", payerBank: "", payeeBank: "B001", createdAtNanos: now)
                ])
            }
            let pick = Int.random(in: 0..<coins.count, using: &random)
            let coin = coins[pick]
            var payee = wallet()
            if payee == coin.owner { payee += "x" }
            if roll < 55 || coin.value < 2 {
                coins[pick].owner = payee
                return Approval(records: [
                    OwnerChangeRecord(
                        transactionID: txn, coinID: coin.id, kind: .transfer, fromWallet: coin.owner, toWallet: payee,
                        value: coin.value, flow: "nfc", payerBank: "B001", payeeBank: "B002", createdAtNanos: now)
                ])
            }
            let paid = Int64.random(in: 1..<coin.value, using: &random)
            let paidCoin = (id: "N" + txn + "-0", owner: payee, value: paid)
            let change = (id: "N" + txn + "-1", owner: coin.owner, value: coin.value - paid)
            coins[pick] = paidCoin
            coins.append(change)
            if coins.count > 64 { coins.removeFirst(coins.count - 64) }
            return Approval(records: [
                OwnerChangeRecord(
                    transactionID: txn, coinID: coin.id, kind: .retire, fromWallet: coin.owner, toWallet: nil,
                    value: coin.value, flow: "qr-bsc", payerBank: "B001", payeeBank: "B002", createdAtNanos: now),
                OwnerChangeRecord(
                    transactionID: txn, coinID: paidCoin.id, kind: .create, fromWallet: nil, toWallet: payee,
                    value: paid, flow: "qr-bsc", payerBank: "B001", payeeBank: "B002", createdAtNanos: now),
                OwnerChangeRecord(
                    transactionID: txn, coinID: change.id, kind: .create, fromWallet: nil, toWallet: change.owner,
                    value: change.value, flow: "qr-bsc", payerBank: "B001", payeeBank: "B002", createdAtNanos: now),
            ])
        }
    }
}

import BankSimulator
import DCSwitchTestKit
import DigitalCurrency
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dcswitch serve` (switch and banks in one process) killed with SIGKILL under load, at random instants, then
/// restarted: the banks recover their books from their journals, the switch finishes the transactions its
/// transaction log shows open (completing the approved ones, reversing the others), and afterwards every bank's
/// holdings agree with the registration center coin for coin, with nothing left pending.
@Suite(.serialized)
struct SwitchCrashTests {
    @Test func sigkillMidTransactionThenRestartLeavesBanksAndRegistryInAgreement() async throws {
        // Banks that think for 20 ms keep some 10 transactions between their legs at any instant of a 300 TPS load.
        var serve = try await ServeProcess.start(customers: 60, merchants: 6, treasuryCoins: 300, thinkTimeMicroseconds: 20_000)
        var recovered = Recovered()
        for round in 1...3 {
            let load = try Self.startLoad(target: serve.target, config: serve.configPath, directory: serve.directory, round: round)
            try await Task.sleep(for: .milliseconds(1500 + Int.random(in: 0...1000)))
            #expect(serve.process.isRunning, "serve died before the kill:\n\(serve.outputText.suffix(2000))")
            await serve.kill()
            load.terminate()
            await load.exited()
            serve = try await serve.restart()
            recovered.add(serve.outputText)
        }
        // A graceful stop drains the reversal queue and the completion advices, and commits every record.
        await serve.stop()
        #expect(serve.process.exitStatus == 0, "\(serve.outputText.suffix(2000))")
        // The kills caught transactions between their legs or before their completion, and the restarts finished them.
        #expect(recovered.reversed + recovered.completed + recovered.approvedByRegistry + recovered.openings > 0, "nothing was open at any kill")
        #expect(recovered.unresolved == 0)

        // The banks' books as their journals have them, beside the registry.
        let network = try NetworkConfiguration.load(path: serve.configPath)
        var holdings: [[String: Any]] = []
        var pending: [String: Int64] = [:]
        for bank in network.banks {
            let processor = try BankProcessor.open(
                bank: bank, journalPath: serve.dataDirectory + "/banks/\(bank.id).journal", logger: Logger(label: "test")
            )
            let books = processor.books
            pending[bank.id] = books.pendingValue
            holdings.append(["bank": bank.id, "wallets": books.holdingsByWallet])
            try await processor.close()
        }
        #expect(pending.values.allSatisfy { $0 == 0 }, "coins left pending: \(pending)")
        let holdingsPath = serve.directory + "/holdings.json"
        try JSONSerialization.data(withJSONObject: holdings).write(to: URL(fileURLWithPath: holdingsPath))
        let reconcile = try await CLI.run(["reconcile", "--holdings", holdingsPath, "--database-url", serve.databaseURL])
        #expect(reconcile.status == 0, "banks and registry disagree:\n\(reconcile.stdout.prefix(3000))\n\(reconcile.stderr.prefix(2000))\nserve:\n\(serve.outputText.suffix(3000))")
        #expect(reconcile.lines.count == network.banks.count)
    }

    /// SIGTERM while an account opening waits for its bank: the graceful stop waits for the bank's answer and
    /// registers the new wallet before the registration center closes (it used to see the stop signal at once and
    /// close its PostgreSQL pool, leaving the bank's new wallet unregistered until the next start).
    @Test func aGracefulStopFinishesAnAccountOpeningInFlight() async throws {
        // The bank thinks for a second: the stop arrives while the opening leg is at the bank.
        let serve = try await ServeProcess.start(thinkTimeMicroseconds: 1_000_000)
        defer { serve.terminate() }
        async let opened = CLI.run(["send", "--target", serve.target, "--spec", "dcswitch-1987", "--timeout", "10", "--json", Self.accountOpen])
        try await Task.sleep(for: .milliseconds(400))
        await serve.stop()
        _ = try await opened  // answered or not: the acquirer connection may close with the switch
        let output = serve.outputText
        #expect(serve.process.exitStatus == 0, "\(output)")
        #expect(!output.contains("left unfinished"), "\(output)")
        // On the way out, serve says how long legs waited for each journal: BANKB's held the opening.
        let bankB = output.split(separator: "\n").first { $0.contains("BANKB journal") }
        #expect(output.contains("durability (an approval waits for each in turn"), "\(output)")
        let appends = bankB.flatMap { line in line.split(separator: " ").firstIndex(of: "appends,").flatMap { Int(line.split(separator: " ")[$0 - 1]) } }
        #expect((appends ?? 0) >= 1, "\(output)")
        #expect(output.contains("registry journal"), "\(output)")

        // BANKB opened exactly one wallet beyond its seeds, and the registry knows it.
        let network = try NetworkConfiguration.load(path: serve.configPath)
        let bank = try #require(network.banks.first { $0.id == "BANKB" })
        let processor = try BankProcessor.open(bank: bank, journalPath: serve.dataDirectory + "/banks/BANKB.journal", logger: Logger(label: "test"))
        let wallets = Set(processor.books.holdingsByWallet.keys)
        try await processor.close()
        let seeds = SeedData(bank: bank)
        let seeded = Set([seeds.treasury.address] + seeds.customers.map(\.wallet.address) + seeds.merchants.map(\.wallet.address))
        let newWallets = wallets.subtracting(seeded)
        #expect(newWallets.count == 1, "wallets opened at BANKB: \(newWallets)")
        let wallet = try #require(newWallets.first)
        let lookup = try await CLI.run(["registry", "wallet", wallet, "--database-url", serve.databaseURL])
        #expect(lookup.status == 0, "\(lookup.stdout)\n\(lookup.stderr)\nserve:\n\(output)")
        #expect(lookup.stdout.contains(wallet), "\(lookup.stdout)")
    }

    /// BANKB customer 1 opens a wallet (0100, DE 3 = 900000), as `Fixtures/replay/02-account-open.json` does.
    static let accountOpen = #"{"mti":"0100","fields":{"3":"900000","7":"1121100000","11":"000041","12":"100000","13":"1121","22":"012","32":"30000000001","37":"000000000041","41":"TERM0001","48":{"01":"Customer BANKB-1","02":"ID-0000020000000001","03":"0000020000000001"},"49":"156","100":"10000000002","124":{"13":"account-open"}}}"#

    /// What the restarts' recovery lines report.
    struct Recovered {
        var completed = 0
        var approvedByRegistry = 0
        var reversed = 0
        var unresolved = 0
        var openings = 0

        mutating func add(_ output: String) {
            for line in output.split(separator: "\n") where line.contains("the last run left open") {
                self.completed += Self.value("completed", in: line)
                self.approvedByRegistry += Self.value("approved_by_registry", in: line)
                self.reversed += Self.value("reversed", in: line)
                self.unresolved += Self.value("unresolved", in: line)
                self.openings += Self.value("openings", in: line)
            }
        }

        static func value(_ key: String, in line: Substring) -> Int {
            guard let range = line.range(of: " " + key + "=") else { return 0 }
            return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }
    }

    /// `dcswitch load` at 300 TPS against `target`, in the background (light enough to leave the machine to the
    /// other suites running in parallel).
    static func startLoad(target: String, config: String, directory: String, round: Int) throws -> SpawnedProcess {
        try SpawnedProcess(
            executable: CLI.binary.path,
            arguments: ["load", "--target", target, "--config", config, "--rate", "300", "--duration", "30", "--quiet"],
            directory: directory, outputPath: "/dev/null"
        )
    }
}

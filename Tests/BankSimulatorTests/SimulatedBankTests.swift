import BankSimulator
import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOCore
import NIOPosix
import Testing

/// Starts a bank on an ephemeral port and a signed-on link to it; tears both down after `body`.
func withBankAndLink(
    thinkTime: TimeAmount = .zero,
    faults: FaultInjection = .none,
    journalPath: String? = nil,
    seed: SeedData = BankFixtures.seedA,
    logs: InMemoryLogs = InMemoryLogs(),
    _ body: (SimulatedBank, ISO8583Link<ISO8583LinkCodec>) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup.singleton
    let configuration = SimulatedBank.Configuration(
        bank: seed.bank, host: "127.0.0.1", port: 0, journalPath: .some(journalPath), thinkTime: thinkTime, faults: faults
    )
    let bank = try await SimulatedBank.start(configuration: configuration, seed: seed, eventLoopGroup: group, logger: logs.logger("bank"))
    let link = ISO8583Link(
        configuration: .init(host: "127.0.0.1", port: bank.port, name: "switch", requestTimeout: .seconds(10)),
        codec: ISO8583LinkCodec(spec: BankFixtures.spec),
        eventLoopGroup: group,
        logger: logs.logger("link")
    )
    link.start()
    do {
        try await link.waitForSignOn().get()
        try await body(bank, link)
    } catch {
        try? await link.shutdown().get()
        try? await bank.shutdown()
        throw error
    }
    try await link.shutdown().get()
    try await bank.shutdown()
}

@Suite("Simulated bank over loopback TCP")
struct SimulatedBankTests {
    let seed = BankFixtures.seedA

    @Test func legsOfEveryKindOverTCP() async throws {
        let logs = InMemoryLogs()
        let alice = self.seed.customers[0]
        let bob = self.seed.customers[1]
        let merchant = self.seed.merchants[0].wallet.address
        try await withBankAndLink(logs: logs) { bank, link in
            // Account opening.
            let opened = try await link.send(BankFixtures.openAccount(account: alice.account, stan: 1)).get()
            #expect(opened.mti == .authorizationResponse)
            #expect(opened.responseCode == "00")
            let newWallet = try #require(opened[102])
            #expect(Wallet.institution(ofAddress: newWallet) == "10000000001")
            #expect(BankFixtures.dcValue(opened, "01")?.count == 130)

            // A payment that leaves change, then its repeat.
            let debit = BankFixtures.walletDebit(txn: "E1", amount: 1300, payer: alice.wallet.address, payee: merchant, stan: 2)
            let paid = try await link.send(debit).get()
            #expect(paid.responseCode == "00")
            #expect(BankFixtures.dcValue(paid, "03") == "\(alice.coins[0].id):1000:T;\(alice.coins[1].id):1000:R")
            #expect(BankFixtures.dcValue(paid, "11") == "E1.0:300:P;E1.1:700:C")
            var repeated = debit
            repeated[11] = "000003"
            let again = try await link.send(repeated).get()
            #expect(again.responseCode == "00")
            #expect(again[124] == paid[124])

            // Transfer-in into the new wallet: account debit at this bank, then the credit leg.
            let transfer = try await link.send(BankFixtures.transferInDebit(txn: "E2", amount: 2000, card: alice.card, payee: newWallet, stan: 4)).get()
            #expect(transfer.responseCode == "00")
            let coins = try #require(BankFixtures.dcValue(transfer, "03")).split(separator: ";").map { $0.split(separator: ":").prefix(2).joined(separator: ":") }.joined(separator: ";")
            let credited = try await link.send(BankFixtures.credit(txn: "E2", amount: 2000, coins: coins, wallet: newWallet, stan: 5)).get()
            #expect(credited.responseCode == "00")
            #expect(bank.books.value(ofWallet: newWallet) == 2000)

            // Declines.
            let poor = try await link.send(BankFixtures.walletDebit(txn: "E3", amount: 1_000_000, payer: bob.wallet.address, payee: merchant, stan: 6)).get()
            #expect(poor.responseCode == "51")
            let unknown = try await link.send(BankFixtures.walletDebit(txn: "E4", amount: 10, payer: "DC10000000001" + String(repeating: "A", count: 40), payee: merchant, stan: 7)).get()
            #expect(unknown.responseCode == "14")
            let itself = try await link.send(BankFixtures.walletDebit(txn: "E5", amount: 10, payer: bob.wallet.address, payee: bob.wallet.address, stan: 8)).get()
            #expect(itself.responseCode == "57")

            // Reversal of the payment (its credit leg failed at the payee bank), twice, and of an unknown one.
            let reversed = try await link.send(BankFixtures.reversal(txn: "E1", amount: 1300, stan: 9)).get()
            #expect(reversed.mti == .reversalResponse)
            #expect(reversed.responseCode == "00")
            let reversedAgain = try await link.send(BankFixtures.reversal(txn: "E1", amount: 1300, stan: 10, repeat: true)).get()
            #expect(reversedAgain.responseCode == "00")
            let nothing = try await link.send(BankFixtures.reversal(txn: "E99", amount: 1300, stan: 11)).get()
            #expect(nothing.responseCode == "25")

            // Reconciliation.
            let totals = try await link.send(BankFixtures.reconciliation(date: "0315", stan: 12)).get()
            #expect(totals.mti == .reconciliationResponse)
            #expect(totals.responseCode == "00")
            #expect(totals[76] == "0000000002")  // E1, E2
            #expect(totals[88] == "0000000000003300")
            #expect(totals[74] == "0000000001")  // E2 credit
            #expect(totals[77] == "0000000001")  // E1 reversed
            #expect(totals[89] == "0000000000001300")

            let books = bank.books
            #expect(books.verify() == [])
            #expect(Set(books.coins(ofWallet: alice.wallet.address)!.map(\.id)) == Set(alice.coins.map(\.id)))
            // Value conserved at this bank: only E2's coins went out, and they came back in.
            #expect(books.coinValueHeld == books.seededCoinValue)
            let statistics = bank.statistics
            #expect(statistics.debits == 6 && statistics.credits == 1 && statistics.reversals == 3)
            #expect(statistics.openAccounts == 1 && statistics.reconciliations == 1)
            #expect(statistics.repeats == 2)
            #expect(statistics.responseCodes["00"] == 8)
        }
        // Card numbers, keys and signatures never reach the logs (debug level included).
        let text = logs.allText
        #expect(!text.contains(alice.card))
        #expect(!text.contains(self.seed.customers[0].wallet.publicKeyHex))
        #expect(logs.entries.contains { $0.metadata["iso.rc"] != nil && $0.metadata["bank.id"] == "BANKA" })
        #expect(logs.entries.allSatisfy { $0.level <= .info })
    }

    @Test func thinkTimeDelaysButAnswersEverything() async throws {
        let merchant = self.seed.merchants[1].wallet.address
        try await withBankAndLink(thinkTime: .milliseconds(5)) { bank, link in
            var futures: [EventLoopFuture<ISO8583Message>] = []
            // Whole coins (3 of 1000 per customer): no change, so nothing waits for a completion advice.
            for i in 0..<30 {
                let payer = self.seed.customers[i % 10].wallet.address
                futures.append(link.send(BankFixtures.walletDebit(txn: "K\(i)", amount: 1000, payer: payer, payee: merchant, stan: 100 + i)))
            }
            for future in futures {
                let answer = try await future.get()
                #expect(answer.responseCode == "00")
            }
            #expect(bank.books.valueSentOut == 30_000)
            #expect(bank.books.verify() == [])
        }
    }

    @Test func errorRateOneAnswersNinetySixAndTouchesNothing() async throws {
        let alice = self.seed.customers[0]
        try await withBankAndLink(faults: FaultInjection(errorRate: 1.0)) { bank, link in
            let before = bank.books
            let answer = try await link.send(BankFixtures.walletDebit(txn: "F1", amount: 100, payer: alice.wallet.address, payee: nil, stan: 1)).get()
            #expect(answer.responseCode == "96")
            #expect(answer.stan == "000001")
            #expect(bank.books == before)
            #expect(bank.statistics.injectedErrors == 1)

            // Faults can be lifted at run time.
            bank.setFaults(.none)
            let healthy = try await link.send(BankFixtures.walletDebit(txn: "F1", amount: 100, payer: alice.wallet.address, payee: nil, stan: 2)).get()
            #expect(healthy.responseCode == "00")
        }
    }

    @Test func droppedRequestsAreNeverAnswered() async throws {
        let alice = self.seed.customers[0]
        try await withBankAndLink(faults: FaultInjection(dropRate: 1.0)) { bank, link in
            let before = bank.books
            await #expect {
                try await link.send(BankFixtures.walletDebit(txn: "F2", amount: 100, payer: alice.wallet.address, payee: nil, stan: 1), timeout: .milliseconds(300)).get()
            } throws: { error in
                (error as? ISO8583NetworkError)?.code == .timeout
            }
            #expect(bank.statistics.dropped == 1)
            #expect(bank.books == before)
            // A reversal after the timeout finds nothing to undo.
            bank.setFaults(.none)
            let reversal = try await link.send(BankFixtures.reversal(txn: "F2", amount: 100, stan: 2)).get()
            #expect(reversal.responseCode == "25")
        }
    }

    @Test func bankRestartedOnItsJournalKeepsItsBooks() async throws {
        let path = BankFixtures.temporaryPath("e2e.journal")
        let alice = self.seed.customers[0]
        let merchant = self.seed.merchants[0].wallet.address
        var books: BankBooks?
        try await withBankAndLink(journalPath: path) { bank, link in
            // Each debit leaves change, which the next may spend once the switch has completed the transaction.
            for i in 0..<20 {
                let answer = try await link.send(BankFixtures.walletDebit(txn: "P\(i)", amount: 50 + Int64(i), payer: alice.wallet.address, payee: merchant, stan: i + 1)).get()
                #expect(answer.responseCode == "00")
                if i < 19 {
                    let completed = try await link.send(BankFixtures.completion(["P\(i)"], stan: 100 + i)).get()
                    #expect(completed.responseCode == "00" && completed.mti.description == "0630")
                }
            }
            // P19 did not complete: its change is pending, and its reversal gives back exactly what it took.
            #expect(bank.books.pendingCoins(ofTransaction: "P19") == 1)
            let reversal = try await link.send(BankFixtures.reversal(txn: "P19", amount: 69, stan: 30)).get()
            #expect(reversal.responseCode == "00")
            books = bank.books
            #expect(books?.pendingValue == 0)
            #expect(bank.processor.journal?.statistics.entries == 40)
        }
        try await withBankAndLink(journalPath: path) { bank, link in
            #expect(bank.books == books)
            let repeated = try await link.send(BankFixtures.walletDebit(txn: "P5", amount: 55, payer: alice.wallet.address, payee: merchant, stan: 40)).get()
            #expect(repeated.responseCode == "00")
            #expect(bank.books == books)
            #expect(bank.books.verify() == [])
        }
    }

    @Test func undecodableRequestGetsAFormatErrorFromTheHost() async throws {
        try await withBankAndLink { bank, link in
            var request = BankFixtures.walletDebit(txn: "U1", amount: 100, payer: self.seed.customers[0].wallet.address, payee: nil, stan: 1)
            request[124] = BankFixtures.dc([("13", "nfc")])
            let answer = try await link.send(request).get()
            #expect(answer.responseCode == "30")
            #expect(bank.books.legCount == 0)
        }
    }
}

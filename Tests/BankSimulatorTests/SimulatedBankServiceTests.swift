import BankSimulator
import DigitalCurrency
import ISO8583
import ISO8583Network
import NIOCore
import NIOPosix
import Testing

@Suite("Simulated bank as a service, several banks on one event loop group")
struct SimulatedBankServiceTests {
    @Test func twoBankServicesShareAGroupAndStopOnCancellation() async throws {
        let logs = InMemoryLogs()
        let group = MultiThreadedEventLoopGroup.singleton
        let seeds = [BankFixtures.seedA, BankFixtures.seedB]
        let journals = seeds.map { BankFixtures.temporaryPath("\($0.bank.id).journal") }
        let (started, continuation) = AsyncStream<SimulatedBank>.makeStream()
        let services = zip(seeds, journals).map { seed, journal in
            SimulatedBankService(
                configuration: .init(bank: seed.bank, port: 0, journalPath: .some(journal)), eventLoopGroup: group,
                logger: logs.logger(level: .info), onStart: { continuation.yield($0) }
            )
        }
        let running = services.map { service in Task { try await service.run() } }
        var banks: [String: SimulatedBank] = [:]
        for await bank in started {
            banks[bank.configuration.bank.id] = bank
            if banks.count == 2 { break }
        }
        var booksBefore: [String: BankBooks] = [:]
        for seed in seeds {
            let bank = try #require(banks[seed.bank.id])
            let link = ISO8583Link(
                configuration: .init(host: "127.0.0.1", port: bank.port, name: "switch"), codec: ISO8583LinkCodec(spec: BankFixtures.spec),
                eventLoopGroup: group, logger: logs.logger(level: .info)
            )
            link.start()
            try await link.waitForSignOn().get()
            let customer = seed.customers[0]
            let answer = try await link.send(BankFixtures.walletDebit(txn: "S-\(seed.bank.id)", amount: 1500, payer: customer.wallet.address, payee: seed.merchants[0].wallet.address)).get()
            #expect(answer.responseCode == "00")
            // Each bank only knows its own wallets.
            let other = seeds.first { $0.bank.id != seed.bank.id }!.customers[0].wallet.address
            let foreign = try await link.send(BankFixtures.walletDebit(txn: "F-\(seed.bank.id)", amount: 10, payer: other, payee: nil, stan: 2)).get()
            #expect(foreign.responseCode == "14")
            try await link.shutdown().get()
            booksBefore[seed.bank.id] = bank.books
        }
        for task in running { task.cancel() }
        for task in running { try await task.value }
        #expect(logs.entries.filter { $0.message == "bank stopped" }.count == 2)
        // Both journals were synced and closed: each reopens onto the same books.
        for (seed, journal) in zip(seeds, journals) {
            let reopened = try BankProcessor.open(bank: seed.bank, seed: seed, journalPath: journal, logger: logs.logger())
            #expect(reopened.books == booksBefore[seed.bank.id])
            try await reopened.close()
        }
    }
}

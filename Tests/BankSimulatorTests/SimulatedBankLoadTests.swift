import BankSimulator
import DigitalCurrency
import ISO8583
import ISO8583Network
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@Suite("Simulated bank under load over loopback TCP")
struct SimulatedBankLoadTests {
    /// Two connections with 200 legs in flight each, mixed debits, credits, completions and reversals, through the
    /// journal: every leg is answered, none twice, and the books balance afterwards.
    @Test func manyLegsInFlightOnSeveralConnections() async throws {
        let seed = SeedData(bank: BankFixtures.bank(customers: 1000))
        let path = BankFixtures.temporaryPath("load.journal")
        let total = 4000
        try await withBankAndLink(journalPath: path, seed: seed) { bank, link in
            let second = ISO8583Link(
                configuration: .init(host: "127.0.0.1", port: bank.port, name: "switch-2"),
                codec: ISO8583LinkCodec(spec: BankFixtures.spec),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                logger: InMemoryLogs().logger(level: .info)
            )
            second.start()
            try await second.waitForSignOn().get()
            let links = [link, second]
            let next = NIOLockedValueBox(0)
            let codes = NIOLockedValueBox<[String: Int]>([:])
            // Debits answered and not yet reversed: a reversal names one of them, so it never overtakes its debit.
            let reversible = NIOLockedValueBox<[(txn: String, amount: Int64)]>([])
            let sent = NIOLockedValueBox<(debits: Int, reversals: Int, completions: Int)>((0, 0, 0))

            @Sendable func request(_ n: Int) -> (ISO8583Message, debit: (txn: String, amount: Int64)?) {
                let customer = seed.customers[n % seed.customers.count]
                let merchant = seed.merchants[n % seed.merchants.count].wallet.address
                if n % 4 == 3, let target = reversible.withLockedValue({ $0.popLast() }) {
                    sent.withLockedValue { $0.reversals += 1 }
                    return (BankFixtures.reversal(txn: target.txn, amount: target.amount, stan: n), nil)
                }
                if n % 8 == 1, let target = reversible.withLockedValue({ $0.popLast() }) {
                    sent.withLockedValue { $0.completions += 1 }
                    return (BankFixtures.completion([target.txn], stan: n), nil)
                }
                if n % 4 == 2 {
                    return (BankFixtures.credit(txn: "L\(n)", amount: 5, coins: "X\(n):5", wallet: customer.wallet.address, stan: n), nil)
                }
                sent.withLockedValue { $0.debits += 1 }
                let amount = Int64(1 + n % 9)
                return (BankFixtures.walletDebit(txn: "L\(n)", amount: amount, payer: customer.wallet.address, payee: merchant, stan: n), ("L\(n)", amount))
            }
            // 200 lanes per link; each sends its next request when the previous one is answered.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<400 {
                    let link = links[lane % 2]
                    group.addTask {
                        while true {
                            let n = next.withLockedValue { value -> Int in
                                value += 1
                                return value
                            }
                            guard n <= total else { return }
                            let (message, debit) = request(n)
                            let answer = try await link.send(message).get()
                            codes.withLockedValue { $0[answer.responseCode ?? "?", default: 0] += 1 }
                            if let debit, answer.responseCode == "00" { reversible.withLockedValue { $0.append(debit) } }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await second.shutdown().get()
            let answered = codes.withLockedValue { $0 }
            #expect(answered.values.reduce(0, +) == total)
            #expect(answered["00"] == total)
            let books = bank.books
            #expect(books.verify() == [])
            let counts = sent.withLockedValue { $0 }
            #expect(counts.reversals > total / 8)
            #expect(books.totals(for: .init("0315")!).debits == Int64(counts.debits))
            #expect(books.totals(for: .init("0315")!).debitReversals == Int64(counts.reversals))
            #expect(counts.completions > total / 16)
            #expect(bank.statistics.completions == counts.completions)
            #expect(bank.statistics.legs == total)
            #expect(bank.processor.journal?.statistics.entries == total)
        }
    }
}

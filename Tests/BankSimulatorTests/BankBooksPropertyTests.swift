import BankSimulator
import DigitalCurrency
import ISO8583
import Testing

/// Two banks' books driven the way the switch drives them (`Specs/FLOWS.md`): debit leg, credit leg with the payee
/// coins, and on failure the reversals; with repeats and lost answers mixed in at random (seeded, so a failure
/// replays). After every transaction the invariants hold at each bank and across both.
@Suite("Bank books under random two-bank traffic")
struct BankBooksPropertyTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(self.next() % UInt64(n)) }
    }

    enum Fate: CaseIterable {
        /// Both legs answered.
        case completed
        /// The credit leg never reached the payee bank: the switch reverses both legs (the credit reversal is 25).
        case creditLost
        /// The credit leg was executed but its answer was lost: the switch reverses both legs.
        case creditAnswerLost
        /// The debit's answer was lost: the switch reverses the debit.
        case debitAnswerLost
    }

    @Test(arguments: [1 as UInt64, 2, 3])
    func invariantsHoldAcrossBanks(seedValue: UInt64) {
        let seeds = [BankFixtures.seedA, BankFixtures.seedB]
        var banks = seeds.map { BankBooks(seed: $0) }
        let issued = banks.reduce(0) { $0 + $1.seededCoinValue }
        var random = SplitMix(state: seedValue)
        var stan = 0
        var approved = 0
        var reversedTransactions = 0

        for n in 0..<1500 {
            stan += 3
            let txn = "R\(seedValue)-\(n)"
            let p = random.below(2)
            let q = random.below(2)
            let customer = seeds[p].customers[random.below(seeds[p].customers.count)]
            let amount = Int64(1 + random.below(600))
            let flow = random.below(10)
            // The debit leg and where the credit goes.
            let debit: ISO8583Message
            let credit: (String) -> ISO8583Message
            if flow < 6 {
                let merchant = seeds[q].merchants[random.below(seeds[q].merchants.count)].wallet.address
                debit = BankFixtures.walletDebit(txn: txn, amount: amount, payer: customer.wallet.address, payee: merchant, stan: stan)
                credit = { BankFixtures.credit(txn: txn, amount: amount, coins: $0, wallet: merchant, stan: stan + 1) }
            } else if flow < 8 {
                let payee = seeds[q].customers[random.below(seeds[q].customers.count)].wallet.address
                debit = BankFixtures.transferInDebit(txn: txn, amount: amount, card: customer.card, payee: payee, stan: stan)
                credit = { BankFixtures.credit(txn: txn, amount: amount, coins: $0, wallet: payee, flow: .transferIn, stan: stan + 1) }
            } else {
                let card = seeds[q].customers[random.below(seeds[q].customers.count)].card
                debit = BankFixtures.walletDebit(txn: txn, amount: amount, payer: customer.wallet.address, payee: nil, flow: .redeem, stan: stan)
                credit = { BankFixtures.credit(txn: txn, amount: amount, coins: $0, card: card, flow: .redeem, stan: stan + 1) }
            }
            let fate = Fate.allCases[random.below(10) < 7 ? 0 : 1 + random.below(3)]

            let debitOutcome = banks[p].handle(debit)
            if random.below(20) == 0 {
                // A repeated debit changes nothing.
                let before = banks[p]
                #expect(banks[p].handle(debit).answer == debitOutcome.answer)
                #expect(banks[p] == before)
            }
            guard case .debited(let record) = debitOutcome.answer else {
                #expect([.insufficientFunds, .notPermitted, .systemMalfunction, .exceedsLimit].contains(debitOutcome.answer.responseCode), "\(debitOutcome.answer)")
                continue
            }
            if fate == .debitAnswerLost {
                #expect(banks[p].handle(BankFixtures.reversal(txn: txn, amount: amount, stan: stan + 2)).answer.responseCode == .approved)
                reversedTransactions += 1
            } else {
                let coins = (record.spent.filter { $0.role == .transferred } + record.created.filter { $0.role == .payee })
                    .map { "\($0.id):\($0.value)" }.joined(separator: ";")
                #expect(record.valueSent == amount)
                if fate != .creditLost {
                    #expect(banks[q].handle(credit(coins)).answer.responseCode == .approved)
                }
                if fate == .completed {
                    // The switch tells both banks; the coins the legs brought in become spendable.
                    for bank in Set([p, q]) {
                        #expect(banks[bank].handle(BankFixtures.completion([txn], stan: stan + 2)).answer == .acknowledged)
                    }
                    approved += 1
                } else {
                    let creditReversal = banks[q].handle(BankFixtures.reversal(txn: txn + "/C", amount: amount, stan: stan + 2)).answer.responseCode
                    #expect(creditReversal == (fate == .creditLost ? .unknownTransaction : .approved))
                    let debitReversal = banks[p].handle(BankFixtures.reversal(txn: txn, amount: amount, stan: stan + 2, repeat: true)).answer.responseCode
                    #expect(debitReversal == .approved)
                    reversedTransactions += 1
                }
            }
            if fate != .completed {
                // A transaction that did not complete leaves nothing pending anywhere.
                #expect(banks[p].pendingCoins(ofTransaction: txn) == 0 && banks[q].pendingCoins(ofTransaction: txn) == 0)
            }
            for bank in banks {
                let problems = bank.verify()
                #expect(problems == [], "after \(txn) (\(fate)) at \(bank.bankID)")
                if !problems.isEmpty { return }
            }
            // Across banks: every coin issued is held by exactly one bank, and nothing else is held.
            #expect(banks.reduce(0) { $0 + $1.coinValueHeld } == issued, "after \(txn)")
        }
        var owners: [String: Int] = [:]
        for (i, seed) in seeds.enumerated() {
            let addresses = [seed.treasury.address] + seed.customers.map(\.wallet.address) + seed.merchants.map(\.wallet.address)
            for address in addresses {
                for coin in banks[i].coins(ofWallet: address) ?? [] {
                    owners[coin.id, default: 0] += 1
                }
            }
        }
        #expect(owners.values.allSatisfy { $0 == 1 })
        #expect(owners.count == banks.reduce(0) { $0 + $1.coinCount })
        #expect(approved > 500)
        #expect(reversedTransactions > 200)
    }
}

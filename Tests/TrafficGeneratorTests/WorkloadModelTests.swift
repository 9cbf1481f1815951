import DigitalCurrency
import Testing

@testable import TrafficGenerator

/// The books a bank would keep, to check the model against: an approval executes only when the payer holds the
/// amount, as a bank's debit leg would.
private struct Ledger {
    var wallets: [Int: Int64] = [:]
    var accounts: [Int: Int64] = [:]
    var treasuries: [Int: Int64] = [:]
    var overdrafts: [String] = []

    init(_ model: WorkloadModel) {
        for (i, w) in model.wallets.enumerated() { self.wallets[i] = w.available }
        for (i, c) in model.customers.enumerated() { self.accounts[i] = c.accountAvailable }
        for (i, t) in model.treasuryAvailable.enumerated() { self.treasuries[i] = t }
    }

    mutating func execute(_ plan: PlannedTransaction, model: WorkloadModel) {
        func debit(_ balance: inout Int64?, _ what: String) {
            if (balance ?? 0) < plan.amount { self.overdrafts.append("\(plan.flow.rawValue): \(what) holds \(balance ?? 0) < \(plan.amount)") }
            balance = (balance ?? 0) - plan.amount
        }
        switch plan.flow {
        case .accountOpen:
            break
        case .transferIn:
            debit(&self.accounts[plan.customer], "account")
            debit(&self.treasuries[plan.bank], "treasury")
            self.wallets[plan.payeeWallet, default: 0] += plan.amount
        case .redeem:
            debit(&self.wallets[plan.payerWallet], "wallet")
            self.accounts[plan.customer, default: 0] += plan.amount
            self.treasuries[model.customers[plan.customer].bank, default: 0] += plan.amount
        case .nfc, .qrBSC, .qrCSB, .inApp:
            debit(&self.wallets[plan.payerWallet], "wallet")
            self.wallets[plan.payeeWallet, default: 0] += plan.amount
        }
    }
}

@Suite("Workload model")
struct WorkloadModelTests {
    static let network = smallNetwork(customers: 30, merchants: 5, accountBalance: 300_000, walletCoins: 1, coinValue: 8_000, treasuryCoins: 20)
    static let seedData = seeds(of: network)

    @Test("never asks for money that is not there, whatever the outcomes", arguments: [1, 2, 3, 4] as [UInt64])
    func neverOverdraws(seed: UInt64) {
        var model = WorkloadModel(seeds: Self.seedData)
        var ledger = Ledger(model)
        var random = LoadRandom(seed: seed)
        var pending: [PlannedTransaction] = []
        let flows = TrafficMix.standard.schedule
        var approvals = 0
        var newWallets = 0
        for step in 0..<30_000 {
            // A millisecond a step: holds (100 ms) end as the run goes on.
            model.clock += 1_000_000
            if pending.count < 64 {
                pending.append(model.plan(flows[random.below(flows.count)], random: &random))
            }
            // Answers come back in any order.
            if pending.count >= 64 || step % 3 == 0 {
                let plan = pending.remove(at: random.below(pending.count))
                let draw = random.below(100)
                if draw < 75 {
                    ledger.execute(plan, model: model)
                    var newWallet: String?
                    if plan.flow == .accountOpen {
                        newWallets += 1
                        newWallet = "DC10000000001" + String(repeating: "0", count: 30) + String(1_000_000_000 + newWallets)
                    }
                    model.settle(plan, outcome: .approved(newWallet: newWallet))
                    approvals += 1
                } else if draw < 95 {
                    model.settle(plan, outcome: .declined)
                } else {
                    // A timeout: the switch may or may not have executed it.
                    if random.below(2) == 0 { ledger.execute(plan, model: model) }
                    model.settle(plan, outcome: .unknown)
                }
            }
            if step % 250 == 0 || step == 29_999 {
                #expect(model.wallets.allSatisfy { $0.available >= 0 })
                #expect(model.customers.allSatisfy { $0.accountAvailable >= 0 })
                #expect(model.treasuryAvailable.allSatisfy { $0 >= 0 })
            }
            if !ledger.overdrafts.isEmpty { break }
        }
        #expect(ledger.overdrafts.isEmpty, "first overdraft: \(ledger.overdrafts.first ?? "")")
        #expect(approvals > 10_000)
        #expect(model.openedWallets.count == newWallets)
        // The balances are small, so some flows could not be funded and were replaced.
        #expect(!model.substitutions.isEmpty)
        // What the model believes a wallet holds never exceeds what it holds.
        for (i, wallet) in model.wallets.enumerated() {
            #expect(wallet.balance <= ledger.wallets[i, default: 0])
        }
    }

    @Test("a decline gives the reservation back; a timeout keeps it")
    func declineAndTimeout() throws {
        var model = WorkloadModel(seeds: Self.seedData)
        var random = LoadRandom(seed: 9)
        let before = model.walletTotal
        let plan = try #require(model.tryPlan(.nfc, random: &random))
        #expect(plan.reserved)
        #expect(model.walletTotal == before - plan.amount)
        model.settle(plan, outcome: .declined)
        #expect(model.walletTotal == before)

        let second = try #require(model.tryPlan(.inApp, random: &random))
        model.settle(second, outcome: .unknown)
        #expect(model.walletTotal == before - second.amount)
        #expect(model.uncertain == second.amount)
    }

    @Test("an approval debits the payer the exact amount and credits the payee")
    func approvalMovesMoney() throws {
        var model = WorkloadModel(seeds: Self.seedData)
        var random = LoadRandom(seed: 5)
        let plan = try #require(model.tryPlan(.qrCSB, random: &random))
        let payerBefore = model.wallets[plan.payerWallet].available + plan.amount
        let payeeBefore = model.wallets[plan.payeeWallet].balance
        model.settle(plan, outcome: .approved(newWallet: nil))
        #expect(model.wallets[plan.payerWallet].available == payerBefore - plan.amount)
        #expect(model.wallets[plan.payeeWallet].balance == payeeBefore + plan.amount)
        #expect(model.wallets[plan.payeeWallet].isMerchant)
        #expect(Self.network.banks.map(\.institution).contains(model.institutions[plan.bank]))
    }

    @Test("money received and a payer's change are on hold until the bank has released them")
    func holdsFollowTheBanksPendingCoins() throws {
        var model = WorkloadModel(seeds: Self.seedData, options: .init(holdNanoseconds: 50_000_000))
        var random = LoadRandom(seed: 5)
        model.clock = 1_000_000_000
        let plan = try #require(model.tryPlan(.nfc, random: &random))
        // In flight: the payer does not pay again.
        #expect(!model.canPay(plan.payerWallet, 1))
        model.clock += 5_000_000
        model.settle(plan, outcome: .approved(newWallet: nil))
        let payer = model.wallets[plan.payerWallet]
        let payee = model.wallets[plan.payeeWallet]
        // Answered: the payer's change and the payee's takings are pending at their banks for the hold.
        #expect(!model.canPay(plan.payerWallet, 1))
        #expect(payee.incoming >= plan.amount)
        #expect(!model.canPay(plan.payeeWallet, payee.available + 1))
        model.clock += 50_000_000
        #expect(model.canPay(plan.payerWallet, payer.available))
        #expect(!model.canPay(plan.payerWallet, payer.available + 1))
        #expect(model.canPay(plan.payeeWallet, payee.available + payee.incoming))
        // A planned redeem by the merchant now spends its takings.
        #expect(model.spendable(plan.payeeWallet) == payee.available + payee.incoming)
        #expect(model.wallets[plan.payeeWallet].incoming == 0)
    }

    @Test("amounts stay in the configured ranges")
    func amountsInRange() {
        var model = WorkloadModel(seeds: Self.seedData)
        var random = LoadRandom(seed: 11)
        for flow in Flow.allCases {
            for _ in 0..<200 {
                model.clock += 200_000_000  // past every hold
                guard let plan = model.tryPlan(flow, random: &random) else { continue }
                switch flow {
                case .accountOpen: #expect(plan.amount == 0)
                case .nfc, .qrBSC, .qrCSB, .inApp: #expect(model.options.paymentAmount.contains(plan.amount))
                case .transferIn: #expect(model.options.exchangeAmount.contains(plan.amount))
                case .redeem: #expect(plan.amount >= model.options.exchangeAmount.lowerBound && plan.amount <= model.options.merchantRedeemLimit)
                }
                model.settle(plan, outcome: .declined)
            }
        }
    }

    @Test("payments go across banks: payers and merchants of both banks meet")
    func crossBank() {
        var model = WorkloadModel(seeds: seeds(of: smallNetwork()))
        var random = LoadRandom(seed: 3)
        var pairs: Set<[Int]> = []
        for _ in 0..<400 {
            model.clock += 200_000_000  // past every hold
            let plan = model.plan(.nfc, random: &random)
            pairs.insert([model.wallets[plan.payerWallet].bank, model.wallets[plan.payeeWallet].bank])
            model.settle(plan, outcome: .declined)
        }
        #expect(pairs == [[0, 0], [0, 1], [1, 0], [1, 1]])
    }

    @Test("opened wallets receive transfer-ins")
    func openedWalletsReceive() throws {
        var model = WorkloadModel(seeds: Self.seedData)
        var random = LoadRandom(seed: 21)
        let open = try #require(model.tryPlan(.accountOpen, random: &random))
        let address = "DC10000000002" + String(repeating: "A", count: 40)
        model.settle(open, outcome: .approved(newWallet: address))
        let index = try #require(model.openedWallets.first)
        #expect(model.wallets[index].address == address)
        #expect(model.wallets[index].bank == 1)
        #expect(model.wallets[index].signer == nil)
        var received = false
        for _ in 0..<400 {
            guard let plan = model.tryPlan(.transferIn, random: &random) else { continue }
            if plan.payeeWallet == index {
                model.settle(plan, outcome: .approved(newWallet: nil))
                received = true
                break
            }
            model.settle(plan, outcome: .declined)
        }
        #expect(received)
        #expect(model.wallets[index].balance > 0)
    }

    @Test("with --allow-declines the model asks for more than is there")
    func allowDeclines() {
        var model = WorkloadModel(seeds: Self.seedData, options: .init(paymentAmount: 50_000...90_000, allowDeclines: true))
        var random = LoadRandom(seed: 2)
        let plan = model.plan(.nfc, random: &random)
        #expect(plan.flow == .nfc)
        #expect(!plan.reserved)
        #expect(plan.amount > model.wallets[plan.payerWallet].available)
    }

    @Test("an unfunded flow is replaced and counted")
    func substitution() {
        let broke = smallNetwork(customers: 4, merchants: 2, accountBalance: 0, walletCoins: 0, coinValue: 100, treasuryCoins: 0)
        var model = WorkloadModel(seeds: seeds(of: broke))
        var random = LoadRandom(seed: 1)
        let plan = model.plan(.nfc, random: &random)
        #expect(plan.flow == .accountOpen)
        #expect(model.substitutions[.nfc] == 1)
    }

    @Test("shards own disjoint customers and merchants that together make the network")
    func shards() {
        let all = WorkloadModel(seeds: Self.seedData)
        let parts = (0..<3).map { WorkloadModel(seeds: Self.seedData, shard: $0, of: 3) }
        let cards = parts.flatMap { $0.customers.map(\.card) }
        #expect(Set(cards).count == cards.count)
        #expect(Set(cards) == Set(all.customers.map(\.card)))
        let terminals = parts.flatMap { $0.merchants.map(\.terminalID) }
        #expect(Set(terminals) == Set(all.merchants.map(\.terminalID)))
        #expect(terminals.count == all.merchants.count)
    }
}

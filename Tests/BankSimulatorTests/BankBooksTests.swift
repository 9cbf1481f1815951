import BankSimulator
import DigitalCurrency
import ISO8583
import Testing

@Suite("Bank books: legs, response codes, idempotency and reversals, without I/O")
struct BankBooksTests {
    let seed = BankFixtures.seedA
    var alice: SeedData.Customer { self.seed.customers[0] }
    var bob: SeedData.Customer { self.seed.customers[1] }
    var merchant: SeedData.Merchant { self.seed.merchants[0] }

    func books() -> BankBooks { BankBooks(seed: self.seed) }

    func coinIDs(_ books: BankBooks, _ wallet: String) -> [String] {
        books.coins(ofWallet: wallet)?.map(\.id) ?? []
    }

    // MARK: Debits

    @Test func paymentWithWholeCoinsMovesThemAsT() throws {
        var books = self.books()
        let outcome = books.handle(BankFixtures.walletDebit(txn: "T1", amount: 2000, payer: alice.wallet.address, payee: merchant.wallet.address))
        guard case .debited(let record) = outcome.answer else { Issue.record("expected a debit, got \(outcome.answer)"); return }
        #expect(record.spent.map(\.role) == [.transferred, .transferred])
        #expect(record.spent.map(\.id) == alice.coins.prefix(2).map(\.id))
        #expect(record.created.isEmpty)
        #expect(books.value(ofWallet: alice.wallet.address) == 1000)
        #expect(books.valueSentOut == 2000)
        #expect(!outcome.isRepeat)
        #expect(outcome.effect != nil)
        #expect(books.verify() == [])
    }

    @Test func paymentThatOvershootsRetiresTheLastCoinAndMakesPayeeAndChangeCoins() throws {
        var books = self.books()
        let request = BankFixtures.walletDebit(txn: "T2", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address)
        let outcome = books.handle(request)
        guard case .debited(let record) = outcome.answer else { Issue.record("expected a debit, got \(outcome.answer)"); return }
        #expect(record.spent == [
            .init(id: alice.coins[0].id, value: 1000, role: .transferred),
            .init(id: alice.coins[1].id, value: 1000, role: .retired),
        ])
        #expect(record.created == [.init(id: "T2.0", value: 300, role: .payee), .init(id: "T2.1", value: 700, role: .change)])
        #expect(books.owner(ofCoin: "T2.1") == alice.wallet.address)
        #expect(books.owner(ofCoin: "T2.0") == nil)
        #expect(books.owner(ofCoin: alice.coins[1].id) == nil)
        #expect(books.value(ofWallet: alice.wallet.address) == 1700)
        #expect(books.valueSentOut == 1300)
        #expect(books.verify() == [])

        let response = outcome.answer.response(to: request, institution: books.institution)
        #expect(response.mti == .financialResponse)
        #expect(response.responseCode == "00")
        #expect(response[38]?.count == 6)
        #expect(BankFixtures.dcValue(response, "03") == "\(alice.coins[0].id):1000:T;\(alice.coins[1].id):1000:R")
        #expect(BankFixtures.dcValue(response, "11") == "T2.0:300:P;T2.1:700:C")
        #expect(BankFixtures.dcValue(response, "05") == "T2")
        #expect(BankFixtures.dcValue(response, "13") == "nfc")
        #expect(response.stan == request.stan && response.rrn == request.rrn && response.terminalID == request.terminalID)
        _ = try BankFixtures.wire(response)
    }

    @Test func changeCoinsArePendingUntilTheSwitchCompletesTheTransaction() {
        var books = self.books()
        _ = books.handle(BankFixtures.walletDebit(txn: "T3", amount: 2500, payer: alice.wallet.address, payee: merchant.wallet.address))
        #expect(books.value(ofWallet: alice.wallet.address) == 500)
        #expect(books.spendableValue(ofWallet: alice.wallet.address) == 0)
        #expect(books.pendingCoins == [alice.wallet.address: ["T3.1"]])
        // Funds on hold: the change cannot be spent yet.
        #expect(books.handle(BankFixtures.walletDebit(txn: "T4", amount: 500, payer: alice.wallet.address, payee: merchant.wallet.address)).answer == .declined(.insufficientFunds))

        let completion = books.handle(BankFixtures.completion(["T3"]))
        #expect(completion.answer == .acknowledged)
        #expect(completion.effect == .completed(["T3"]))
        #expect(books.pendingValue == 0)
        // A repeated advice changes nothing and is still acknowledged.
        let again = books.handle(BankFixtures.completion(["T3", "UNKNOWN"], stan: 6))
        #expect(again.answer == .acknowledged && again.effect == nil && again.isRepeat)

        let outcome = books.handle(BankFixtures.walletDebit(txn: "T5", amount: 500, payer: alice.wallet.address, payee: merchant.wallet.address))
        guard case .debited(let record) = outcome.answer else { Issue.record("expected a debit, got \(outcome.answer)"); return }
        #expect(record.spent == [.init(id: "T3.1", value: 500, role: .transferred)])
        #expect(books.value(ofWallet: alice.wallet.address) == 0)
        #expect(books.verify() == [])
    }

    @Test func aCompletedTransactionKeepsOnlyThatItHappened() {
        var books = self.books()
        books.keepCompletedLegsInFull(0)
        let debit = BankFixtures.walletDebit(txn: "S1", amount: 2500, payer: alice.wallet.address, payee: merchant.wallet.address)
        _ = books.handle(debit)
        let credit = BankFixtures.credit(txn: "S1", amount: 700, coins: "SX-1:700", wallet: bob.wallet.address)
        _ = books.handle(credit)
        // A debit that spends whole coins leaves no change: nothing pending, yet its record is settled too.
        let exact = BankFixtures.walletDebit(txn: "S2", amount: 1000, payer: bob.wallet.address, payee: merchant.wallet.address, stan: 7)
        guard case .debited = books.handle(exact).answer else { Issue.record("the exact debit was not executed"); return }
        #expect(books.pendingCoins(ofTransaction: "S2") == 0)

        #expect(books.handle(BankFixtures.completion(["S1", "S2"])).effect == .completed(["S1", "S2"]))
        #expect(books.leg(.init(transactionID: "S1", kind: .debit)) == .settled)
        #expect(books.leg(.init(transactionID: "S1/C", kind: .credit)) == .settled)
        #expect(books.leg(.init(transactionID: "S2", kind: .debit)) == .settled)
        #expect(books.pendingValue == 0)
        // A repeat of a settled leg is never executed again, and a completed transaction is not reversed.
        let again = books.handle(debit)
        #expect(again.answer == .declined(.duplicate) && again.isRepeat && again.effect == nil)
        #expect(books.handle(credit).answer == .declined(.duplicate))
        #expect(books.handle(BankFixtures.reversal(txn: "S1", amount: 2500)).answer == .declined(.invalidTransaction))
        #expect(books.handle(BankFixtures.reversal(txn: "S1/C", amount: 700)).answer == .declined(.invalidTransaction))
        // Nothing left to settle: a repeated advice is a repeat.
        let repeated = books.handle(BankFixtures.completion(["S1", "S2"], stan: 8))
        #expect(repeated.isRepeat && repeated.effect == nil)
        #expect(books.verify() == [])
    }

    @Test func theLastCompletedTransactionsKeepTheirLegsInFull() {
        var books = self.books()
        books.keepCompletedLegsInFull(2)
        var debits: [ISO8583Message] = []
        for i in 1...3 {
            let debit = BankFixtures.walletDebit(txn: "K\(i)", amount: 100, payer: alice.wallet.address, payee: merchant.wallet.address, stan: i)
            debits.append(debit)
            _ = books.handle(debit)
            #expect(books.handle(BankFixtures.completion(["K\(i)"], stan: 10 + i)).effect == .completed(["K\(i)"]))
        }
        // The oldest is settled; the last two keep their records, and a repeat of one gets its original answer.
        #expect(books.leg(.init(transactionID: "K1", kind: .debit)) == .settled)
        guard case .debited = books.leg(.init(transactionID: "K2", kind: .debit)),
              case .debited(let record) = books.leg(.init(transactionID: "K3", kind: .debit)) else {
            Issue.record("K2 and K3 should keep their records"); return
        }
        #expect(books.handle(debits[2]).answer == .debited(record))
        #expect(books.handle(debits[0]).answer == .declined(.duplicate))
        // A repeated advice of a kept transaction is a repeat too.
        #expect(books.handle(BankFixtures.completion(["K3"], stan: 20)).isRepeat)
        // Narrowing the window settles at once.
        books.keepCompletedLegsInFull(0)
        #expect(books.leg(.init(transactionID: "K3", kind: .debit)) == .settled)
        #expect(books.verify() == [])
    }

    @Test func completionAdviceIsAnsweredWithItsResponse() throws {
        var books = self.books()
        _ = books.handle(BankFixtures.credit(txn: "Q1", amount: 700, coins: "QX-1:700", wallet: bob.wallet.address))
        #expect(books.spendableValue(ofWallet: bob.wallet.address) == books.value(ofWallet: bob.wallet.address)! - 700)
        let request = BankFixtures.completion(["Q1"])
        let outcome = books.handle(request)
        #expect(outcome.effect == .completed(["Q1"]))
        #expect(books.spendableValue(ofWallet: bob.wallet.address) == books.value(ofWallet: bob.wallet.address))
        let response = outcome.answer.response(to: request, institution: books.institution)
        #expect(response.mti.description == "0630")
        #expect(response.responseCode == "00")
        #expect(response.stan == request.stan)
        _ = try BankFixtures.wire(response)
        // No list, or a malformed id: format error, nothing changes.
        var empty = request
        empty[124] = nil
        #expect(books.handle(empty).answer == .declined(.formatError))
        let malformed = BankFixtures.completion(["Q|1"])
        #expect(books.handle(malformed).answer == .declined(.formatError))
    }

    @Test func transferInDebitsTheAccountAndPaysFromTheTreasury() {
        var books = self.books()
        let treasuryBefore = books.treasuryValue
        let outcome = books.handle(BankFixtures.transferInDebit(txn: "T5", amount: 1500, card: alice.card, payee: alice.wallet.address))
        guard case .debited(let record) = outcome.answer else { Issue.record("expected a debit, got \(outcome.answer)"); return }
        #expect(record.source == .account(card: alice.card))
        #expect(record.payingWallet == books.treasuryAddress)
        #expect(books.balance(ofCard: alice.card) == Int64(998_500))
        #expect(books.treasuryValue == treasuryBefore - 1500)
        #expect(books.verify() == [])
    }

    @Test(arguments: [
        ("insufficient funds in the wallet", BankResponseCode.insufficientFunds),
        ("insufficient funds in the account", .insufficientFunds),
        ("unknown wallet", .unknownAccount),
        ("unknown card", .unknownAccount),
        ("wallet pays itself", .notPermitted),
        ("treasury as payer", .notPermitted),
        ("no amount", .formatError),
        ("no payer", .formatError),
    ])
    func declinedDebits(_ name: String, _ code: BankResponseCode) {
        var books = self.books()
        let before = books
        var request: ISO8583Message
        switch name {
        case "insufficient funds in the wallet":
            request = BankFixtures.walletDebit(txn: "D1", amount: 3001, payer: alice.wallet.address, payee: merchant.wallet.address)
        case "insufficient funds in the account":
            request = BankFixtures.transferInDebit(txn: "D1", amount: 1_000_001, card: alice.card, payee: alice.wallet.address)
        case "unknown wallet":
            request = BankFixtures.walletDebit(txn: "D1", amount: 100, payer: "DC10000000001" + String(repeating: "0", count: 40), payee: merchant.wallet.address)
        case "unknown card":
            request = BankFixtures.transferInDebit(txn: "D1", amount: 100, card: "4761739999999999", payee: alice.wallet.address)
        case "wallet pays itself":
            request = BankFixtures.walletDebit(txn: "D1", amount: 100, payer: alice.wallet.address, payee: alice.wallet.address)
        case "treasury as payer":
            request = BankFixtures.walletDebit(txn: "D1", amount: 100, payer: books.treasuryAddress, payee: merchant.wallet.address)
        case "no amount":
            request = BankFixtures.walletDebit(txn: "D1", amount: 100, payer: alice.wallet.address, payee: merchant.wallet.address)
            request[4] = nil
        default:
            request = BankFixtures.walletDebit(txn: "D1", amount: 100, payer: alice.wallet.address, payee: merchant.wallet.address)
            request[102] = nil
            request[103] = nil
        }
        let outcome = books.handle(request)
        #expect(outcome.answer == .declined(code), "\(name)")
        #expect(outcome.effect == .declined(.init(transactionID: "D1", kind: .debit), code))
        // Nothing moved; only the decline is in the transaction table.
        #expect(books.coinValueHeld == before.coinValueHeld)
        #expect(books.accountTotal == before.accountTotal)
        #expect(books.legCount == 1)
        #expect(books.verify() == [])
        let response = outcome.answer.response(to: request, institution: books.institution)
        #expect(response.responseCode == code.rawValue)
        #expect(response[38] == nil)
        #expect(BankFixtures.dcValue(response, "05") == "D1")
    }

    @Test func debitWithoutTransactionIDIsAFormatErrorAndNotRecorded() {
        var books = self.books()
        var request = BankFixtures.walletDebit(txn: "X", amount: 100, payer: alice.wallet.address, payee: nil)
        request[124] = BankFixtures.dc([("13", "nfc")])
        let outcome = books.handle(request)
        #expect(outcome.answer == .declined(.formatError))
        #expect(outcome.effect == nil)
        #expect(books.legCount == 0)
    }

    @Test func transactionIDWithJournalSeparatorsIsAFormatError() {
        var books = self.books()
        let outcome = books.handle(BankFixtures.walletDebit(txn: "T|1", amount: 100, payer: alice.wallet.address, payee: nil))
        #expect(outcome.answer == .declined(.formatError))
        #expect(books.legCount == 0)
    }

    @Test func unsupportedMessageIsAnsweredTwelve() {
        var books = self.books()
        var request = BankFixtures.common("0300", stan: 9)
        request[3] = "000000"
        #expect(books.handle(request).answer == .declined(.invalidTransaction))
    }

    @Test func walletHoldingValueInTooManyCoinsIsDeclinedSixtyOne() {
        // 60 coins of 1: the coin list for 60 would not fit in DE 124.03 (999 characters).
        let config = BankConfiguration(
            id: "TINY", institution: "10000000005", port: 0, bins: ["400000"],
            customers: .init(count: 1, accountBalance: 0, walletCoins: 60, coinValue: 1), merchants: .init(count: 1),
            treasury: .init(coins: 0, coinValue: 0)
        )
        let seed = SeedData(bank: config)
        var books = BankBooks(seed: seed)
        let outcome = books.handle(BankFixtures.walletDebit(txn: "M1", amount: 60, payer: seed.customers[0].wallet.address, payee: seed.merchants[0].wallet.address))
        #expect(outcome.answer == .declined(.exceedsLimit))
        let small = books.handle(BankFixtures.walletDebit(txn: "M2", amount: 5, payer: seed.customers[0].wallet.address, payee: seed.merchants[0].wallet.address))
        #expect(small.answer.responseCode == .approved)
        #expect(books.verify() == [])
    }

    @Test func whenTheOldestCoinsWouldNotFitTheLargestArePaidInstead() throws {
        // 60 coins of 1 (oldest), then one of 500 received and completed: paying 60 oldest first lists 60 coins, too
        // many for DE 124.03; the 500 coin alone covers it.
        let config = BankConfiguration(
            id: "TINY", institution: "10000000005", port: 0, bins: ["400000"],
            customers: .init(count: 1, accountBalance: 0, walletCoins: 60, coinValue: 1), merchants: .init(count: 1),
            treasury: .init(coins: 0, coinValue: 0)
        )
        let seed = SeedData(bank: config)
        let payer = seed.customers[0].wallet.address
        var books = BankBooks(seed: seed)
        #expect(books.handle(BankFixtures.credit(txn: "R1", amount: 500, coins: "BIG500:500", wallet: payer)).answer.responseCode == .approved)
        #expect(books.handle(BankFixtures.completion(["R1"])).answer.responseCode == .approved)
        let outcome = books.handle(BankFixtures.walletDebit(txn: "M1", amount: 60, payer: payer, payee: seed.merchants[0].wallet.address))
        guard case .debited(let record) = outcome.answer else { Issue.record("expected a debit, got \(outcome.answer)"); return }
        #expect(record.spent.map(\.id) == ["BIG500"])
        #expect(record.spent.map(\.role) == [.retired])
        #expect(record.created.map(\.value) == [60, 440])
        // A payment the oldest coins cover in a list that fits still spends them oldest first.
        let small = books.handle(BankFixtures.walletDebit(txn: "M2", amount: 5, payer: payer, payee: seed.merchants[0].wallet.address))
        guard case .debited(let smallRecord) = small.answer else { Issue.record("expected a debit, got \(small.answer)"); return }
        #expect(smallRecord.spent.count == 5)
        #expect(smallRecord.spent.allSatisfy { $0.value == 1 })
        #expect(books.verify() == [])
    }

    // MARK: Idempotency

    @Test func repeatedDebitGetsTheOriginalAnswerWithoutASecondExecution() {
        var books = self.books()
        let request = BankFixtures.walletDebit(txn: "R1", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address)
        let first = books.handle(request)
        let afterFirst = books
        var again = request
        again[11] = "000099"
        let second = books.handle(again)
        #expect(second.isRepeat)
        #expect(second.effect == nil)
        #expect(second.answer == first.answer)
        #expect(books == afterFirst)
        #expect(second.answer.response(to: again, institution: books.institution)[124] == first.answer.response(to: request, institution: books.institution)[124])
    }

    @Test func repeatedDeclineGetsTheSameDeclineEvenWhenItWouldNowPass() {
        var books = self.books()
        let request = BankFixtures.walletDebit(txn: "R2", amount: 3500, payer: alice.wallet.address, payee: merchant.wallet.address)
        #expect(books.handle(request).answer == .declined(.insufficientFunds))
        _ = books.handle(BankFixtures.credit(txn: "IN1", amount: 1000, coins: "X1:1000", wallet: alice.wallet.address))
        let second = books.handle(request)
        #expect(second.isRepeat)
        #expect(second.answer == .declined(.insufficientFunds))
        #expect(books.value(ofWallet: alice.wallet.address) == 4000)
    }

    // MARK: Credits

    @Test func creditToWalletOwnsTheCoins() throws {
        var books = self.books()
        let request = BankFixtures.credit(txn: "C1", amount: 1300, coins: "CX-1:1000;C1.0:300", wallet: merchant.wallet.address)
        let outcome = books.handle(request)
        guard case .credited(let record) = outcome.answer else { Issue.record("expected a credit, got \(outcome.answer)"); return }
        #expect(record.transactionID == "C1/C")
        #expect(record.target == .wallet)
        #expect(Set(self.coinIDs(books, merchant.wallet.address)) == ["CX-1", "C1.0"])
        #expect(books.valueReceived == 1300)
        #expect(books.verify() == [])
        let response = outcome.answer.response(to: request, institution: books.institution)
        #expect(response.responseCode == "00")
        #expect(BankFixtures.dcValue(response, "05") == "C1/C")
        _ = try BankFixtures.wire(response)
    }

    @Test func creditToAccountCreditsItAndTheTreasuryOwnsTheCoins() {
        var books = self.books()
        let treasuryBefore = books.treasuryValue
        let outcome = books.handle(BankFixtures.credit(txn: "C2", amount: 700, coins: "RX-1:700", card: bob.card, flow: .redeem))
        #expect(outcome.answer.responseCode == .approved)
        #expect(books.balance(ofCard: bob.card) == 1_000_700)
        #expect(books.treasuryValue == treasuryBefore + 700)
        #expect(books.owner(ofCoin: "RX-1") == books.treasuryAddress)
        #expect(books.verify() == [])
    }

    @Test(arguments: [
        ("coins do not add up to the amount", "A:500", BankResponseCode.formatError),
        ("malformed coin list", "A:5x0", .formatError),
        ("coin listed twice", "A:250;A:250", .formatError),
        ("coin the bank already holds", "\(BankFixtures.seedA.customers[2].coins[0].id):500", .formatError),
        ("unknown wallet", "A:500", .unknownAccount),
        ("unknown card", "A:500", .unknownAccount),
        ("treasury named as payee wallet", "A:500", .notPermitted),
    ])
    func declinedCredits(_ name: String, _ coins: String, _ code: BankResponseCode) {
        var books = self.books()
        let amount: Int64 = name.hasPrefix("coins do not") ? 600 : 500
        var request: ISO8583Message
        switch name {
        case "unknown wallet":
            request = BankFixtures.credit(txn: "E1", amount: amount, coins: coins, wallet: "DC10000000001" + String(repeating: "F", count: 40))
        case "unknown card":
            request = BankFixtures.credit(txn: "E1", amount: amount, coins: coins, card: "4761730000000000")
        case "treasury named as payee wallet":
            request = BankFixtures.credit(txn: "E1", amount: amount, coins: coins, wallet: books.treasuryAddress)
        default:
            request = BankFixtures.credit(txn: "E1", amount: amount, coins: coins, wallet: merchant.wallet.address)
        }
        #expect(books.handle(request).answer == .declined(code), "\(name)")
        #expect(books.valueReceived == 0)
        #expect(books.verify() == [])
    }

    // MARK: Reversals

    @Test func reversalUndoesADebitExactlyAndOnce() throws {
        var books = self.books()
        let seeded = books
        _ = books.handle(BankFixtures.walletDebit(txn: "V1", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address))
        let request = BankFixtures.reversal(txn: "V1", amount: 1300)
        let first = books.handle(request)
        #expect(first.answer == .reversed(transactionID: "V1"))
        #expect(first.effect == .reversed(.init(transactionID: "V1", date: .init("0315")!, debit: .exact, credit: false)))
        #expect(Set(self.coinIDs(books, alice.wallet.address)) == Set(alice.coins.map(\.id)))
        #expect(books.owner(ofCoin: "V1.1") == nil)
        #expect(books.coinValueHeld == seeded.coinValueHeld)
        #expect(books.valueSentOut == 0)
        #expect(books.verify() == [])

        let response = first.answer.response(to: request, institution: books.institution)
        #expect(response.mti == .reversalResponse)
        #expect(response.responseCode == "00")
        #expect(response[90] == request[90])
        _ = try BankFixtures.wire(response)

        // 0421 repeat: 00 again, nothing more undone.
        let afterFirst = books
        let second = books.handle(BankFixtures.reversal(txn: "V1", amount: 1300, stan: 4, repeat: true))
        #expect(second.answer == .reversed(transactionID: "V1"))
        #expect(second.isRepeat)
        #expect(second.effect == nil)
        #expect(books == afterFirst)
        #expect(books.handle(BankFixtures.reversal(txn: "V1", amount: 1300, stan: 4, repeat: true)).answer.response(to: request, institution: books.institution).mti == "0430")
    }

    @Test func reversalOfAnUnknownOrDeclinedTransactionIsTwentyFive() {
        var books = self.books()
        #expect(books.handle(BankFixtures.reversal(txn: "NOPE", amount: 100)).answer == .declined(.unknownTransaction))
        _ = books.handle(BankFixtures.walletDebit(txn: "V2", amount: 9000, payer: alice.wallet.address, payee: merchant.wallet.address))
        #expect(books.handle(BankFixtures.reversal(txn: "V2", amount: 9000)).answer == .declined(.unknownTransaction))
        #expect(books.verify() == [])
    }

    @Test func reversalOfATransferInReCreditsTheAccount() {
        var books = self.books()
        let seeded = books
        _ = books.handle(BankFixtures.transferInDebit(txn: "V3", amount: 1500, card: alice.card, payee: alice.wallet.address))
        #expect(books.handle(BankFixtures.reversal(txn: "V3", amount: 1500)).answer.responseCode == .approved)
        #expect(books.balance(ofCard: alice.card) == 1_000_000)
        #expect(books.treasuryValue == seeded.treasuryValue)
        #expect(books.coins(ofWallet: books.treasuryAddress)?.count == 20)
        #expect(books.verify() == [])
    }

    @Test func reversalIsExactBecauseTheChangeCannotBeSpentBeforeIt() {
        var books = self.books()
        let seeded = books
        // V4 leaves change V4.1 (700), pending; V5 pays from Alice's last whole coin, not from the change.
        _ = books.handle(BankFixtures.walletDebit(txn: "V4", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address))
        #expect(books.handle(BankFixtures.walletDebit(txn: "V5x", amount: 1500, payer: alice.wallet.address, payee: merchant.wallet.address)).answer == .declined(.insufficientFunds))
        let v5 = books.handle(BankFixtures.walletDebit(txn: "V5", amount: 500, payer: alice.wallet.address, payee: merchant.wallet.address))
        guard case .debited(let record) = v5.answer else { Issue.record("expected a debit, got \(v5.answer)"); return }
        #expect(!record.spent.contains { $0.id == "V4.1" })
        #expect(books.owner(ofCoin: "V4.1") == alice.wallet.address)
        // V4's credit fails: the reversal gives back exactly what V4 took.
        let outcome = books.handle(BankFixtures.reversal(txn: "V4", amount: 1300))
        #expect(outcome.effect == .reversed(.init(transactionID: "V4", date: .init("0315")!, debit: .exact, credit: false)))
        #expect(books.owner(ofCoin: "V4.1") == nil)
        #expect(books.owner(ofCoin: alice.coins[0].id) == alice.wallet.address)
        #expect(books.owner(ofCoin: alice.coins[1].id) == alice.wallet.address)
        #expect(books.value(ofWallet: alice.wallet.address) == seeded.value(ofWallet: alice.wallet.address)! - 500)
        #expect(books.pendingValue == 500)  // V5's change, until V5 completes
        // A completion for the reversed V4 releases nothing.
        #expect(books.handle(BankFixtures.completion(["V4"])).effect == nil)
        #expect(books.verify() == [])
    }

    @Test func reversalAfterTheChangeWasSpentGivesThePayeeCoinsBack() {
        // Journals written before pending coins existed can hold this case: the change was spent, then the debit
        // that made it was reversed. Replaying them keeps working.
        var books = self.books()
        _ = books.handle(BankFixtures.walletDebit(txn: "V4", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address))
        _ = books.handle(BankFixtures.completion(["V4"]))
        _ = books.handle(BankFixtures.walletDebit(txn: "V5", amount: 1500, payer: alice.wallet.address, payee: merchant.wallet.address))
        #expect(books.owner(ofCoin: "V4.1") == nil)
        let valueBefore = books.value(ofWallet: alice.wallet.address)!
        let outcome = books.handle(BankFixtures.reversal(txn: "V4", amount: 1300))
        #expect(outcome.effect == .reversed(.init(transactionID: "V4", date: .init("0315")!, debit: .payeeCoins, credit: false)))
        #expect(books.value(ofWallet: alice.wallet.address) == valueBefore + 1300)
        #expect(books.owner(ofCoin: alice.coins[0].id) == alice.wallet.address)
        #expect(books.owner(ofCoin: "V4.0") == alice.wallet.address)
        #expect(books.owner(ofCoin: alice.coins[1].id) == nil)  // retired, stays retired
        #expect(books.verify() == [])
    }

    @Test func reversalOfACreditTakesTheCoinsBack() {
        var books = self.books()
        _ = books.handle(BankFixtures.credit(txn: "V6", amount: 700, coins: "RX-2:700", card: bob.card, flow: .redeem))
        let outcome = books.handle(BankFixtures.reversal(txn: "V6/C", amount: 700))
        #expect(outcome.effect == .reversed(.init(transactionID: "V6/C", date: .init("0315")!, debit: nil, credit: true)))
        #expect(books.balance(ofCard: bob.card) == 1_000_000)
        #expect(books.owner(ofCoin: "RX-2") == nil)
        #expect(books.valueReceived == 0)
        #expect(books.verify() == [])
        // The debit leg of V6 was never here: a reversal of it is 25.
        #expect(books.handle(BankFixtures.reversal(txn: "V6", amount: 700)).answer == .declined(.unknownTransaction))
    }

    @Test func reversalOfACreditWhoseCoinsMovedOnIsRefused() {
        var books = self.books()
        _ = books.handle(BankFixtures.credit(txn: "V7", amount: 1000, coins: "Z-1:1000", wallet: bob.wallet.address))
        // Before V7 completes, Bob cannot spend Z-1, and a reversal can always take it back.
        #expect(books.handle(BankFixtures.walletDebit(txn: "V8", amount: 4000, payer: bob.wallet.address, payee: merchant.wallet.address)).answer == .declined(.insufficientFunds))
        // Once completed (which the switch says only of approved transactions), Bob spends everything, Z-1 included.
        _ = books.handle(BankFixtures.completion(["V7"]))
        _ = books.handle(BankFixtures.walletDebit(txn: "V8b", amount: 4000, payer: bob.wallet.address, payee: merchant.wallet.address))
        let before = books
        #expect(books.handle(BankFixtures.reversal(txn: "V7/C", amount: 1000)).answer == .declined(.invalidTransaction))
        #expect(books == before)
        #expect(books.verify() == [])
    }

    @Test func bothLegsAtOneBankAreReversedSeparately() {
        // Alice pays Bob, both at this bank: the debit under T9, the credit under T9/C.
        var books = self.books()
        let seeded = books
        guard case .debited(let debit) = books.handle(BankFixtures.walletDebit(txn: "T9", amount: 1300, payer: alice.wallet.address, payee: bob.wallet.address)).answer else {
            Issue.record("debit declined")
            return
        }
        let payeeCoins = (debit.spent.filter { $0.role == .transferred } + debit.created.filter { $0.role == .payee }).map { "\($0.id):\($0.value)" }.joined(separator: ";")
        #expect(books.handle(BankFixtures.credit(txn: "T9", amount: 1300, coins: payeeCoins, wallet: bob.wallet.address)).answer.responseCode == .approved)
        #expect(books.coinValueHeld == seeded.coinValueHeld)
        #expect(books.verify() == [])
        #expect(books.handle(BankFixtures.reversal(txn: "T9/C", amount: 1300)).answer.responseCode == .approved)
        #expect(books.handle(BankFixtures.reversal(txn: "T9", amount: 1300)).answer.responseCode == .approved)
        #expect(Set(self.coinIDs(books, alice.wallet.address)) == Set(alice.coins.map(\.id)))
        #expect(Set(self.coinIDs(books, bob.wallet.address)) == Set(bob.coins.map(\.id)))
        #expect(books.coinValueHeld == seeded.coinValueHeld)
        #expect(books.verify() == [])
    }

    // MARK: Account opening

    @Test func accountOpeningCreatesAWalletForTheCustomer() throws {
        var books = self.books()
        let request = BankFixtures.openAccount(account: alice.account)
        let outcome = books.handle(request)
        guard case .opened(let opened) = outcome.answer else { Issue.record("expected an opening, got \(outcome.answer)"); return }
        #expect(opened.card == alice.card)
        #expect(Wallet.institution(ofAddress: opened.address) == books.institution)
        #expect(books.coins(ofWallet: opened.address) == [])
        #expect(books.publicKey(ofWallet: opened.address) == opened.publicKeyHex)
        let response = outcome.answer.response(to: request, institution: books.institution)
        #expect(response.mti == .authorizationResponse)
        #expect(response.responseCode == "00")
        #expect(response[102] == opened.address)
        #expect(BankFixtures.dcValue(response, "01") == opened.publicKeyHex)
        #expect(response[102].map { Wallet.address(publicKey: Array(hexBytes(opened.publicKeyHex)), institution: books.institution) == $0 } == true)
        _ = try BankFixtures.wire(response)

        // The same request again: the same wallet, not a second one.
        let again = books.handle(request)
        #expect(again.isRepeat)
        #expect(again.answer == outcome.answer)
        #expect(books.walletCount == self.seed.customers.count + self.seed.merchants.count + 2)

        // The new wallet takes part in payments.
        #expect(books.handle(BankFixtures.credit(txn: "O1", amount: 500, coins: "W-1:500", wallet: opened.address)).answer.responseCode == .approved)
        _ = books.handle(BankFixtures.completion(["O1"]))
        #expect(books.handle(BankFixtures.walletDebit(txn: "O2", amount: 200, payer: opened.address, payee: merchant.wallet.address)).answer.responseCode == .approved)
        #expect(books.verify() == [])
    }

    @Test func accountOpeningKeyedByTransactionIDWhenGiven() {
        var books = self.books()
        let first = books.handle(BankFixtures.openAccount(account: alice.account, stan: 1, txn: "A1"))
        let second = books.handle(BankFixtures.openAccount(account: alice.account, stan: 2, txn: "A1"))
        #expect(second.isRepeat)
        #expect(first.answer == second.answer)
        #expect(books.leg(.init(transactionID: "A1", kind: .openAccount)) != nil)
    }

    @Test func accountOpeningDeclines() {
        var books = self.books()
        #expect(books.handle(BankFixtures.openAccount(account: "999999999")).answer == .declined(.unknownAccount))
        var noAccount = BankFixtures.openAccount(account: alice.account, stan: 7)
        noAccount[48] = nil
        #expect(books.handle(noAccount).answer == .declined(.formatError))
        #expect(books.openedWallets.isEmpty)
    }

    // MARK: Reconciliation

    @Test func reconciliationAnswersTheTotalsOfTheDate() throws {
        var books = self.books()
        _ = books.handle(BankFixtures.walletDebit(txn: "S1", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address, date: "0315"))
        _ = books.handle(BankFixtures.walletDebit(txn: "S2", amount: 200, payer: bob.wallet.address, payee: merchant.wallet.address, date: "0315"))
        _ = books.handle(BankFixtures.credit(txn: "S3", amount: 500, coins: "Q-1:500", wallet: merchant.wallet.address, date: "0315"))
        _ = books.handle(BankFixtures.walletDebit(txn: "S4", amount: 100, payer: bob.wallet.address, payee: merchant.wallet.address, date: "0316"))
        _ = books.handle(BankFixtures.reversal(txn: "S2", amount: 200, date: "0315"))
        _ = books.handle(BankFixtures.reversal(txn: "S3/C", amount: 500, date: "0315"))

        let request = BankFixtures.reconciliation(date: "0315")
        let outcome = books.handle(request)
        var expected = BankBooks.Totals()
        expected.debits = 2
        expected.debitAmount = 1500
        expected.credits = 1
        expected.creditAmount = 500
        expected.debitReversals = 1
        expected.debitReversalAmount = 200
        expected.creditReversals = 1
        expected.creditReversalAmount = 500
        #expect(outcome.answer == .reconciled(date: .init("0315")!, totals: expected, settlementCode: 1))
        #expect(expected.net == -1300)

        let response = outcome.answer.response(to: request, institution: books.institution)
        #expect(response.mti == .reconciliationResponse)
        #expect(response[15] == "0315")
        #expect(response[66] == "1")
        #expect(response[74] == "0000000001")
        #expect(response[75] == "0000000001")
        #expect(response[76] == "0000000002")
        #expect(response[77] == "0000000001")
        #expect(response[86] == "0000000000000500")
        #expect(response[87] == "0000000000000500")
        #expect(response[88] == "0000000000001500")
        #expect(response[89] == "0000000000000200")
        #expect(response[97] == "D0000000000001300")
        #expect(response[99] == BankFixtures.switchInstitution)
        _ = try BankFixtures.wire(response)

        #expect(books.totals(for: .init("0316")!).debits == 1)
        if case .reconciled(_, let totals, _) = books.handle(BankFixtures.reconciliation(date: "0101")).answer {
            #expect(totals == BankBooks.Totals())
        } else {
            Issue.record("expected totals")
        }
    }

    @Test func reconciliationComparesTheTotalsTheRequestCarries() {
        var books = self.books()
        _ = books.handle(BankFixtures.walletDebit(txn: "S5", amount: 1300, payer: alice.wallet.address, payee: merchant.wallet.address))
        var agreeing = BankFixtures.reconciliation(date: "0315")
        agreeing[76] = "0000000001"
        agreeing[88] = "0000000000001300"
        agreeing[97] = "D0000000000001300"
        #expect(books.handle(agreeing).answer == .reconciled(date: .init("0315")!, totals: books.totals(for: .init("0315")!), settlementCode: 1))
        var disagreeing = agreeing
        disagreeing[76] = "0000000002"
        guard case .reconciled(_, _, let code) = books.handle(disagreeing).answer else { Issue.record("expected totals"); return }
        #expect(code == 2)
        var noDate = BankFixtures.reconciliation(date: "0315")
        noDate[15] = nil
        #expect(books.handle(noDate).answer == .declined(.formatError))
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = hex.utf8.makeIterator()
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
    while let hi = iterator.next(), let lo = iterator.next() {
        bytes.append(nibble(hi) << 4 | nibble(lo))
    }
    return bytes
}

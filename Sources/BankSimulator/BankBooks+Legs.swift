import DigitalCurrency
import ISO8583
import ISO8583Network

#if canImport(Crypto)
import Crypto
#endif

extension BankBooks {
    /// A leg the books decline, with its DE 39.
    struct Decline: Error {
        var code: BankResponseCode
        init(_ code: BankResponseCode) { self.code = code }
    }

    /// Decides what `request` does, applies it, and returns the answer and the effect to journal.
    ///
    /// - Parameters:
    ///   - request: a message from the switch (0100 account opening, 0200 debit or credit leg, 0420/0421 reversal,
    ///     0500 reconciliation; see `Specs/FLOWS.md`).
    ///   - newWallet: the wallet an account opening creates; generated here when `nil` (callers that hold a lock
    ///     around the books generate it before taking the lock).
    ///   - now: wall-clock time, nanoseconds since the epoch: the settlement date of a leg without DE 15, 13 or 7.
    public mutating func handle(_ request: ISO8583Message, newWallet: Wallet? = nil, now: Int64 = UTCClock.nowNanoseconds()) -> Outcome {
        guard let leg = BankLeg(request: request) else {
            return Outcome(answer: .declined(.invalidTransaction), effect: nil, isRepeat: false)
        }
        guard let dcData = TaggedElements.parse(request, field: 124, lengthDigits: 3) else {
            return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
        }
        switch leg {
        case .openAccount:
            return self.openAccount(request, dcData: dcData, newWallet: newWallet, now: now)
        case .debit:
            return self.execute(request, dcData: dcData, kind: .debit, now: now)
        case .credit:
            return self.execute(request, dcData: dcData, kind: .credit, now: now)
        case .reversal:
            return self.reverse(request, dcData: dcData, now: now)
        case .reconciliation:
            return self.reconcile(request)
        case .completion:
            return self.complete(dcData)
        }
    }

    // MARK: Completion

    /// DE 124.15 lists transactions the switch completed: their owner-change records are durable in the registration
    /// center, so the coins they brought in (change, credited coins) become spendable, and their legs are settled
    /// (see ``LegRecord/settled``). Transactions this bank has no executed leg of (unknown, reversed, completed before)
    /// are skipped; nothing to do is a repeat.
    private mutating func complete(_ dcData: TaggedElements) -> Outcome {
        guard let list = dcData[15], !list.isEmpty else {
            return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
        }
        var releasing: [String] = []
        for id in list.split(separator: ";", omittingEmptySubsequences: false) {
            guard Self.isValidIdentifier(id) else {
                return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
            }
            let txn = String(id)
            if self.completionChangesSomething(txn) { releasing.append(txn) }
        }
        guard !releasing.isEmpty else { return Outcome(answer: .acknowledged, effect: nil, isRepeat: true) }
        let effect = Effect.completed(releasing)
        let applied = self.apply(effect)
        assert(applied, "a completion always applies")
        return Outcome(answer: .acknowledged, effect: effect, isRepeat: false)
    }

    /// Whether completing `txn` does anything: it has coins still pending, or executed legs that are neither settled
    /// nor already counted among the completed transactions kept in full.
    private func completionChangesSomething(_ txn: String) -> Bool {
        if self.pendingCoins(ofTransaction: txn) > 0 { return true }
        let alreadyCompleted = self.completedKeptIDs.contains(txn)
        return !alreadyCompleted && self.hasUnsettledLegs(ofTransaction: txn)
    }

    // MARK: Account opening

    private mutating func openAccount(_ request: ISO8583Message, dcData: TaggedElements, newWallet: Wallet?, now: Int64) -> Outcome {
        guard let keyText = Self.openingKey(request, dcData: dcData) else {
            return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
        }
        let key = LegKey(transactionID: keyText, kind: .openAccount)
        if let record = self.legs[key] { return Self.repeated(record) }
        let date = Self.settlementDate(of: request, now: now)
        let effect: Effect
        do throws(Decline) {
            guard let customer = TaggedElements.parse(request, field: 48, lengthDigits: 2), let accountNumber = customer[3], !accountNumber.isEmpty else {
                throw Decline(.formatError)
            }
            guard let card = self.cardsByAccountNumber[accountNumber] else { throw Decline(.unknownAccount) }
            let wallet = newWallet ?? Wallet.random(institution: self.institution)
            guard self.wallets[wallet.address] == nil else { throw Decline(.systemMalfunction) }
            effect = .opened(
                OpenedWallet(
                    key: keyText, card: card, address: wallet.address, publicKeyHex: wallet.publicKeyHex,
                    privateKeyHex: Self.hex(wallet.privateKey.rawRepresentation), date: date
                )
            )
        } catch {
            effect = .declined(key, error.code)
        }
        return self.commit(effect)
    }

    /// DE 124.05 when present, else `K<DE 32>-<DE 11>-<DE 37>-<DE 7>`.
    static func openingKey(_ request: ISO8583Message, dcData: TaggedElements) -> String? {
        if let id = dcData[5] {
            return Self.isValidIdentifier(id) ? id : nil
        }
        guard let stan = request.stan, let rrn = request.rrn, let sent = request.transmissionDateTime else { return nil }
        let key = "K\(request.acquirerID ?? "")-\(stan)-\(rrn)-\(sent)"
        return Self.isValidIdentifier(key) ? key : nil
    }

    // MARK: Debit and credit legs

    private mutating func execute(_ request: ISO8583Message, dcData: TaggedElements, kind: LegKey.Kind, now: Int64) -> Outcome {
        guard let txn = dcData[5], Self.isValidIdentifier(txn) else {
            return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
        }
        let key = LegKey(transactionID: txn, kind: kind)
        if let record = self.legs[key] { return Self.repeated(record) }
        let date = Self.settlementDate(of: request, now: now)
        let effect: Effect
        do throws(Decline) {
            if kind == .debit {
                effect = .debited(try self.decideDebit(request, dcData: dcData, transactionID: txn, date: date))
            } else {
                effect = .credited(try self.decideCredit(request, dcData: dcData, transactionID: txn, date: date))
            }
        } catch {
            effect = .declined(key, error.code)
        }
        return self.commit(effect)
    }

    private func decideDebit(_ request: ISO8583Message, dcData: TaggedElements, transactionID txn: String, date: SettlementDate) throws(Decline) -> DebitRecord {
        guard let amount = request.amount, amount > 0 else { throw Decline(.formatError) }
        let source: DebitRecord.Source
        let payingWallet: String
        if Self.accountType(request.processingCode, from: true, request: request, walletField: 102, qr: dcData[7]) == .account {
            guard let card = request.pan else { throw Decline(.formatError) }
            guard let account = self.accounts[card] else { throw Decline(.unknownAccount) }
            guard account.balance >= amount else { throw Decline(.insufficientFunds) }
            source = .account(card: card)
            payingWallet = self.treasuryAddress
        } else {
            guard let payer = request.payerWallet ?? Self.qrWallet(dcData[7], kind: "B") else { throw Decline(.formatError) }
            guard self.wallets[payer] != nil else { throw Decline(.unknownAccount) }
            guard payer != self.treasuryAddress else { throw Decline(.notPermitted) }
            if let payee = request.payeeWallet ?? Self.qrWallet(dcData[7], kind: "C"), payee == payer {
                throw Decline(.notPermitted)
            }
            source = .wallet
            payingWallet = payer
        }
        guard let holdings = self.wallets[payingWallet]?.holdings, let oldestFirst = holdings.select(covering: amount) else {
            // A treasury that cannot pay a transfer-in is the bank's failure, not the customer's.
            throw Decline(source == .wallet ? .insufficientFunds : .systemMalfunction)
        }
        var (spent, created) = Self.spend(oldestFirst, amount: amount, transactionID: txn)
        // Coins are spent oldest first, unless that lists more than DE 124.03 holds: then the largest first.
        if Self.listLength(spent) > 999, let fewest = holdings.selectFewest(covering: amount), fewest.count < oldestFirst.count {
            (spent, created) = Self.spend(fewest, amount: amount, transactionID: txn)
        }
        for item in created where self.coinOwners[item.id] != nil {
            throw Decline(.systemMalfunction)
        }
        guard Self.listLength(spent) <= 999 else { throw Decline(.exceedsLimit) }
        return DebitRecord(
            transactionID: txn, date: date, amount: amount, source: source, payingWallet: payingWallet, spent: spent, created: created
        )
    }

    /// What spending `picked` for `amount` does: every coin moves whole to the payee, except that a last coin worth
    /// more than what is left to pay is retired, and a coin for the payee and one of change are created from it.
    private static func spend(_ picked: [(id: String, value: Int64)], amount: Int64, transactionID txn: String) -> (spent: [CoinItem], created: [CoinItem]) {
        var spent: [CoinItem] = []
        var created: [CoinItem] = []
        spent.reserveCapacity(picked.count)
        var sum: Int64 = 0
        for (i, coin) in picked.enumerated() {
            if i == picked.count - 1, sum + coin.value > amount {
                let toPayee = amount - sum
                spent.append(CoinItem(id: coin.id, value: coin.value, role: .retired))
                created.append(CoinItem(id: Self.newCoinID(transactionID: txn, index: 0), value: toPayee, role: .payee))
                created.append(CoinItem(id: Self.newCoinID(transactionID: txn, index: 1), value: coin.value - toPayee, role: .change))
            } else {
                spent.append(CoinItem(id: coin.id, value: coin.value, role: .transferred))
            }
            sum += coin.value
        }
        return (spent, created)
    }

    private func decideCredit(_ request: ISO8583Message, dcData: TaggedElements, transactionID txn: String, date: SettlementDate) throws(Decline) -> CreditRecord {
        guard let amount = request.amount, amount > 0 else { throw Decline(.formatError) }
        guard let listed = dcData[3], let coins = Self.parseCoinList(listed) else { throw Decline(.formatError) }
        guard coins.reduce(0, { $0 + $1.value }) == amount else { throw Decline(.formatError) }
        let target: CreditRecord.Target
        let holdingWallet: String
        if Self.accountType(request.processingCode, from: false, request: request, walletField: 103, qr: dcData[7]) == .account {
            guard let card = request.pan else { throw Decline(.formatError) }
            guard self.accounts[card] != nil else { throw Decline(.unknownAccount) }
            target = .account(card: card)
            holdingWallet = self.treasuryAddress
        } else {
            guard let payee = request.payeeWallet ?? Self.qrWallet(dcData[7], kind: "C") else { throw Decline(.formatError) }
            guard self.wallets[payee] != nil else { throw Decline(.unknownAccount) }
            guard payee != self.treasuryAddress else { throw Decline(.notPermitted) }
            target = .wallet
            holdingWallet = payee
        }
        // A coin the bank already holds cannot be given to it again.
        for coin in coins where self.coinOwners[coin.id] != nil {
            throw Decline(.formatError)
        }
        return CreditRecord(transactionID: txn, date: date, amount: amount, target: target, holdingWallet: holdingWallet, coins: coins)
    }

    enum AccountType { case account, wallet }

    /// Whether the leg's from-account (`from`) or to-account is a bank account or a wallet: DE 3 positions 3–4 or
    /// 5–6 (`10` account, `90` wallet), else whichever of the wallet field and DE 2 is present.
    static func accountType(_ processingCode: String?, from: Bool, request: ISO8583Message, walletField: Int, qr: String?) -> AccountType {
        if let code = processingCode, code.utf8.count == 6 {
            let utf8 = Array(code.utf8)
            let type = from ? (utf8[2], utf8[3]) : (utf8[4], utf8[5])
            if type == (49, 48) { return .account }  // "10"
            if type == (57, 48) { return .wallet }  // "90"
        }
        if request.contains(walletField) || qr != nil { return .wallet }
        return request.contains(2) ? .account : .wallet
    }

    /// The wallet in a QR payload: `DCQR1:B:<payer wallet>:<nonce>` (`kind` B) or `DCQR1:C:<merchant wallet>` (C).
    static func qrWallet(_ payload: String?, kind: Character) -> String? {
        guard let payload else { return nil }
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "DCQR1", parts[1].count == 1, parts[1].first == kind, !parts[2].isEmpty else { return nil }
        return String(parts[2])
    }

    /// `ID:VALUE` items (a third `:ROLE` part is accepted and ignored), `;`-separated; `nil` when malformed or when an
    /// id repeats.
    static func parseCoinList(_ text: String) -> [CoinItem]? {
        var items: [CoinItem] = []
        var seen: Set<Substring> = []
        for item in text.split(separator: ";", omittingEmptySubsequences: false) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, Self.isValidIdentifier(parts[0]), seen.insert(parts[0]).inserted,
                let value = Int64(parts[1]), value > 0
            else { return nil }
            items.append(CoinItem(id: String(parts[0]), value: value, role: .owned))
        }
        return items.isEmpty ? nil : items
    }

    /// `<transaction id>.<index>`: unique across the network because transaction ids are (and hold no `.`), distinct
    /// from seeded coins (`C…`), and kept in the journal with the leg, so a replay finds the same ids. The switch's
    /// 13-character transaction ids make 15-character coin ids: Swift small strings, no heap allocation for each of
    /// the coins every bank and the generator keep.
    static func newCoinID(transactionID: String, index: Int) -> String {
        transactionID + "." + String(index)
    }

    static func listLength(_ items: [CoinItem]) -> Int {
        items.reduce(max(items.count - 1, 0)) { $0 + $1.id.utf8.count + String($1.value).utf8.count + ($1.role == .owned ? 1 : 3) }
    }

    // MARK: Reversal

    private mutating func reverse(_ request: ISO8583Message, dcData: TaggedElements, now: Int64) -> Outcome {
        guard let txn = dcData[5], Self.isValidIdentifier(txn) else {
            return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
        }
        var debit: DebitRecord?
        var credit: CreditRecord?
        switch self.legs[LegKey(transactionID: txn, kind: .debit)] {
        case .debited(let record): debit = record
        case .settled: return Outcome(answer: .declined(.invalidTransaction), effect: nil, isRepeat: false)
        default: break
        }
        switch self.legs[LegKey(transactionID: txn, kind: .credit)] {
        case .credited(let record): credit = record
        case .settled: return Outcome(answer: .declined(.invalidTransaction), effect: nil, isRepeat: false)
        default: break
        }
        guard debit != nil || credit != nil else {
            return Outcome(answer: .declined(.unknownTransaction), effect: nil, isRepeat: false)
        }
        let undoCredit = credit.map { !$0.reversed } ?? false
        let undoDebit = debit.map { $0.reversal == nil } ?? false
        guard undoCredit || undoDebit else {
            return Outcome(answer: .reversed(transactionID: txn), effect: nil, isRepeat: true)
        }
        // The coins the credit undo takes away; they are no longer held for the debit undo's checks.
        var takenBack: Set<String> = []
        if undoCredit, let credit {
            guard self.holds(credit.coins, in: credit.holdingWallet) else {
                return Outcome(answer: .declined(.invalidTransaction), effect: nil, isRepeat: false)
            }
            takenBack = Set(credit.coins.map(\.id))
        }
        var mode: DebitRecord.Reversal?
        if undoDebit, let debit {
            guard !debit.spent.contains(where: { $0.role == .transferred && self.isHeld($0.id, except: takenBack) }) else {
                return Outcome(answer: .declined(.invalidTransaction), effect: nil, isRepeat: false)
            }
            let changeStillHeld = debit.created.allSatisfy { item in
                item.role != .change || (self.coinOwners[item.id] == debit.payingWallet && !takenBack.contains(item.id))
            }
            if changeStillHeld {
                mode = .exact
            } else {
                guard !debit.created.contains(where: { $0.role == .payee && self.isHeld($0.id, except: takenBack) }) else {
                    return Outcome(answer: .declined(.invalidTransaction), effect: nil, isRepeat: false)
                }
                mode = .payeeCoins
            }
        }
        let date = Self.settlementDate(of: request, now: now)
        return self.commit(.reversed(ReversalRecord(transactionID: txn, date: date, debit: mode, credit: undoCredit)))
    }

    // MARK: Reconciliation

    private func reconcile(_ request: ISO8583Message) -> Outcome {
        guard let dateText = request[15], let date = SettlementDate(dateText) else {
            return Outcome(answer: .declined(.formatError), effect: nil, isRepeat: false)
        }
        let totals = self.totals(for: date)
        var inBalance = true
        for (field, value) in Self.reconciliationFields(totals) {
            if let theirs = request.numericValue(field), theirs != value { inBalance = false }
        }
        if let net = request[97], net != Self.signedAmount(totals.net) { inBalance = false }
        return Outcome(answer: .reconciled(date: date, totals: totals, settlementCode: inBalance ? 1 : 2), effect: nil, isRepeat: false)
    }

    /// The totals by field (`Specs/FLOWS.md`, as ISO 8583:1987 defines them): DE 74 credits, 75 credit reversals,
    /// 76 debits, 77 debit reversals (counts, n 10); DE 86, 87, 88, 89 the same amounts (n 16).
    static func reconciliationFields(_ totals: Totals) -> [(field: Int, value: Int64)] {
        [
            (74, totals.credits), (75, totals.creditReversals), (76, totals.debits), (77, totals.debitReversals),
            (86, totals.creditAmount), (87, totals.creditReversalAmount), (88, totals.debitAmount), (89, totals.debitReversalAmount),
        ]
    }

    /// DE 97: `C` or `D` and 16 digits.
    static func signedAmount(_ value: Int64) -> String {
        (value < 0 ? "D" : "C") + ISO8583LinkCodec.digits(Int(value.magnitude), width: 16)
    }

    // MARK: Helpers

    private mutating func commit(_ effect: Effect) -> Outcome {
        let applied = self.apply(effect)
        assert(applied, "an effect decided on these books must apply to them")
        let answer: Answer
        switch effect {
        case .opened(let opened): answer = .opened(opened)
        case .debited(let record): answer = .debited(record)
        case .credited(let record): answer = .credited(record)
        case .declined(_, let code): answer = .declined(code)
        case .reversed(let record): answer = .reversed(transactionID: record.transactionID)
        case .completed: answer = .acknowledged
        }
        return Outcome(answer: answer, effect: effect, isRepeat: false)
    }

    static func repeated(_ record: LegRecord) -> Outcome {
        let answer: Answer
        switch record {
        case .opened(let opened): answer = .opened(opened)
        case .debited(let debit): answer = .debited(debit)
        case .credited(let credit): answer = .credited(credit)
        case .declined(let code): answer = .declined(code)
        case .settled: answer = .declined(.duplicate)
        }
        return Outcome(answer: answer, effect: nil, isRepeat: true)
    }

    /// DE 15, else DE 13, else the date of DE 7, else today (UTC).
    static func settlementDate(of request: ISO8583Message, now: Int64) -> SettlementDate {
        if let text = request[15], let date = SettlementDate(text) { return date }
        if let text = request[13], let date = SettlementDate(text) { return date }
        if let text = request[7], text.utf8.count == 10, let date = SettlementDate(text.prefix(4)) { return date }
        let parts = UTCClock.calendarParts(nanosecondsSinceEpoch: now)
        return SettlementDate(month: parts.month, day: parts.day)!
    }

    /// 1–128 characters of `0-9 A-Z a-z . _ - /`: transaction ids (a credit leg's is `<txn>/C`) and coin ids. Never
    /// `|`, `;` or `:`, which separate journal fields and coin list items.
    static func isValidIdentifier(_ text: some StringProtocol) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95 || b == 47
        }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

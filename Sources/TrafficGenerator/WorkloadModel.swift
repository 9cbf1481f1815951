import DigitalCurrency

/// What the generator believes every party holds, so that it asks only for money that is there.
///
/// The model is built from the network's seed data: every customer's card, account balance and wallet (with its
/// key, so the generator can sign as the payer), every merchant's terminal and wallet, and each bank's treasury.
/// Planning a transaction reserves the payer's funds (``plan(_:random:)``); its outcome settles the reservation
/// (``settle(_:outcome:)``): an approval credits the payee, a decline gives the reservation back, and an unknown
/// outcome (a timeout, a dropped connection) keeps it, since the switch may have executed the transaction: the
/// model may then under-estimate what a payer holds, never over-estimate it.
///
/// Money circulates: customers pay merchants, merchants redeem their takings into bank accounts (their coins go
/// to the bank's treasury), and transfer-in turns account money back into coins from the treasury. When a flow
/// cannot be funded (no payer found with enough money in a few tries) the model plans another flow instead and
/// counts the substitution.
///
/// One model per shard: shards own disjoint customers and merchants, so no state is shared between threads.
public struct WorkloadModel: Sendable {
    /// Amounts and deliberate misbehaviour.
    public struct Options: Hashable, Sendable {
        /// Amounts of payments (nfc, qr-bsc, qr-csb, in-app), minor units.
        public var paymentAmount: ClosedRange<Int64>
        /// Amounts of exchanges (transfer-in, and redeem from a customer's wallet), minor units.
        public var exchangeAmount: ClosedRange<Int64>
        /// The most a merchant redeems at once, minor units (a merchant redeems its whole balance up to this).
        public var merchantRedeemLimit: Int64
        /// Pick payers at random and do not check what they hold: the switch declines (51) what is not there.
        public var allowDeclines: Bool
        /// How many random payers to try before giving up on a flow.
        public var attempts: Int
        /// How long after a transaction's answer the coins it brought in stay on hold, nanoseconds. A bank keeps
        /// change and received coins pending until the switch's completion advice arrives (a few milliseconds after
        /// the approval); the model neither spends received money nor pays again from a wallet sooner than this.
        public var holdNanoseconds: UInt64

        /// Creates options; the defaults make 1.00–50.00 payments and 10.00–500.00 exchanges.
        public init(
            paymentAmount: ClosedRange<Int64> = 100...5_000,
            exchangeAmount: ClosedRange<Int64> = 1_000...50_000,
            merchantRedeemLimit: Int64 = 500_000,
            allowDeclines: Bool = false,
            attempts: Int = 8,
            holdNanoseconds: UInt64 = 100_000_000
        ) {
            self.paymentAmount = paymentAmount
            self.exchangeAmount = exchangeAmount
            self.merchantRedeemLimit = merchantRedeemLimit
            self.allowDeclines = allowDeclines
            self.attempts = attempts
            self.holdNanoseconds = holdNanoseconds
        }
    }

    /// A customer: card, account and (when seeded) a wallet with its key.
    public struct Customer: Sendable {
        public var bank: Int
        public var name: String
        public var card: String
        public var account: String
        /// The customer's seeded wallet (an index into the model's wallets).
        public var wallet: Int
        /// What the account holds and is not reserved, minor units.
        public var accountAvailable: Int64
    }

    /// A merchant: terminal, merchant id and wallet.
    public struct Merchant: Sendable {
        public var bank: Int
        public var terminalID: String
        public var merchantID: String
        public var wallet: Int
    }

    /// A wallet the generator knows: a seeded one (with its key) or one opened during the run (address only).
    public struct WalletState: Sendable {
        public var bank: Int
        public var address: String
        /// What the wallet holds and is not reserved, minor units.
        public var available: Int64
        /// The key, for wallets the generator can pay from.
        public var signer: Wallet?
        /// Index into the model's customers or merchants that own this wallet (-1 for opened wallets).
        public var owner: Int
        public var isMerchant: Bool
        /// The offline counter the wallet reports on NFC payments (DE 124.08); increases with each one.
        public var offlineCounter: UInt32
        /// The wallet does not pay before this time (``WorkloadModel/clock``): it has a payment in flight
        /// (`UInt64.max`), or its last one's change may still be pending at the bank.
        public var busyUntil: UInt64 = 0
        /// Money received and still on hold at the bank, minor units; it joins ``available`` at ``incomingReady``.
        public var incoming: Int64 = 0
        public var incomingReady: UInt64 = 0

        /// What the wallet holds and is not reserved, on hold included.
        public var balance: Int64 { self.available + self.incoming }
    }

    /// What became of a transaction.
    public enum Outcome: Hashable, Sendable {
        /// DE 39 = 00. `newWallet` is DE 102 of an approved account opening.
        case approved(newWallet: String?)
        /// Answered, not approved: nothing moved.
        case declined
        /// No answer (timeout, connection lost): the transaction may or may not have happened.
        case unknown
    }

    public let options: Options
    /// The institution code of each bank, in the network's order.
    public let institutions: [String]
    public private(set) var customers: [Customer] = []
    public private(set) var merchants: [Merchant] = []
    public private(set) var wallets: [WalletState] = []
    /// Each bank's treasury, what it holds and is not reserved (minor units).
    public private(set) var treasuryAvailable: [Int64]
    /// Wallets opened during the run (indexes into ``wallets``): they receive transfer-ins.
    public private(set) var openedWallets: [Int] = []
    /// Per flow, how many times it was asked for but another flow was planned instead (no funds).
    public private(set) var substitutions: [Flow: Int] = [:]
    /// Minor units reserved by transactions whose outcome is unknown (timeouts): possibly spent.
    public private(set) var uncertain: Int64 = 0
    /// The time now, nanoseconds on any monotonic clock (the generator sets it before planning and settling): holds
    /// end by it.
    public var clock: UInt64 = 0

    private var bankIndex: [String: Int]

    /// A model of the shard `shard` of `shards`: every `shards`-th customer and merchant of the network, counted
    /// across banks in the network's order.
    public init(seeds: [SeedData], options: Options = .init(), shard: Int = 0, of shards: Int = 1) {
        precondition(shards >= 1 && shard >= 0 && shard < shards, "shard in 0..<shards")
        self.options = options
        self.institutions = seeds.map(\.bank.institution)
        self.treasuryAvailable = seeds.map { seed in
            // Shards share each treasury: each may spend its share.
            seed.treasuryCoins.reduce(0) { $0 + $1.value } / Int64(shards)
        }
        self.bankIndex = Dictionary(uniqueKeysWithValues: seeds.enumerated().map { ($1.bank.institution, $0) })
        var ordinal = 0
        for (b, seed) in seeds.enumerated() {
            for customer in seed.customers {
                defer { ordinal += 1 }
                guard ordinal % shards == shard else { continue }
                let wallet = self.wallets.count
                self.wallets.append(WalletState(
                    bank: b, address: customer.wallet.address, available: customer.coins.reduce(0) { $0 + $1.value },
                    signer: customer.wallet, owner: self.customers.count, isMerchant: false, offlineCounter: 0
                ))
                self.customers.append(Customer(
                    bank: b, name: customer.name, card: customer.card, account: customer.account, wallet: wallet,
                    accountAvailable: customer.accountBalance
                ))
            }
        }
        ordinal = 0
        for (b, seed) in seeds.enumerated() {
            for merchant in seed.merchants {
                defer { ordinal += 1 }
                guard ordinal % shards == shard else { continue }
                let wallet = self.wallets.count
                self.wallets.append(WalletState(
                    bank: b, address: merchant.wallet.address, available: 0, signer: merchant.wallet,
                    owner: self.merchants.count, isMerchant: true, offlineCounter: 0
                ))
                self.merchants.append(Merchant(bank: b, terminalID: merchant.terminalID, merchantID: merchant.merchantID, wallet: wallet))
            }
        }
    }

    /// The bank (index into ``institutions``) of an institution code.
    public func bank(ofInstitution code: String) -> Int? {
        self.bankIndex[code]
    }

    /// Sum of what the model believes is available in wallets (customers, merchants, opened), minor units.
    public var walletTotal: Int64 { self.wallets.reduce(0) { $0 + $1.balance } }

    /// What `wallet` may pay now: `nil` while it is busy (see ``WalletState/busyUntil``); money whose hold has
    /// ended joins what is available.
    mutating func spendable(_ wallet: Int) -> Int64? {
        if self.options.allowDeclines { return self.wallets[wallet].balance }
        guard self.clock >= self.wallets[wallet].busyUntil else { return nil }
        self.releaseIncoming(wallet)
        return self.wallets[wallet].available
    }

    /// Moves money whose hold has ended into what `wallet` has available.
    private mutating func releaseIncoming(_ wallet: Int) {
        guard self.wallets[wallet].incoming > 0, self.clock >= self.wallets[wallet].incomingReady else { return }
        self.wallets[wallet].available += self.wallets[wallet].incoming
        self.wallets[wallet].incoming = 0
    }

    /// Reserves `amount` of `wallet` for a payment now in flight.
    mutating func reserve(_ wallet: Int, _ amount: Int64) {
        self.wallets[wallet].available -= amount
        self.wallets[wallet].busyUntil = .max
    }

    /// Money received by `wallet`: on hold until the bank has it released.
    mutating func receive(_ wallet: Int, _ amount: Int64) {
        self.releaseIncoming(wallet)
        self.wallets[wallet].incoming += amount
        self.wallets[wallet].incomingReady = self.clock &+ self.options.holdNanoseconds
    }

    // MARK: Planning

    /// Plans a transaction of `flow`, or of another flow when `flow` cannot be funded, and reserves its funds.
    public mutating func plan(_ flow: Flow, random: inout LoadRandom) -> PlannedTransaction {
        if let plan = self.tryPlan(flow, random: &random) { return plan }
        self.substitutions[flow, default: 0] += 1
        for fallback in Self.fallbacks(of: flow) {
            if let plan = self.tryPlan(fallback, random: &random) { return plan }
        }
        // Nothing can be funded: open a wallet, which costs nothing.
        return self.tryPlan(.accountOpen, random: &random)!
    }

    /// What to plan instead of a flow that cannot be funded: exchanges refill what payments drain and back.
    static func fallbacks(of flow: Flow) -> [Flow] {
        switch flow {
        case .transferIn: return [.redeem, .nfc, .inApp]
        case .redeem: return [.transferIn, .nfc]
        case .nfc, .qrBSC, .qrCSB, .inApp: return [.transferIn, .redeem]
        case .accountOpen: return []
        }
    }

    /// Plans exactly `flow`, or returns `nil` when no funded payer turns up.
    public mutating func tryPlan(_ flow: Flow, random: inout LoadRandom) -> PlannedTransaction? {
        guard !self.customers.isEmpty else { return nil }
        switch flow {
        case .accountOpen:
            let c = random.below(self.customers.count)
            return PlannedTransaction(flow: flow, amount: 0, customer: c, bank: self.customers[c].bank)

        case .transferIn:
            for _ in 0..<self.options.attempts {
                let amount = random.inRange(self.options.exchangeAmount)
                let c = random.below(self.customers.count)
                let bank = self.customers[c].bank
                let payee = self.transferInPayee(random: &random)
                if self.options.allowDeclines {
                    return PlannedTransaction(flow: flow, amount: amount, customer: c, payeeWallet: payee, bank: bank, reserved: false)
                }
                guard self.customers[c].accountAvailable >= amount, self.treasuryAvailable[bank] >= amount else { continue }
                self.customers[c].accountAvailable -= amount
                self.treasuryAvailable[bank] -= amount
                return PlannedTransaction(flow: flow, amount: amount, customer: c, payeeWallet: payee, bank: bank, reserved: true)
            }
            return nil

        case .redeem:
            for attempt in 0..<self.options.attempts {
                // Merchants redeem their takings into a customer's account (often at another bank: half the
                // tries), customers a part of their wallet into their own account.
                let payer: Int
                let c: Int
                var amount: Int64
                if attempt % 2 == 0, !self.merchants.isEmpty {
                    payer = self.merchants[random.below(self.merchants.count)].wallet
                    c = random.below(self.customers.count)
                    guard let spendable = self.spendable(payer) else { continue }
                    amount = min(spendable, self.options.merchantRedeemLimit)
                    if amount < self.options.exchangeAmount.lowerBound, !self.options.allowDeclines { continue }
                } else {
                    c = random.below(self.customers.count)
                    payer = self.customers[c].wallet
                    amount = random.inRange(self.options.exchangeAmount)
                }
                if self.options.allowDeclines {
                    amount = max(amount, self.options.exchangeAmount.lowerBound)
                    return PlannedTransaction(flow: flow, amount: amount, customer: c, payerWallet: payer, bank: self.wallets[payer].bank, reserved: false)
                }
                guard let spendable = self.spendable(payer), spendable >= amount else { continue }
                self.reserve(payer, amount)
                return PlannedTransaction(flow: flow, amount: amount, customer: c, payerWallet: payer, bank: self.wallets[payer].bank, reserved: true)
            }
            return nil

        case .nfc, .qrBSC, .qrCSB, .inApp:
            guard !self.merchants.isEmpty else { return nil }
            for _ in 0..<self.options.attempts {
                let amount = random.inRange(self.options.paymentAmount)
                let payer = self.customers[random.below(self.customers.count)].wallet
                let m = random.below(self.merchants.count)
                let payee = self.merchants[m].wallet
                if self.options.allowDeclines {
                    return PlannedTransaction(flow: flow, amount: amount, payerWallet: payer, payeeWallet: payee, merchant: m, bank: self.wallets[payer].bank, reserved: false)
                }
                guard let spendable = self.spendable(payer), spendable >= amount else { continue }
                self.reserve(payer, amount)
                return PlannedTransaction(flow: flow, amount: amount, payerWallet: payer, payeeWallet: payee, merchant: m, bank: self.wallets[payer].bank, reserved: true)
            }
            return nil
        }
    }

    /// Plans a payment of `flow` from `payer` for `amount` (a precomputed authorization's), to a random merchant,
    /// and reserves the amount; `nil` when the wallet does not hold it.
    public mutating func planPayment(_ flow: Flow, payer: Int, amount: Int64, random: inout LoadRandom) -> PlannedTransaction? {
        guard !self.merchants.isEmpty else { return nil }
        let m = random.below(self.merchants.count)
        let payee = self.merchants[m].wallet
        if self.options.allowDeclines {
            return PlannedTransaction(flow: flow, amount: amount, payerWallet: payer, payeeWallet: payee, merchant: m, bank: self.wallets[payer].bank, reserved: false)
        }
        guard let spendable = self.spendable(payer), spendable >= amount else { return nil }
        self.reserve(payer, amount)
        return PlannedTransaction(flow: flow, amount: amount, payerWallet: payer, payeeWallet: payee, merchant: m, bank: self.wallets[payer].bank, reserved: true)
    }

    /// Whether `payer` may pay `amount` now (always, when declines are allowed).
    public func canPay(_ payer: Int, _ amount: Int64) -> Bool {
        if self.options.allowDeclines { return true }
        let wallet = self.wallets[payer]
        guard self.clock >= wallet.busyUntil else { return false }
        return wallet.available + (self.clock >= wallet.incomingReady ? wallet.incoming : 0) >= amount
    }

    private func transferInPayee(random: inout LoadRandom) -> Int {
        if !self.openedWallets.isEmpty, random.below(4) == 0 {
            return self.openedWallets[random.below(self.openedWallets.count)]
        }
        return self.customers[random.below(self.customers.count)].wallet
    }

    /// The next offline counter of `wallet` (DE 124.08 of an NFC payment).
    public mutating func nextOfflineCounter(wallet: Int) -> UInt32 {
        self.wallets[wallet].offlineCounter &+= 1
        return self.wallets[wallet].offlineCounter
    }

    /// A deliberate second spend of `plan`'s money (same payer, amount and authorization): not reserved, so an
    /// approval of it shows up as the payer holding less than the model expected.
    public func doubleSpend(of plan: PlannedTransaction) -> PlannedTransaction {
        var copy = plan
        copy.reserved = false
        copy.isDoubleSpend = true
        return copy
    }

    // MARK: Settling

    /// Applies the outcome of a planned transaction.
    public mutating func settle(_ plan: PlannedTransaction, outcome: Outcome) {
        // Whatever the outcome, the payer's change (or the coins a reversal gives back) may be pending for a while.
        if plan.payerWallet >= 0, plan.flow != .transferIn {
            self.wallets[plan.payerWallet].busyUntil = self.clock &+ self.options.holdNanoseconds
        }
        switch outcome {
        case .approved(let newWallet):
            self.approve(plan, newWallet: newWallet)
        case .declined:
            guard plan.reserved else { return }
            self.release(plan)
        case .unknown:
            if plan.reserved { self.uncertain += plan.amount }
        }
    }

    private mutating func approve(_ plan: PlannedTransaction, newWallet: String?) {
        switch plan.flow {
        case .accountOpen:
            guard let newWallet else { return }
            let bank = Wallet.institution(ofAddress: newWallet).flatMap { self.bankIndex[$0] } ?? plan.bank
            self.openedWallets.append(self.wallets.count)
            self.wallets.append(WalletState(bank: bank, address: newWallet, available: 0, signer: nil, owner: -1, isMerchant: false, offlineCounter: 0))
        case .transferIn:
            if !plan.reserved {
                self.customers[plan.customer].accountAvailable -= plan.amount
                self.treasuryAvailable[plan.bank] -= plan.amount
            }
            self.receive(plan.payeeWallet, plan.amount)
        case .redeem:
            if !plan.reserved { self.wallets[plan.payerWallet].available -= plan.amount }
            let c = plan.customer
            self.customers[c].accountAvailable += plan.amount
            self.treasuryAvailable[self.customers[c].bank] += plan.amount
        case .nfc, .qrBSC, .qrCSB, .inApp:
            if !plan.reserved { self.wallets[plan.payerWallet].available -= plan.amount }
            self.receive(plan.payeeWallet, plan.amount)
        }
    }

    private mutating func release(_ plan: PlannedTransaction) {
        switch plan.flow {
        case .accountOpen:
            break
        case .transferIn:
            self.customers[plan.customer].accountAvailable += plan.amount
            self.treasuryAvailable[plan.bank] += plan.amount
        case .redeem, .nfc, .qrBSC, .qrCSB, .inApp:
            self.wallets[plan.payerWallet].available += plan.amount
        }
    }
}

/// One transaction the generator will send: its flow, amount and parties (indexes into a ``WorkloadModel``).
public struct PlannedTransaction: Hashable, Sendable {
    public var flow: Flow
    /// DE 4, minor units (0 for account opening).
    public var amount: Int64
    /// The card holder: the payer of a transfer-in, the payee of a redeem, the applicant of an account opening.
    public var customer: Int
    /// The paying wallet (redeem, payments), or -1.
    public var payerWallet: Int
    /// The receiving wallet (transfer-in, payments), or -1.
    public var payeeWallet: Int
    /// The merchant of a payment, or -1.
    public var merchant: Int
    /// The payer's bank (the account opening's bank), an index into the model's institutions.
    public var bank: Int
    /// Whether the model reserved the payer's funds for it.
    public var reserved: Bool
    /// A deliberate second spend of another transaction's authorization.
    public var isDoubleSpend: Bool

    public init(
        flow: Flow, amount: Int64, customer: Int = -1, payerWallet: Int = -1, payeeWallet: Int = -1, merchant: Int = -1,
        bank: Int, reserved: Bool = false, isDoubleSpend: Bool = false
    ) {
        self.flow = flow
        self.amount = amount
        self.customer = customer
        self.payerWallet = payerWallet
        self.payeeWallet = payeeWallet
        self.merchant = merchant
        self.bank = bank
        self.reserved = reserved
        self.isDoubleSpend = isDoubleSpend
    }
}

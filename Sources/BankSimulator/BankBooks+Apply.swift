extension BankBooks {
    /// Applies an effect: what ``handle(_:newWallet:now:)`` does after deciding, and what crash recovery does with each
    /// journaled effect in order.
    ///
    /// - Returns: `false`, with the books unchanged, when the effect does not fit these books (a journal from other
    ///   books, or entries out of order).
    @discardableResult
    public mutating func apply(_ effect: Effect) -> Bool {
        switch effect {
        case .opened(let opened):
            let key = LegKey(transactionID: opened.key, kind: .openAccount)
            guard self.legs[key] == nil, self.wallets[opened.address] == nil, self.accounts[opened.card] != nil else { return false }
            self.wallets[opened.address] = WalletRecord(publicKeyHex: opened.publicKeyHex, owner: .opened(card: opened.card))
            self.legs[key] = .opened(opened)
            return true

        case .debited(let record):
            let key = LegKey(transactionID: record.transactionID, kind: .debit)
            let payer = record.payingWallet
            guard self.legs[key] == nil, self.holds(record.spent, in: payer) else { return false }
            guard record.created.allSatisfy({ self.coinOwners[$0.id] == nil }) else { return false }
            if case .account(let card) = record.source {
                guard self.accounts[card] != nil else { return false }
                self.accounts[card]!.balance -= record.amount
            }
            // Mutated in place through the table's index (one hash for all the coins); a copy of the wallet would copy
            // its coin table (the treasury holds thousands).
            let wallet = self.wallets.index(forKey: payer)!
            for item in record.spent {
                self.wallets.values[wallet].holdings.remove(item.id)
                self.coinOwners.removeValue(forKey: item.id)
            }
            // The change stays pending until the switch completes the transaction (or a reversal removes it).
            for item in record.created where item.role == .change {
                self.wallets.values[wallet].holdings.add(item.id, value: item.value, pending: true)
                self.coinOwners[item.id] = payer
            }
            self.valueSentOut += record.valueSent
            self.totals[record.date, default: Totals()].count(debit: record.amount)
            self.legs[key] = .debited(record)
            return true

        case .credited(let record):
            let key = LegKey(transactionID: record.transactionID, kind: .credit)
            guard self.legs[key] == nil, self.wallets[record.holdingWallet] != nil else { return false }
            guard record.coins.allSatisfy({ self.coinOwners[$0.id] == nil }) else { return false }
            if case .account(let card) = record.target {
                guard self.accounts[card] != nil else { return false }
                self.accounts[card]!.balance += record.amount
            }
            let wallet = self.wallets.index(forKey: record.holdingWallet)!
            // Pending until the switch completes the transaction (or a reversal takes the coins back).
            for item in record.coins {
                self.wallets.values[wallet].holdings.add(item.id, value: item.value, pending: true)
                self.coinOwners[item.id] = record.holdingWallet
            }
            self.valueReceived += record.amount
            self.totals[record.date, default: Totals()].count(credit: record.amount)
            self.legs[key] = .credited(record)
            return true

        case .declined(let key, let code):
            guard self.legs[key] == nil else { return false }
            self.legs[key] = .declined(code)
            return true

        case .reversed(let reversal):
            return self.applyReversal(reversal)

        case .completed(let transactionIDs):
            for txn in transactionIDs {
                self.release(transactionID: txn)
                if self.hasUnsettledLegs(ofTransaction: txn), self.completedKeptIDs.insert(txn).inserted {
                    self.completedKept.append(txn)
                }
            }
            self.settleBeyondRetention()
            return true
        }
    }

    /// Makes the coins that transaction `txn` brought in spendable: the change of its debit leg and the coins of its
    /// credit leg (`<txn>/C`), when the leg was executed and not reversed. Returns how many coins it released.
    @discardableResult
    mutating func release(transactionID txn: String) -> Int {
        var released = 0
        let (debit, credit) = self.liveLegs(ofTransaction: txn)
        if let record = debit, let wallet = self.wallets.index(forKey: record.payingWallet) {
            for item in record.created where item.role == .change {
                if self.wallets.values[wallet].holdings.release(item.id) { released += 1 }
            }
        }
        if let record = credit, let wallet = self.wallets.index(forKey: record.holdingWallet) {
            for item in record.coins {
                if self.wallets.values[wallet].holdings.release(item.id) { released += 1 }
            }
        }
        return released
    }

    /// Settles the oldest completed transactions beyond ``completedLegsKeptInFull``.
    mutating func settleBeyondRetention() {
        while self.completedKept.count - self.completedKeptStart > self.completedLegsKeptInFull {
            let txn = self.completedKept[self.completedKeptStart]
            self.settle(transactionID: txn)
            self.completedKeptIDs.remove(txn)
            self.completedKeptStart += 1
        }
        if self.completedKeptStart >= 4096, self.completedKeptStart * 2 >= self.completedKept.count {
            self.completedKept.removeFirst(self.completedKeptStart)
            self.completedKeptStart = 0
        }
    }

    /// Keeps the full leg records of the last `count` completed transactions only (see
    /// ``completedLegsKeptInFull``); settles the older ones now.
    public mutating func keepCompletedLegsInFull(_ count: Int) {
        self.completedLegsKeptInFull = max(0, count)
        self.settleBeyondRetention()
    }

    /// Replaces the executed, unreversed legs of completed transaction `txn` (debit `<txn>`, credit `<txn>/C`) by
    /// ``LegRecord/settled``: nothing needs their records any more (a completed transaction is never reversed, its
    /// totals are in the day's ``Totals``), and kept, they made memory grow by about a kilobyte a leg for as long
    /// as the bank ran.
    mutating func settle(transactionID txn: String) {
        let (debit, credit) = self.liveLegs(ofTransaction: txn)
        if debit != nil { self.legs[LegKey(transactionID: txn, kind: .debit)] = .settled }
        if credit != nil { self.legs[LegKey(transactionID: txn + "/C", kind: .credit)] = .settled }
    }

    /// Whether transaction `txn` has an executed, unreversed leg here that a completion would settle.
    func hasUnsettledLegs(ofTransaction txn: String) -> Bool {
        let (debit, credit) = self.liveLegs(ofTransaction: txn)
        return debit != nil || credit != nil
    }

    /// The executed, unreversed legs of transaction `txn` here: its debit leg `<txn>` and its credit leg `<txn>/C`.
    func liveLegs(ofTransaction txn: String) -> (debit: DebitRecord?, credit: CreditRecord?) {
        var debit: DebitRecord?
        var credit: CreditRecord?
        if case .debited(let record) = self.legs[LegKey(transactionID: txn, kind: .debit)], record.reversal == nil { debit = record }
        if case .credited(let record) = self.legs[LegKey(transactionID: txn + "/C", kind: .credit)], !record.reversed { credit = record }
        return (debit, credit)
    }

    /// How many coins transaction `txn` would release (see ``release(transactionID:)``), without changing anything.
    public func pendingCoins(ofTransaction txn: String) -> Int {
        var pending = 0
        let (debit, credit) = self.liveLegs(ofTransaction: txn)
        if let record = debit, let wallet = self.wallets[record.payingWallet] {
            pending += record.created.reduce(0) { $0 + ($1.role == .change && wallet.holdings.isPending($1.id) ? 1 : 0) }
        }
        if let record = credit, let wallet = self.wallets[record.holdingWallet] {
            pending += record.coins.reduce(0) { $0 + (wallet.holdings.isPending($1.id) ? 1 : 0) }
        }
        return pending
    }

    private mutating func applyReversal(_ reversal: ReversalRecord) -> Bool {
        let creditKey = LegKey(transactionID: reversal.transactionID, kind: .credit)
        let debitKey = LegKey(transactionID: reversal.transactionID, kind: .debit)
        var credit: CreditRecord?
        var debit: DebitRecord?
        if reversal.credit {
            guard case .credited(let record) = self.legs[creditKey], !record.reversed, self.holds(record.coins, in: record.holdingWallet) else {
                return false
            }
            credit = record
        }
        if reversal.debit != nil {
            guard case .debited(let record) = self.legs[debitKey], record.reversal == nil, self.wallets[record.payingWallet] != nil else { return false }
            debit = record
        }
        guard credit != nil || debit != nil else { return false }
        // Everything is checked before anything changes. The debit undo is checked as if the credit undo had already
        // taken its coins away.
        let takenBack = Set(credit?.coins.map(\.id) ?? [])
        var returning: [CoinItem] = []
        var removing: [CoinItem] = []
        if let record = debit, let mode = reversal.debit {
            switch mode {
            case .exact:
                removing = record.created.filter { $0.role == .change }
                guard removing.allSatisfy({ self.coinOwners[$0.id] == record.payingWallet && !takenBack.contains($0.id) }) else { return false }
                returning = record.spent
            case .payeeCoins:
                returning = record.spent.filter { $0.role == .transferred } + record.created.filter { $0.role == .payee }
            }
            guard !returning.contains(where: { self.isHeld($0.id, except: takenBack) }) else { return false }
        }
        if var record = credit {
            for item in record.coins {
                self.wallets[record.holdingWallet]!.holdings.remove(item.id)
                self.coinOwners.removeValue(forKey: item.id)
            }
            if case .account(let card) = record.target { self.accounts[card]?.balance -= record.amount }
            self.valueReceived -= record.amount
            self.totals[reversal.date, default: Totals()].creditReversals += 1
            self.totals[reversal.date, default: Totals()].creditReversalAmount += record.amount
            record.reversed = true
            self.legs[creditKey] = .credited(record)
        }
        if var record = debit, let mode = reversal.debit {
            let payer = record.payingWallet
            for item in removing {
                self.wallets[payer]!.holdings.remove(item.id)
                self.coinOwners.removeValue(forKey: item.id)
            }
            for item in returning {
                self.wallets[payer]!.holdings.add(item.id, value: item.value)
                self.coinOwners[item.id] = payer
            }
            if case .account(let card) = record.source { self.accounts[card]?.balance += record.amount }
            self.valueSentOut -= record.valueSent
            self.totals[reversal.date, default: Totals()].debitReversals += 1
            self.totals[reversal.date, default: Totals()].debitReversalAmount += record.amount
            record.reversal = mode
            self.legs[debitKey] = .debited(record)
        }
        return true
    }

    /// Whether the bank holds coin `id`, not counting the coins in `taken`.
    func isHeld(_ id: String, except taken: Set<String>) -> Bool {
        self.coinOwners[id] != nil && !taken.contains(id)
    }

    /// Whether `wallet` holds every coin of `items` with its value. (Reads the holdings in place: a local copy kept
    /// alive across a later mutation would copy the whole coin table.)
    func holds(_ items: [CoinItem], in wallet: String) -> Bool {
        guard let record = self.wallets[wallet] else { return false }
        return items.allSatisfy { record.holdings.value(of: $0.id) == $0.value }
    }
}

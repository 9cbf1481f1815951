extension BankBooks {
    /// Every coin id this bank holds, for cross-bank audits (no coin may be held by two banks).
    public var allCoinIDs: [String] {
        Array(self.coinOwners.keys)
    }
}

extension BankBooks {
    /// Every wallet of this bank with the ids of the coins it owns (pending ones included; empty wallets too): the
    /// holdings `dcswitch reconcile` compares with the registration center.
    public var holdingsByWallet: [String: [String]] {
        var holdings: [String: [String]] = [:]
        for address in self.wallets.keys { holdings[address] = [] }
        for (coin, owner) in self.coinOwners { holdings[owner, default: []].append(coin) }
        for key in holdings.keys { holdings[key]!.sort() }
        return holdings
    }
}

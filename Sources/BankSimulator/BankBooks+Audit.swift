extension BankBooks {
    /// Every coin id this bank holds, for cross-bank audits (no coin may be held by two banks).
    public var allCoinIDs: [String] {
        Array(self.coinOwners.keys)
    }
}

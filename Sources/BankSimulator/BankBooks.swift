import DigitalCurrency

/// The books of one simulated bank: customers' accounts, DC wallets and the coins each owns, the bank's treasury,
/// the transaction table of every leg it executed, and its reconciliation totals.
///
/// `BankBooks` is a value with no I/O: ``handle(_:newWallet:now:)`` decides what a request from the switch does,
/// applies it, and returns the ``Answer`` and the ``Effect`` to journal; ``apply(_:)`` replays a journaled effect
/// (crash recovery). Legs are idempotent by the switch's transaction id (DE 124.05): a repeated leg gets the original
/// answer without a second execution, and a reversal undoes exactly the leg it names, once.
///
/// Invariants (see ``verify()``): the value of the coins held plus the value sent out minus the value received equals
/// the value seeded; every coin has exactly one owner; account balances minus the treasury's value stay what they
/// were at seeding (transfer-in takes money from an account and coins from the treasury, redeem gives both back).
public struct BankBooks: Sendable, Equatable {
    /// The bank's id in the network configuration.
    public let bankID: String
    /// The bank's 11-digit institution code.
    public let institution: String
    /// The bank's own wallet, which pays transfer-ins and receives redeemed coins.
    public let treasuryAddress: String
    /// Identifies the seed the books started from (the journal header checks it).
    public let seedFingerprint: String

    struct Account: Hashable, Sendable {
        var number: String
        var balance: Int64
    }

    enum WalletOwner: Hashable, Sendable {
        case customer(card: String)
        case merchant(index: Int)
        case treasury
        case opened(card: String)
    }

    struct WalletRecord: Hashable, Sendable {
        var publicKeyHex: String
        var owner: WalletOwner
        var holdings = CoinHoldings()
    }

    var accounts: [String: Account] = [:]
    var cardsByAccountNumber: [String: String] = [:]
    var wallets: [String: WalletRecord] = [:]
    /// Coin id → owning wallet, for every live coin the bank holds.
    var coinOwners: [String: String] = [:]
    var legs = LegTable()
    /// Completed transactions whose leg records are still kept in full, oldest first from ``completedKeptStart``:
    /// the last ``completedLegsKeptInFull`` of them. Older ones are ``LegRecord/settled``.
    var completedKept: [String] = []
    var completedKeptStart = 0
    /// The same transactions, to look up.
    var completedKeptIDs: Set<String> = []
    /// How many completed transactions keep their full leg records (a repeat of one of their legs gets its original
    /// answer); older ones keep only that they happened, so that memory stays bounded however long the bank runs
    /// (about a kilobyte a leg otherwise). Part of the books' state: a journal replays to the same books only with
    /// the same value.
    public internal(set) var completedLegsKeptInFull = 10_000
    var totals: [SettlementDate: Totals] = [:]

    /// Value of the coins the seed issued to this bank's wallets.
    public internal(set) var seededCoinValue: Int64 = 0
    /// Sum of the accounts' opening balances.
    public internal(set) var seededAccountBalance: Int64 = 0
    /// Value of the treasury's seeded coins.
    public internal(set) var seededTreasuryValue: Int64 = 0
    /// Value of the coins that left the bank (T and P coins of debit legs, less what reversals brought back).
    public internal(set) var valueSentOut: Int64 = 0
    /// Value of the coins credit legs brought in, less what reversals took back.
    public internal(set) var valueReceived: Int64 = 0

    /// The books of a freshly seeded bank.
    public init(seed: SeedData) {
        let bank = seed.bank
        self.bankID = bank.id
        self.institution = bank.institution
        self.treasuryAddress = seed.treasury.address
        self.seedFingerprint = Self.fingerprint(of: bank)
        self.accounts.reserveCapacity(seed.customers.count)
        self.wallets.reserveCapacity(seed.customers.count + seed.merchants.count + 1)
        var treasury = WalletRecord(publicKeyHex: seed.treasury.publicKeyHex, owner: .treasury)
        for coin in seed.treasuryCoins {
            treasury.holdings.add(coin.id, value: coin.value)
            self.coinOwners[coin.id] = seed.treasury.address
        }
        self.wallets[seed.treasury.address] = treasury
        self.seededTreasuryValue = treasury.holdings.total
        self.seededCoinValue = treasury.holdings.total
        for customer in seed.customers {
            self.accounts[customer.card] = Account(number: customer.account, balance: customer.accountBalance)
            self.cardsByAccountNumber[customer.account] = customer.card
            self.seededAccountBalance += customer.accountBalance
            var wallet = WalletRecord(publicKeyHex: customer.wallet.publicKeyHex, owner: .customer(card: customer.card))
            for coin in customer.coins {
                wallet.holdings.add(coin.id, value: coin.value)
                self.coinOwners[coin.id] = customer.wallet.address
            }
            self.seededCoinValue += wallet.holdings.total
            self.wallets[customer.wallet.address] = wallet
        }
        for merchant in seed.merchants {
            self.wallets[merchant.wallet.address] = WalletRecord(publicKeyHex: merchant.wallet.publicKeyHex, owner: .merchant(index: merchant.index))
        }
    }

    /// The books of `bank` as seeded (generating the seed takes about 0.1 ms per wallet).
    public init(bank: BankConfiguration) {
        self.init(seed: SeedData(bank: bank))
    }

    static func fingerprint(of bank: BankConfiguration) -> String {
        let c = bank.customers
        return "\(bank.bins.first ?? "")/\(c.count)/\(c.accountBalance)/\(c.walletCoins)/\(c.coinValue)/\(bank.merchants.count)/\(bank.treasury.coins)/\(bank.treasury.coinValue)"
    }

    // MARK: Queries

    /// The balance of the account behind `card`, or `nil` for an unknown card.
    public func balance(ofCard card: String) -> Int64? {
        self.accounts[card]?.balance
    }

    /// The coins `address` owns, oldest first, or `nil` for a wallet this bank does not hold.
    public func coins(ofWallet address: String) -> [Coin]? {
        self.wallets[address].map { record in
            record.holdings.coins.map { Coin(id: $0.id, value: $0.value, owner: address) }
        }
    }

    /// The value `address` owns, or `nil` for a wallet this bank does not hold.
    public func value(ofWallet address: String) -> Int64? {
        self.wallets[address]?.holdings.total
    }

    /// The value `address` may spend now: what it owns less its pending coins (see ``pendingValue``).
    public func spendableValue(ofWallet address: String) -> Int64? {
        self.wallets[address]?.holdings.spendable
    }

    /// Value of the coins the bank holds that are pending: brought in by a leg whose transaction the switch has not
    /// completed yet (or not reversed yet). They are owned but cannot be spent.
    public var pendingValue: Int64 {
        self.wallets.values.reduce(0) { $0 + $1.holdings.pendingTotal }
    }

    /// Ids of the pending coins, by wallet.
    public var pendingCoins: [String: [String]] {
        var result: [String: [String]] = [:]
        for (address, record) in self.wallets where record.holdings.pendingTotal > 0 {
            result[address] = record.holdings.pendingIDs
        }
        return result
    }

    /// The public key (upper-case hex) of a wallet this bank holds.
    public func publicKey(ofWallet address: String) -> String? {
        self.wallets[address]?.publicKeyHex
    }

    /// The wallet that owns coin `id`, or `nil` when the bank does not hold it.
    public func owner(ofCoin id: String) -> String? {
        self.coinOwners[id]
    }

    /// What the transaction table holds for `key`.
    public func leg(_ key: LegKey) -> LegRecord? {
        self.legs[key]
    }

    /// The totals of `date` (zero when nothing happened that day).
    public func totals(for date: SettlementDate) -> Totals {
        self.totals[date] ?? Totals()
    }

    /// Value of every coin the bank holds.
    public var coinValueHeld: Int64 {
        self.wallets.values.reduce(0) { $0 + $1.holdings.total }
    }

    /// Number of coins the bank holds.
    public var coinCount: Int { self.coinOwners.count }

    /// Sum of all account balances.
    public var accountTotal: Int64 {
        self.accounts.values.reduce(0) { $0 + $1.balance }
    }

    /// Value the treasury wallet holds.
    public var treasuryValue: Int64 {
        self.wallets[self.treasuryAddress]?.holdings.total ?? 0
    }

    /// Number of wallets (seeded and opened).
    public var walletCount: Int { self.wallets.count }

    /// Number of entries in the transaction table.
    public var legCount: Int { self.legs.count }

    /// Addresses of the wallets opened by account-open legs, with the card of their account.
    public var openedWallets: [(address: String, card: String)] {
        self.wallets.compactMap { address, record in
            if case .opened(let card) = record.owner { return (address, card) }
            return nil
        }
    }

    // MARK: Invariants

    /// The invariants that must hold after any sequence of legs; returns a description of each violation (empty
    /// when the books balance).
    public func verify() -> [String] {
        var problems: [String] = []
        let held = self.coinValueHeld
        if held + self.valueSentOut - self.valueReceived != self.seededCoinValue {
            problems.append("value not conserved: held \(held) + sent \(self.valueSentOut) - received \(self.valueReceived) != seeded \(self.seededCoinValue)")
        }
        var listed = 0
        for (address, record) in self.wallets {
            var sum: Int64 = 0
            for coin in record.holdings.coins {
                listed += 1
                sum += coin.value
                if coin.value <= 0 { problems.append("coin \(coin.id) has value \(coin.value)") }
                if self.coinOwners[coin.id] != address {
                    problems.append("coin \(coin.id) is in wallet \(address) but the coin table says \(self.coinOwners[coin.id] ?? "none")")
                }
            }
            if sum != record.holdings.total { problems.append("wallet \(address) total \(record.holdings.total) != sum of its coins \(sum)") }
        }
        if listed != self.coinOwners.count {
            problems.append("\(listed) coins in wallets but \(self.coinOwners.count) in the coin table (a coin in two wallets or in none)")
        }
        if self.accountTotal - self.treasuryValue != self.seededAccountBalance - self.seededTreasuryValue {
            problems.append(
                "accounts \(self.accountTotal) - treasury \(self.treasuryValue) != seeded \(self.seededAccountBalance) - \(self.seededTreasuryValue)"
            )
        }
        return problems
    }
}

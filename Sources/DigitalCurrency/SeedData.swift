/// The customers, merchants and treasury a bank's configuration seeds, generated deterministically so that the
/// switch, the bank, the traffic generator and the registry agree on them without sharing state.
public struct SeedData: Sendable {
    public struct Customer: Sendable {
        public var index: Int
        public var name: String
        /// 16-digit card number: the bank's first BIN, a 9-digit index and a Luhn check digit.
        public var card: String
        /// The bank account behind the card.
        public var account: String
        public var accountBalance: Int64
        public var wallet: Wallet
        public var coins: [Coin]
    }

    public struct Merchant: Sendable {
        public var index: Int
        /// DE 41, 8 characters.
        public var terminalID: String
        /// DE 42, 15 characters.
        public var merchantID: String
        public var name: String
        public var wallet: Wallet
    }

    public var bank: BankConfiguration
    public var customers: [Customer]
    public var merchants: [Merchant]
    /// The bank's own wallet, holding the coins it exchanges for account money.
    public var treasury: Wallet
    public var treasuryCoins: [Coin]

    /// Generates the seed of `bank`. Key derivation makes this take about 0.1 ms per wallet.
    public init(bank: BankConfiguration) {
        self.bank = bank
        let institution = bank.institution
        self.treasury = SeedData.treasuryWallet(of: bank)
        let treasuryAddress = self.treasury.address
        self.treasuryCoins = (0..<bank.treasury.coins).map { k in
            Coin(id: SeedData.coinID(bank: bank, owner: "T", index: 0, coin: k), value: bank.treasury.coinValue, owner: treasuryAddress)
        }
        self.customers = (0..<bank.customers.count).map { i in
            let wallet = Wallet.seeded("dcswitch/\(bank.id)/customer/\(i)", institution: institution)
            let coins = (0..<bank.customers.walletCoins).map { k in
                Coin(id: SeedData.coinID(bank: bank, owner: "W", index: i, coin: k), value: bank.customers.coinValue, owner: wallet.address)
            }
            return Customer(
                index: i,
                name: "Customer \(bank.id)-\(i)",
                card: SeedData.card(bin: bank.bins[0], index: i),
                account: SeedData.padded(i, 10, prefix: String(bank.institution.suffix(6))),
                accountBalance: bank.customers.accountBalance,
                wallet: wallet,
                coins: coins
            )
        }
        self.merchants = (0..<bank.merchants.count).map { i in
            let id = String(bank.id.prefix(3)).uppercased()
            return Merchant(
                index: i,
                terminalID: SeedData.padded(i, 5, prefix: id),
                merchantID: SeedData.padded(i, 12, prefix: id),
                name: "Merchant \(bank.id)-\(i)",
                wallet: Wallet.seeded("dcswitch/\(bank.id)/merchant/\(i)", institution: institution)
            )
        }
    }

    /// The bank's treasury wallet (derived from its id: cheap to compute anywhere, no seed needed).
    public static func treasuryWallet(of bank: BankConfiguration) -> Wallet {
        Wallet.seeded("dcswitch/\(bank.id)/treasury", institution: bank.institution)
    }

    /// Every coin the seed issues.
    public var allCoins: [Coin] {
        self.treasuryCoins + self.customers.flatMap(\.coins)
    }

    /// `C<institution>-<T|W><index>-<coin>`: unique across banks.
    static func coinID(bank: BankConfiguration, owner: String, index: Int, coin: Int) -> String {
        "C\(bank.institution)-\(owner)\(index)-\(coin)"
    }

    static func padded(_ value: Int, _ width: Int, prefix: String) -> String {
        let digits = String(value)
        return prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// A card number with a valid Luhn check digit.
    static func card(bin: String, index: Int) -> String {
        let body = padded(index, 9, prefix: bin)
        return body + String(luhnCheckDigit(body))
    }

    static func luhnCheckDigit(_ body: String) -> Int {
        var sum = 0
        for (i, c) in body.reversed().enumerated() {
            var d = Int(c.asciiValue! - 48)
            if i % 2 == 0 {
                d *= 2
                if d > 9 { d -= 9 }
            }
            sum += d
        }
        return (10 - sum % 10) % 10
    }
}

extension BankBooks {
    /// A settlement date (`MMDD`, DE 15): the key of the bank's reconciliation totals.
    public struct SettlementDate: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// `month * 100 + day`.
        public var mmdd: UInt16

        /// A date from its month and day.
        public init?(month: Int, day: Int) {
            guard (1...12).contains(month), (1...31).contains(day) else { return nil }
            self.mmdd = UInt16(month * 100 + day)
        }

        /// A date from 4 digits `MMDD` (the first 4 characters of a longer text such as DE 7 are not accepted).
        public init?(_ text: some StringProtocol) {
            let utf8 = Array(text.utf8)
            guard utf8.count == 4, utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            let month = Int(utf8[0] - 48) * 10 + Int(utf8[1] - 48)
            let day = Int(utf8[2] - 48) * 10 + Int(utf8[3] - 48)
            self.init(month: month, day: day)
        }

        /// `MMDD`.
        public var description: String {
            let digits = String(self.mmdd)
            return digits.utf8.count == 3 ? "0" + digits : digits
        }

        public static func < (lhs: SettlementDate, rhs: SettlementDate) -> Bool { lhs.mmdd < rhs.mmdd }
    }

    /// One coin a leg moved, as DE 124.03 and 124.11 list it (`ID:VALUE:ROLE`).
    public struct CoinItem: Hashable, Sendable, CustomStringConvertible {
        /// What happened to the coin.
        public enum Role: UInt8, Hashable, Sendable {
            /// `T`: moved whole to the payee.
            case transferred = 84
            /// `R`: spent with a value that did not match; retired.
            case retired = 82
            /// `P`: created for the payee from a retired coin.
            case payee = 80
            /// `C`: created as change for the payer.
            case change = 67
            /// No role: a coin a credit leg gives to the payee (`ID:VALUE`).
            case owned = 0

            /// The role letter, empty for ``owned``.
            public var letter: String {
                self == .owned ? "" : String(UnicodeScalar(self.rawValue))
            }
        }

        public var id: String
        /// Value in minor units.
        public var value: Int64
        public var role: Role

        public init(id: String, value: Int64, role: Role) {
            self.id = id
            self.value = value
            self.role = role
        }

        /// `ID:VALUE:ROLE`, or `ID:VALUE` for ``Role/owned``.
        public var description: String {
            var text = ""
            self.append(to: &text)
            return text
        }

        func append(to text: inout String) {
            text += self.id
            text += ":"
            text += String(self.value)
            if self.role != .owned {
                text += ":"
                text.unicodeScalars.append(UnicodeScalar(self.role.rawValue))
            }
        }

        /// Items joined with `;`, as DE 124.03 and 124.11 carry them.
        public static func list(_ items: [CoinItem]) -> String {
            var text = ""
            text.reserveCapacity(items.reduce(0) { $0 + $1.id.utf8.count + 24 })
            for (i, item) in items.enumerated() {
                if i > 0 { text += ";" }
                item.append(to: &text)
            }
            return text
        }
    }

    /// The identity of one leg in the transaction table: the switch's transaction id (DE 124.05) and what kind of
    /// leg it is. One transaction can have a debit and a credit leg at the same bank (both parties at one bank).
    public struct LegKey: Hashable, Sendable {
        public enum Kind: UInt8, Hashable, Sendable {
            case openAccount = 79  // "O"
            case debit = 68  // "D"
            case credit = 67  // "C"
        }

        public var transactionID: String
        public var kind: Kind

        public init(transactionID: String, kind: Kind) {
            self.transactionID = transactionID
            self.kind = kind
        }
    }

    /// An account opening: the wallet the bank created for the customer.
    public struct OpenedWallet: Hashable, Sendable {
        /// DE 124.05 when the switch sent one, else a key made of DE 32, 11, 37 and 7.
        public var key: String
        /// The card of the customer's account (DE 48.03 names the account).
        public var card: String
        public var address: String
        /// X9.63 uncompressed public key, upper-case hex.
        public var publicKeyHex: String
        /// The private key's raw representation, hex: the bank keeps its customers' key pairs. Never logged.
        public var privateKeyHex: String
        public var date: SettlementDate

        public init(key: String, card: String, address: String, publicKeyHex: String, privateKeyHex: String, date: SettlementDate) {
            self.key = key
            self.card = card
            self.address = address
            self.publicKeyHex = publicKeyHex
            self.privateKeyHex = privateKeyHex
            self.date = date
        }
    }

    /// What a debit leg did: the account debited (transfer-in) or the wallet that paid, the coins spent and created.
    public struct DebitRecord: Hashable, Sendable {
        /// Who pays.
        public enum Source: Hashable, Sendable {
            /// The card's account is debited and the treasury wallet pays the coins (transfer-in).
            case account(card: String)
            /// The wallet pays.
            case wallet
        }

        /// How a reversal undid the leg.
        public enum Reversal: UInt8, Hashable, Sendable {
            /// Spent coins (T and R) back to the payer, change coins (C) removed.
            case exact = 69  // "E"
            /// The change coin had been spent since: T coins and the payee coins (P) go to the payer instead, the
            /// retired coin stays retired. The same value comes back, and no coin has two owners.
            case payeeCoins = 80  // "P"
        }

        public var transactionID: String
        public var date: SettlementDate
        public var amount: Int64
        public var source: Source
        /// The wallet whose coins were spent (the treasury for ``Source/account(card:)``).
        public var payingWallet: String
        /// T and R items, in the order taken.
        public var spent: [CoinItem]
        /// P and C items.
        public var created: [CoinItem]
        /// Set once the leg is reversed.
        public var reversal: Reversal?

        public init(
            transactionID: String, date: SettlementDate, amount: Int64, source: Source, payingWallet: String,
            spent: [CoinItem], created: [CoinItem], reversal: Reversal? = nil
        ) {
            self.transactionID = transactionID
            self.date = date
            self.amount = amount
            self.source = source
            self.payingWallet = payingWallet
            self.spent = spent
            self.created = created
            self.reversal = reversal
        }

        /// The value that left the bank: T and P coins.
        public var valueSent: Int64 {
            self.spent.reduce(0) { $0 + ($1.role == .transferred ? $1.value : 0) }
                + self.created.reduce(0) { $0 + ($1.role == .payee ? $1.value : 0) }
        }
    }

    /// What a credit leg did: the coins the bank now owns, and the account credited (redeem).
    public struct CreditRecord: Hashable, Sendable {
        /// Who receives.
        public enum Target: Hashable, Sendable {
            /// The wallet owns the coins.
            case wallet
            /// The card's account is credited and the treasury owns the coins (redeem).
            case account(card: String)
        }

        public var transactionID: String
        public var date: SettlementDate
        public var amount: Int64
        public var target: Target
        /// The wallet that owns the coins (the treasury for ``Target/account(card:)``).
        public var holdingWallet: String
        public var coins: [CoinItem]
        /// Set once the leg is reversed.
        public var reversed: Bool

        public init(
            transactionID: String, date: SettlementDate, amount: Int64, target: Target, holdingWallet: String,
            coins: [CoinItem], reversed: Bool = false
        ) {
            self.transactionID = transactionID
            self.date = date
            self.amount = amount
            self.target = target
            self.holdingWallet = holdingWallet
            self.coins = coins
            self.reversed = reversed
        }
    }

    /// What a reversal undid.
    public struct ReversalRecord: Hashable, Sendable {
        public var transactionID: String
        public var date: SettlementDate
        /// How the debit leg was undone, `nil` when it was not (absent or undone before).
        public var debit: DebitRecord.Reversal?
        /// Whether the credit leg was undone.
        public var credit: Bool

        public init(transactionID: String, date: SettlementDate, debit: DebitRecord.Reversal?, credit: Bool) {
            self.transactionID = transactionID
            self.date = date
            self.debit = debit
            self.credit = credit
        }
    }

    /// The transaction table: each leg's record by its key. A ``LegRecord/settled`` leg is kept as its bare key, in a
    /// set beside the records: about 30 bytes where a dictionary slot of a record takes more than a hundred, for the
    /// settled legs that stay for as long as the bank runs (two for every completed transaction).
    struct LegTable: Sendable, Equatable {
        private var records: [LegKey: LegRecord] = [:]
        private var settled: Set<LegKey> = []

        subscript(key: LegKey) -> LegRecord? {
            get {
                if let record = self.records[key] { return record }
                return self.settled.contains(key) ? .settled : nil
            }
            set {
                switch newValue {
                case .settled?:
                    self.records[key] = nil
                    self.settled.insert(key)
                case nil:
                    self.records[key] = nil
                    self.settled.remove(key)
                case let record?:
                    self.settled.remove(key)
                    self.records[key] = record
                }
            }
        }

        /// Legs in the table, settled ones included.
        var count: Int { self.records.count + self.settled.count }
    }

    /// One entry of the transaction table.
    public enum LegRecord: Hashable, Sendable {
        case opened(OpenedWallet)
        case debited(DebitRecord)
        case credited(CreditRecord)
        /// The leg was declined with this code; a repeat gets the same answer.
        case declined(BankResponseCode)
        /// The leg's transaction was completed (its coins are spendable): all the table keeps of it is that it happened,
        /// a few dozen bytes where the debit or credit record took a kilobyte or more, so that a long run's memory does
        /// not grow with every transaction. A repeat is answered ``BankResponseCode/duplicate`` (never executed
        /// again), a reversal ``BankResponseCode/invalidTransaction``.
        case settled
    }

    /// A change to the books: what the journal holds, one per executed or declined leg. Replaying the effects in order
    /// on the seeded books rebuilds them.
    public enum Effect: Hashable, Sendable {
        case opened(OpenedWallet)
        case debited(DebitRecord)
        case credited(CreditRecord)
        case declined(LegKey, BankResponseCode)
        case reversed(ReversalRecord)
        /// The switch completed these transactions (their owner-change records are durable in the registration
        /// center): the coins they brought in are spendable.
        case completed([String])
    }

    /// Counts and amounts of one settlement date, as the bank answers a 0500.
    public struct Totals: Hashable, Sendable {
        public var debits: Int64 = 0
        public var debitAmount: Int64 = 0
        public var credits: Int64 = 0
        public var creditAmount: Int64 = 0
        public var debitReversals: Int64 = 0
        public var debitReversalAmount: Int64 = 0
        public var creditReversals: Int64 = 0
        public var creditReversalAmount: Int64 = 0

        public init() {}

        mutating func count(debit amount: Int64) {
            self.debits += 1
            self.debitAmount += amount
        }

        mutating func count(credit amount: Int64) {
            self.credits += 1
            self.creditAmount += amount
        }

        /// Credits minus debits, reversals taken out: positive (DE 97 `C`) when the bank is owed, negative (`D`) when it owes.
        public var net: Int64 {
            (self.creditAmount - self.creditReversalAmount) - (self.debitAmount - self.debitReversalAmount)
        }
    }

    /// The answer to one request, from which the response message is built.
    public enum Answer: Hashable, Sendable {
        case opened(OpenedWallet)
        case debited(DebitRecord)
        case credited(CreditRecord)
        /// A reversal done now or before.
        case reversed(transactionID: String)
        /// A completion advice taken (0630).
        case acknowledged
        /// Totals of a settlement date, and DE 66 (1 in balance with the totals in the request, 2 out of balance).
        case reconciled(date: SettlementDate, totals: Totals, settlementCode: Int)
        case declined(BankResponseCode)

        /// DE 39.
        public var responseCode: BankResponseCode {
            if case .declined(let code) = self { return code }
            return .approved
        }
    }

    /// What ``BankBooks/handle(_:newWallet:)`` did with a request.
    public struct Outcome: Sendable {
        /// The answer to send.
        public var answer: Answer
        /// The change to journal before answering; `nil` when nothing changed.
        public var effect: Effect?
        /// Whether the request repeated one already handled (it must still wait until that one is durable).
        public var isRepeat: Bool

        public init(answer: Answer, effect: Effect?, isRepeat: Bool) {
            self.answer = answer
            self.effect = effect
            self.isRepeat = isRepeat
        }
    }
}

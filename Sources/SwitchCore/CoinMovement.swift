import DigitalCurrency

/// The coins one approved debit leg moved, as the payer's bank reports them in DE 124.03 and 124.11
/// (see `Specs/FLOWS.md`), and the owner-change records they make.
public struct CoinMovement: Hashable, Sendable {
    public enum Disposition: Character, Hashable, Sendable {
        /// Moved whole to the payee.
        case transferred = "T"
        /// Retired (spent with a value that did not match).
        case retired = "R"
        /// Created for the payee.
        case createdForPayee = "P"
        /// Created as change for the payer.
        case change = "C"
    }

    public struct Item: Hashable, Sendable {
        public var coinID: String
        public var value: Int64
        public var disposition: Disposition
    }

    public var items: [Item]

    public init(items: [Item]) {
        self.items = items
    }

    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var element: String
        public var item: String
        public var description: String { "DE \(element) item \"\(item)\" is not ID:VALUE:KIND" }
    }

    /// Parses DE 124.03 (`ID:VALUE:T|R`) and DE 124.11 (`ID:VALUE:P|C`).
    public init(spent: String?, created: String?) throws(ParseError) {
        var items: [Item] = []
        for (element, text, allowed) in [("124.03", spent, "TR"), ("124.11", created, "PC")] {
            guard let text, !text.isEmpty else { continue }
            for item in text.split(separator: ";") {
                let parts = item.split(separator: ":")
                guard parts.count == 3, let value = Int64(parts[1]), value > 0, parts[2].count == 1,
                      let kind = Disposition(rawValue: parts[2].first!), allowed.contains(kind.rawValue), !parts[0].isEmpty else {
                    throw ParseError(element: element, item: String(item))
                }
                items.append(Item(coinID: String(parts[0]), value: value, disposition: kind))
            }
        }
        self.items = items
    }

    /// Value the payee receives: coins moved whole plus coins created for it.
    public var valueToPayee: Int64 {
        self.items.reduce(0) { $0 + ($1.disposition == .transferred || $1.disposition == .createdForPayee ? $1.value : 0) }
    }

    /// Value conserved: what was spent equals what the payee got plus the change.
    public var isBalanced: Bool {
        let spent = self.items.reduce(0) { $0 + ($1.disposition == .transferred || $1.disposition == .retired ? $1.value : 0) }
        let made = self.items.reduce(0) { $0 + ($1.disposition == .transferred || $1.disposition == .createdForPayee || $1.disposition == .change ? $1.value : 0) }
        return spent == made
    }

    /// DE 124.03 of the credit leg: the coins the payee now owns, `ID:VALUE;…`.
    public var payeeCoinList: String {
        self.items.filter { $0.disposition == .transferred || $0.disposition == .createdForPayee }
            .map { "\($0.coinID):\($0.value)" }.joined(separator: ";")
    }

    /// One owner-change record per coin.
    public func records(
        transactionID: String, flow: Flow, payerWallet: String, payeeWallet: String,
        payerBank: String, payeeBank: String, at nanos: Int64
    ) -> [OwnerChangeRecord] {
        self.items.map { item in
            let (kind, from, to): (OwnerChangeRecord.Kind, String?, String?)
            switch item.disposition {
            case .transferred: (kind, from, to) = (.transfer, payerWallet, payeeWallet)
            case .retired: (kind, from, to) = (.retire, payerWallet, nil)
            case .createdForPayee: (kind, from, to) = (.create, nil, payeeWallet)
            case .change: (kind, from, to) = (.create, nil, payerWallet)
            }
            return OwnerChangeRecord(
                transactionID: transactionID, coinID: item.coinID, kind: kind, fromWallet: from, toWallet: to,
                value: item.value, flow: flow.rawValue, payerBank: payerBank, payeeBank: payeeBank, createdAtNanos: nanos
            )
        }
    }
}

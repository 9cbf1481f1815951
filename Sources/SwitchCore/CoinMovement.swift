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

        /// Appends `ID:VALUE` (or `ID:VALUE:KIND`) to a `;`-separated list.
        func append(to list: inout String, withKind: Bool) {
            if !list.isEmpty { list += ";" }
            list += self.coinID
            list += ":"
            list += String(self.value)
            if withKind {
                list += ":"
                list.append(self.disposition.rawValue)
            }
        }
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
        items.reserveCapacity(4)
        try Self.parse(spent, element: "124.03", allowed: [.transferred, .retired], into: &items)
        try Self.parse(created, element: "124.11", allowed: [.createdForPayee, .change], into: &items)
        self.items = items
    }

    /// Reads `ID:VALUE:KIND` items separated by `;` from the UTF-8 bytes: one string (the id) per item.
    private static func parse(_ text: String?, element: String, allowed: [Disposition], into items: inout [Item]) throws(ParseError) {
        guard var text, !text.isEmpty else { return }
        let parsed: Bool = text.withUTF8 { bytes in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
                guard let item = Self.item(bytes[start..<end], allowed: allowed) else { return false }
                items.append(item)
                start = end + 1
            }
            return true
        }
        guard parsed else {
            let bad = text.split(separator: ";").first { Self.item(Array($0.utf8)[...], allowed: allowed) == nil }
            throw ParseError(element: element, item: String(bad ?? Substring(text)))
        }
    }

    /// One `ID:VALUE:KIND` item: a non-empty id, a positive decimal value, one allowed kind letter.
    private static func item<Bytes: Collection<UInt8>>(_ bytes: Bytes, allowed: [Disposition]) -> Item? where Bytes.Index == Int {
        guard let firstColon = bytes.firstIndex(of: UInt8(ascii: ":")), firstColon > bytes.startIndex else { return nil }
        let rest = bytes[(firstColon + 1)...]
        guard let secondColon = rest.firstIndex(of: UInt8(ascii: ":")), secondColon > rest.startIndex,
              bytes.endIndex - secondColon == 2 else { return nil }
        var value: Int64 = 0
        for digit in rest[..<secondColon] {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        guard value > 0, let kind = Disposition(rawValue: Character(UnicodeScalar(bytes[secondColon + 1]))), allowed.contains(kind) else {
            return nil
        }
        let id = String(decoding: bytes[bytes.startIndex..<firstColon], as: UTF8.self)
        return Item(coinID: id, value: value, disposition: kind)
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
        var list = ""
        for item in self.items where item.disposition == .transferred || item.disposition == .createdForPayee {
            item.append(to: &list, withKind: false)
        }
        return list
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

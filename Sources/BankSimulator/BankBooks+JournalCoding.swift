extension BankBooks.Effect {
    /// The effect as one journal payload: ASCII fields separated by `|`, coin lists as in DE 124.03.
    ///
    /// - `O|key|card|address|public key|private key|date`
    /// - `D|txn|date|amount|A<card>` or `W|paying wallet|spent|created`
    /// - `C|txn|date|amount|A<card>` or `W|holding wallet|coins`
    /// - `X|O|D|C|code|key` (a declined leg)
    /// - `V|txn|date|E|P|-|1|0` (a reversal: how the debit was undone, whether the credit was)
    /// - `F|txn;txn;…` (transactions the switch completed)
    var journalPayload: String {
        switch self {
        case .opened(let o):
            return "O|\(o.key)|\(o.card)|\(o.address)|\(o.publicKeyHex)|\(o.privateKeyHex)|\(o.date)"
        case .debited(let r):
            let source: String
            switch r.source {
            case .account(let card): source = "A" + card
            case .wallet: source = "W"
            }
            return "D|\(r.transactionID)|\(r.date)|\(r.amount)|\(source)|\(r.payingWallet)|\(BankBooks.CoinItem.list(r.spent))|\(BankBooks.CoinItem.list(r.created))"
        case .credited(let r):
            let target: String
            switch r.target {
            case .account(let card): target = "A" + card
            case .wallet: target = "W"
            }
            return "C|\(r.transactionID)|\(r.date)|\(r.amount)|\(target)|\(r.holdingWallet)|\(BankBooks.CoinItem.list(r.coins))"
        case .declined(let key, let code):
            return "X|\(String(UnicodeScalar(key.kind.rawValue)))|\(code.rawValue)|\(key.transactionID)"
        case .reversed(let v):
            let debit = v.debit.map { String(UnicodeScalar($0.rawValue)) } ?? "-"
            return "V|\(v.transactionID)|\(v.date)|\(debit)|\(v.credit ? "1" : "0")"
        case .completed(let ids):
            return "F|" + ids.joined(separator: ";")
        }
    }

    /// Reads a journal payload; `nil` when it is not one.
    init?(journalPayload payload: Substring) {
        let f = payload.split(separator: "|", omittingEmptySubsequences: false)
        guard let tag = f.first else { return nil }
        switch tag {
        case "O":
            guard f.count == 7, let date = BankBooks.SettlementDate(f[6]) else { return nil }
            self = .opened(
                BankBooks.OpenedWallet(
                    key: String(f[1]), card: String(f[2]), address: String(f[3]), publicKeyHex: String(f[4]),
                    privateKeyHex: String(f[5]), date: date
                )
            )
        case "D":
            guard f.count == 8, let date = BankBooks.SettlementDate(f[2]), let amount = Int64(f[3]),
                let spent = Self.items(f[6]), let created = Self.items(f[7])
            else { return nil }
            let source: BankBooks.DebitRecord.Source
            if f[4] == "W" {
                source = .wallet
            } else if f[4].first == "A" {
                source = .account(card: String(f[4].dropFirst()))
            } else {
                return nil
            }
            self = .debited(
                BankBooks.DebitRecord(
                    transactionID: String(f[1]), date: date, amount: amount, source: source, payingWallet: String(f[5]),
                    spent: spent, created: created
                )
            )
        case "C":
            guard f.count == 7, let date = BankBooks.SettlementDate(f[2]), let amount = Int64(f[3]), let coins = Self.items(f[6]) else {
                return nil
            }
            let target: BankBooks.CreditRecord.Target
            if f[4] == "W" {
                target = .wallet
            } else if f[4].first == "A" {
                target = .account(card: String(f[4].dropFirst()))
            } else {
                return nil
            }
            self = .credited(
                BankBooks.CreditRecord(
                    transactionID: String(f[1]), date: date, amount: amount, target: target, holdingWallet: String(f[5]), coins: coins
                )
            )
        case "X":
            guard f.count == 4, f[1].utf8.count == 1, let kind = BankBooks.LegKey.Kind(rawValue: f[1].utf8.first!), f[2].utf8.count == 2 else {
                return nil
            }
            self = .declined(BankBooks.LegKey(transactionID: String(f[3]), kind: kind), BankResponseCode(rawValue: String(f[2])))
        case "V":
            guard f.count == 5, let date = BankBooks.SettlementDate(f[2]), f[4] == "1" || f[4] == "0" else { return nil }
            let debit: BankBooks.DebitRecord.Reversal?
            if f[3] == "-" {
                debit = nil
            } else {
                guard f[3].utf8.count == 1, let mode = BankBooks.DebitRecord.Reversal(rawValue: f[3].utf8.first!) else { return nil }
                debit = mode
            }
            self = .reversed(BankBooks.ReversalRecord(transactionID: String(f[1]), date: date, debit: debit, credit: f[4] == "1"))
        case "F":
            guard f.count == 2, !f[1].isEmpty else { return nil }
            let ids = f[1].split(separator: ";", omittingEmptySubsequences: false)
            guard ids.allSatisfy({ BankBooks.isValidIdentifier($0) }) else { return nil }
            self = .completed(ids.map(String.init))
        default:
            return nil
        }
    }

    /// `ID:VALUE[:ROLE]` items; empty text is an empty list.
    private static func items(_ text: Substring) -> [BankBooks.CoinItem]? {
        guard !text.isEmpty else { return [] }
        var items: [BankBooks.CoinItem] = []
        for item in text.split(separator: ";", omittingEmptySubsequences: false) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, let value = Int64(parts[1]) else { return nil }
            var role = BankBooks.CoinItem.Role.owned
            if parts.count == 3 {
                guard parts[2].utf8.count == 1, let parsed = BankBooks.CoinItem.Role(rawValue: parts[2].utf8.first!), parsed != .owned else { return nil }
                role = parsed
            }
            items.append(BankBooks.CoinItem(id: String(parts[0]), value: value, role: role))
        }
        return items
    }
}

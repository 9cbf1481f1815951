import ISO8583
import ISO8583Network

extension BankBooks.Answer {
    /// The response to `request` (0110, 0210, 0430 or 0510) carrying this answer, per `Specs/FLOWS.md`.
    ///
    /// Echoes DE 3, 4, 7, 11, 32, 33, 37, 41, 49 and 100 as present (the match key DE 11 + 37 + 41, and the fields the
    /// catalogue makes mandatory in the response), DE 124.05 and 124.13; adds DE 39, DE 38 on approvals, and:
    /// - account opening: DE 102 (the new wallet) and DE 124.01 (its public key, hex);
    /// - debit: DE 124.03 (spent coins, `ID:VALUE:T|R`) and DE 124.11 (new coins, `ID:VALUE:P|C`);
    /// - reversal: DE 90;
    /// - reconciliation: DE 15, 50, 66, 74–77, 86–89, 97, 99.
    public func response(to request: ISO8583Message, institution: String) -> ISO8583Message {
        var response = ISO8583Message(mti: request.mti.response, capacity: 384)
        for number in Self.echoed {
            if let value = request[number] { response[number] = value }
        }
        response[39] = self.responseCode.rawValue
        let dcData = TaggedElements.parse(request, field: 124, lengthDigits: 3) ?? .none
        var elements: [(tag: Int, value: String)] = []
        var transactionID = dcData[5].flatMap { BankBooks.isValidIdentifier($0) ? $0 : nil }
        switch self {
        case .opened(let opened):
            response[38] = Self.authorizationCode(opened.key)
            response[102] = opened.address
            elements.append((1, opened.publicKeyHex))
        case .debited(let record):
            transactionID = record.transactionID
            response[38] = Self.authorizationCode(record.transactionID)
            elements.append((3, BankBooks.CoinItem.list(record.spent)))
            if !record.created.isEmpty { elements.append((11, BankBooks.CoinItem.list(record.created))) }
        case .credited(let record):
            transactionID = record.transactionID
            response[38] = Self.authorizationCode(record.transactionID)
        case .reversed:
            if let original = request[90] { response[90] = original }
        case .acknowledged:
            break
        case .reconciled(let date, let totals, let settlementCode):
            response[15] = date.description
            response[50] = request[50] ?? "156"
            response[66] = String(settlementCode)
            for (field, value) in BankBooks.reconciliationFields(totals) {
                response[field] = ISO8583LinkCodec.digits(Int(value), width: field < 80 ? 10 : 16)
            }
            response[97] = BankBooks.signedAmount(totals.net)
            response[99] = request[99] ?? institution
        case .declined:
            if request.mti.messageClass == 4, let original = request[90] { response[90] = original }
        }
        if let transactionID { elements.insert((5, transactionID), at: elements.firstIndex { $0.tag > 5 } ?? elements.endIndex) }
        if let flow = dcData[13] { elements.append((13, flow)) }
        if !elements.isEmpty, let text = TaggedElements.buildDCData(elements) {
            response[124] = text
        }
        return response
    }

    static let echoed = [3, 4, 7, 11, 32, 33, 37, 41, 49, 100]

    /// DE 38: six digits derived from the transaction id, the same on every repeat.
    static func authorizationCode(_ key: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return ISO8583LinkCodec.digits(Int(hash % 1_000_000), width: 6)
    }
}

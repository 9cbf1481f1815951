import BankSimulator
import DigitalCurrency
import ISO8583
import ISO8583Network

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small banks and the messages the switch sends them, built per `Specs/FLOWS.md`.
enum BankFixtures {
    static let spec = MessageSpec.builtin("dcswitch-1987")!

    /// A bank with `customers` customers (3 coins of 1,000 each, 1,000,000 in the account), 3 merchants and a treasury
    /// of 20 coins of 1,000, on port 0.
    static func bank(id: String = "BANKA", institution: String = "10000000001", bin: String = "476173", customers: Int = 10) -> BankConfiguration {
        BankConfiguration(
            id: id, institution: institution, port: 0, bins: [bin],
            customers: .init(count: customers, accountBalance: 1_000_000, walletCoins: 3, coinValue: 1000),
            merchants: .init(count: 3),
            treasury: .init(coins: 20, coinValue: 1000)
        )
    }

    static let seedA = SeedData(bank: bank())
    static let seedB = SeedData(bank: bank(id: "BANKB", institution: "10000000002", bin: "522011"))

    static let switchInstitution = "00000000099"

    /// DE 124 from `(tag, value)` pairs.
    static func dc(_ elements: [(String, String)]) -> String {
        try! Subfields.build(elements.map { Subfield(id: $0.0, value: $0.1) }, as: self.spec.field(124)!.subfields!, field: 124)
    }

    static func common(_ mti: MTI, stan: Int, date: String = "0315") -> ISO8583Message {
        var message = ISO8583Message(mti: mti)
        message[7] = date + "101500"
        message[11] = ISO8583LinkCodec.digits(stan % 1_000_000, width: 6)
        message[12] = "101500"
        message[13] = date
        message[32] = "00000000777"
        message[33] = self.switchInstitution
        message[37] = ISO8583LinkCodec.digits(stan, width: 12)
        message[41] = "TERM0001"
        message[49] = "156"
        return message
    }

    /// A debit leg paid from `payer` (payments and redeem).
    static func walletDebit(txn: String, amount: Int64, payer: String, payee: String?, flow: Flow = .nfc, stan: Int = 1, date: String = "0315") -> ISO8583Message {
        var message = self.common(.financialRequest, stan: stan, date: date)
        message[3] = flow == .redeem ? "409010" : "009000"
        message.amount = amount
        message[102] = payer
        if let payee { message[103] = payee }
        message[124] = self.dc([("02", "AB12"), ("04", "N0NCE"), ("05", txn), ("13", flow.rawValue), ("14", "10000000002")])
        return message
    }

    /// A transfer-in debit leg: the card's account pays, the treasury gives the coins.
    static func transferInDebit(txn: String, amount: Int64, card: String, payee: String, stan: Int = 1, date: String = "0315") -> ISO8583Message {
        var message = self.common(.financialRequest, stan: stan, date: date)
        message[2] = card
        message[3] = "401090"
        message.amount = amount
        message[103] = payee
        message[124] = self.dc([("05", txn), ("13", "transfer-in"), ("14", "10000000001")])
        return message
    }

    /// A credit leg to a wallet (`210090`) or, with `card`, to an account (`210010`).
    static func credit(txn: String, amount: Int64, coins: String, wallet: String? = nil, card: String? = nil, flow: Flow = .nfc, stan: Int = 2, date: String = "0315") -> ISO8583Message {
        var message = self.common(.financialRequest, stan: stan, date: date)
        if let card {
            message[2] = card
            message[3] = "210010"
        } else {
            message[3] = "210090"
            message[103] = wallet
        }
        message.amount = amount
        message[124] = self.dc([("03", coins), ("05", txn + "/C"), ("13", flow.rawValue)])
        return message
    }

    /// A reversal (0420, or 0421 with `repeat`) of the leg with transaction id `txn`.
    static func reversal(txn: String, amount: Int64, stan: Int = 3, repeat isRepeat: Bool = false, date: String = "0315") -> ISO8583Message {
        var message = self.common(isRepeat ? .reversalAdviceRepeat : .reversalAdvice, stan: stan, date: date)
        message[3] = "009000"
        message.amount = amount
        message[90] = "0200" + "000001" + date + "101500" + "00000000777" + self.switchInstitution
        message[124] = self.dc([("05", txn), ("13", "nfc")])
        return message
    }

    /// A completion advice (0620): the switch completed transactions `txns`.
    static func completion(_ txns: [String], stan: Int = 5) -> ISO8583Message {
        var message = ISO8583Message(mti: MTI(value: 620))
        message[7] = "0315101500"
        message[11] = ISO8583LinkCodec.digits(stan, width: 6)
        message[33] = self.switchInstitution
        message[124] = self.dc([("15", txns.joined(separator: ";"))])
        return message
    }

    /// An account opening (0100) for the customer whose account is `account`.
    static func openAccount(account: String, stan: Int = 4, txn: String? = nil) -> ISO8583Message {
        var message = self.common(.authorizationRequest, stan: stan)
        message[3] = "900000"
        message[22] = "012"
        message[48] = try! Subfields.build(
            [Subfield(id: "01", value: "Customer"), Subfield(id: "02", value: "ID-\(account)"), Subfield(id: "03", value: account)],
            as: self.spec.field(48)!.subfields!, field: 48
        )
        message[100] = "10000000001"
        var dc: [(String, String)] = []
        if let txn { dc.append(("05", txn)) }
        dc.append(("13", "account-open"))
        message[124] = self.dc(dc)
        return message
    }

    /// A reconciliation request (0500) for settlement date `date`.
    static func reconciliation(date: String, stan: Int = 5) -> ISO8583Message {
        var message = ISO8583Message(mti: .reconciliationRequest)
        message[7] = date + "235900"
        message[11] = ISO8583LinkCodec.digits(stan, width: 6)
        message[15] = date
        message[50] = "156"
        message[99] = self.switchInstitution
        return message
    }

    /// A copy of `message` as it arrives over the wire (encoded, then decoded with the spec).
    static func wire(_ message: ISO8583Message) throws -> ISO8583Message {
        var buffer = ByteBufferAllocator().buffer(capacity: 512)
        try self.spec.encode(message, into: &buffer)
        return try self.spec.decode(buffer)
    }

    /// An element of DE 124.
    static func dcValue(_ message: ISO8583Message, _ tag: String) -> String? {
        try? message.value(at: FieldPath(field: 124, subfield: tag), spec: self.spec)
    }

    /// A fresh path in the temporary directory.
    static func temporaryPath(_ name: String) -> String {
        var template = Array("/tmp/bank-test-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { buffer -> String in
            guard let pointer = mkdtemp(buffer.baseAddress!) else { return "/tmp" }
            return String(cString: pointer)
        }
        return directory + "/" + name
    }
}

import NIOCore

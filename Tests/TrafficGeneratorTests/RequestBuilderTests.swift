import Crypto
import DigitalCurrency
import ISO8583
import Testing

@testable import TrafficGenerator

@Suite("Requests per flow (Specs/FLOWS.md)")
struct RequestBuilderTests {
    static let network = smallNetwork()
    static let seedData = seeds(of: network)
    static let spec = MessageSpec.builtin("dcswitch-1987")!

    /// What FLOWS.md asks of each flow's request: MTI, DE 3, DE 22, the fields that must be there, those that must
    /// not, and the DE 124 elements.
    struct Expectation: Sendable, CustomTestStringConvertible {
        var flow: Flow
        var mti: String
        var de3: String
        var de22: String
        var present: [Int]
        var absent: [Int]
        var de124: [String]
        var testDescription: String { self.flow.rawValue }
    }

    static let expectations: [Expectation] = [
        .init(flow: .accountOpen, mti: "0100", de3: "900000", de22: "012", present: [48, 100], absent: [2, 4, 102, 103], de124: ["13"]),
        .init(flow: .transferIn, mti: "0200", de3: "401090", de22: "012", present: [2, 4, 103], absent: [102], de124: ["04", "13"]),
        .init(flow: .redeem, mti: "0200", de3: "409010", de22: "012", present: [2, 4, 102], absent: [103], de124: ["02", "04", "13"]),
        .init(flow: .nfc, mti: "0200", de3: "009000", de22: "071", present: [4, 42, 102, 103], absent: [2], de124: ["02", "04", "08", "13"]),
        .init(flow: .qrBSC, mti: "0200", de3: "009000", de22: "031", present: [4, 42, 103], absent: [2, 102], de124: ["04", "07", "13"]),
        .init(flow: .qrCSB, mti: "0200", de3: "009000", de22: "032", present: [4, 42, 102], absent: [2, 103], de124: ["02", "04", "07", "13"]),
        .init(flow: .inApp, mti: "0200", de3: "009000", de22: "010", present: [4, 42, 102, 103], absent: [2], de124: ["02", "04", "13"]),
    ]

    /// Builds, encodes and strictly decodes a request of `flow`.
    static func request(_ flow: Flow, model: inout WorkloadModel, random: inout LoadRandom) throws -> (ISO8583Message, PlannedTransaction, PayerAuthorization?) {
        let plan = try #require(model.tryPlan(flow, random: &random))
        var nonces = NonceSource(salt: 77, start: 0, stride: 1)
        let nonce = nonces.next()
        var authorization: PayerAuthorization?
        if RequestBuilder.isSigned(flow), let signer = model.wallets[plan.payerWallet].signer {
            authorization = PayerAuthorization(
                wallet: plan.payerWallet, amount: plan.amount, nonce: nonce,
                signature: PayerAuthorization.sign(signer, amount: plan.amount, nonce: nonce)
            )
        }
        let ids = RequestBuilder.Identifiers(
            stan: "000042", rrn: "ABCDE0000001", nonce: nonce, terminal: "LG000001",
            clock: ClockFields(nanosecondsSinceEpoch: 1_763_700_000_000_000_000)
        )
        let counter = flow == .nfc ? model.nextOfflineCounter(wallet: plan.payerWallet) : 0
        let built = RequestBuilder().request(for: plan, model: model, ids: ids, signature: authorization?.signature, offlineCounter: counter)
        let wire = try spec.encode(built)
        let decoded = try spec.decode(wire, options: .strict)
        return (decoded, plan, authorization)
    }

    @Test("each flow's request has the fields FLOWS.md requires", arguments: expectations)
    func fieldsPerFlow(_ expected: Expectation) throws {
        var model = WorkloadModel(seeds: Self.seedData)
        var random = LoadRandom(seed: 17)
        let (message, plan, authorization) = try Self.request(expected.flow, model: &model, random: &random)
        #expect(message.mti.description == expected.mti)
        #expect(message[3] == expected.de3)
        #expect(message[22] == expected.de22)
        // Common fields.
        #expect(message[7] == "1121044000")
        #expect(message[11] == "000042")
        #expect(message[12] == "044000")
        #expect(message[13] == "1121")
        #expect(message[32] == "30000000001")
        #expect(message[37] == "ABCDE0000001")
        #expect(message[49] == "156")
        #expect(message[41]?.count == 8)
        for field in expected.present { #expect(message.contains(field), "DE \(field) missing") }
        for field in expected.absent { #expect(!message.contains(field), "DE \(field) should be absent") }
        if expected.flow != .accountOpen {
            #expect(message.amount == plan.amount)
        }
        let elements = try Subfields.parse(try #require(message[124]), as: try #require(Self.spec.field(124)?.subfields), field: 124)
        #expect(elements.map(\.id) == expected.de124)
        #expect(try message.value(at: "124.13") == expected.flow.rawValue)

        switch expected.flow {
        case .accountOpen:
            let customer = model.customers[plan.customer]
            #expect(try message.value(at: "48.01") == customer.name)
            #expect(try message.value(at: "48.03") == customer.account)
            #expect(try message.value(at: "48.02")?.isEmpty == false)
            #expect(message[100] == model.institutions[customer.bank])
            #expect(message[41] == "LG000001")
        case .transferIn:
            #expect(message[2] == model.customers[plan.customer].card)
            #expect(message[103] == model.wallets[plan.payeeWallet].address)
        case .redeem:
            #expect(message[2] == model.customers[plan.customer].card)
            #expect(message[102] == model.wallets[plan.payerWallet].address)
        case .nfc, .qrBSC, .qrCSB, .inApp:
            let merchant = model.merchants[plan.merchant]
            #expect(message[41] == merchant.terminalID)
            #expect(message[42] == merchant.merchantID)
            let payer = model.wallets[plan.payerWallet].address
            let payee = model.wallets[plan.payeeWallet].address
            let nonce = try message.value(at: "124.04")
            if expected.flow == .qrBSC {
                #expect(try message.value(at: "124.07") == "DCQR1:B:\(payer):\(nonce ?? "")")
                #expect(message[103] == payee)
            } else if expected.flow == .qrCSB {
                #expect(try message.value(at: "124.07") == "DCQR1:C:\(payee)")
                #expect(message[102] == payer)
            } else {
                #expect(message[102] == payer)
                #expect(message[103] == payee)
            }
            if expected.flow == .nfc {
                #expect(try message.value(at: "124.08") == "0000000001")
            }
        }
        // A signed request carries the payer's signature over the payer, the amount and the nonce.
        if let authorization {
            let signature = try #require(try message.value(at: "124.02"))
            #expect(signature == authorization.signature)
            #expect(signature.count == 128)
            let wallet = try #require(model.wallets[authorization.wallet].signer)
            let raw = try #require(hexBytes(signature))
            let ecdsa = try P256.Signing.ECDSASignature(rawRepresentation: raw)
            let signed = PayerAuthorization.signedMessage(payer: wallet.address, amount: plan.amount, nonce: try #require(try message.value(at: "124.04")))
            #expect(wallet.privateKey.publicKey.isValidSignature(ecdsa, for: signed))
            #expect(!wallet.privateKey.publicKey.isValidSignature(ecdsa, for: PayerAuthorization.signedMessage(payer: wallet.address, amount: plan.amount + 1, nonce: "X")))
        }
    }

    @Test("wallet addresses in requests route by the institution they embed")
    func walletRouting() throws {
        var model = WorkloadModel(seeds: Self.seedData)
        var random = LoadRandom(seed: 4)
        for _ in 0..<20 {
            let (message, plan, _) = try Self.request(.inApp, model: &model, random: &random)
            let payer = try #require(message[102])
            #expect(payer.count == 53)
            #expect(Wallet.institution(ofAddress: payer) == model.institutions[model.wallets[plan.payerWallet].bank])
        }
    }

    @Test("nonces do not repeat; shards draw from disjoint counters")
    func nonces() {
        var seen: Set<String> = []
        for shard in 0..<3 {
            var source = NonceSource(salt: 0xFEED, start: UInt64(shard), stride: 3)
            for _ in 0..<2_000 { seen.insert(source.next()) }
        }
        #expect(seen.count == 6_000)
        #expect(seen.allSatisfy { $0.count == 16 && $0.allSatisfy(\.isHexDigit) })
    }

    @Test("DE 124 of an answer: transaction id and owner-change record count")
    func responseSummary() throws {
        var response = ISO8583Message(mti: "0210")
        var tlv = TLVText(lengthDigits: 3)
        tlv.append("03", "C1:10000:R;C2:500:T")
        tlv.append("05", "TX123")
        tlv.append("11", "C3:400:P;C4:9600:C")
        tlv.append("13", "nfc")
        response[39] = "00"
        response[124] = tlv.text
        let decoded = try Self.spec.decode(try Self.spec.encode(self.completed(response)), options: .strict)
        let summary = ResponseSummary(response: decoded)
        #expect(summary.isApproved)
        #expect(summary.transactionID == "TX123")
        #expect(summary.ownerChangeRecords == 4)

        response[39] = "51"
        let declined = ResponseSummary(response: try Self.spec.decode(try Self.spec.encode(self.completed(response)), options: .strict))
        #expect(!declined.isApproved)
        #expect(declined.responseCodeText == "51")
        #expect(declined.transactionID == nil)
        #expect(declined.ownerChangeRecords == 0)
    }

    /// The mandatory fields of a 0210 around the ones a test sets.
    private func completed(_ message: ISO8583Message) -> ISO8583Message {
        var m = message
        m[3] = "009000"
        m[4] = "000000001000"
        m[7] = "1121044000"
        m[11] = "000001"
        m[37] = "ABCDE0000001"
        m[41] = "TERM0001"
        m[49] = "156"
        return m
    }
}

func hexBytes(_ text: String) -> [UInt8]? {
    var out: [UInt8] = []
    var chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    while !chars.isEmpty {
        guard let hi = hexNibble(chars.removeFirst()), let lo = hexNibble(chars.removeFirst()) else { return nil }
        out.append(hi << 4 | lo)
    }
    return out
}

private func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 65...70: return c - 55
    case 97...102: return c - 87
    default: return nil
    }
}

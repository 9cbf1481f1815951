import DigitalCurrency
import ISO8583

/// An acquirer's request, read into what the switch needs to route and carry it (see `Specs/FLOWS.md`).
struct PaymentRequest {
    /// One side of a payment.
    enum Party: Hashable {
        /// A DC wallet.
        case wallet(String)
        /// A bank account, named by its card.
        case card(String)
    }

    var flow: Flow
    var amount: Int64
    var payer: Party
    var payee: Party
    /// DE 124 of the request, by element id.
    var dcData: [String: String]

    /// Reads `request`; throws a format error naming what is missing.
    init(_ request: ISO8583Message, flow: Flow, spec: MessageSpec) throws(SwitchError) {
        self.flow = flow
        guard let amount = request.amount, amount > 0 else {
            throw SwitchError(.formatError, "DE 4 (amount) is missing or zero")
        }
        self.amount = amount
        self.dcData = try PaymentRequest.dcData(of: request, spec: spec)
        let qr = self.dcData["07"]

        switch flow {
        case .transferIn:
            guard let card = request.pan else { throw SwitchError(.formatError, "transfer-in needs DE 2 (the card of the paying account)") }
            guard let wallet = request.payeeWallet else { throw SwitchError(.formatError, "transfer-in needs DE 103 (the wallet to fund)") }
            self.payer = .card(card)
            self.payee = .wallet(wallet)
        case .redeem:
            guard let wallet = request.payerWallet else { throw SwitchError(.formatError, "redeem needs DE 102 (the wallet to redeem from)") }
            guard let card = request.pan else { throw SwitchError(.formatError, "redeem needs DE 2 (the card of the receiving account)") }
            self.payer = .wallet(wallet)
            self.payee = .card(card)
        case .qrBSC:
            // The merchant scanned the payer's dynamic code: DCQR1:B:<payer wallet>:<nonce>.
            let payer = request.payerWallet ?? qr.flatMap { PaymentRequest.qrField($0, kind: "B") }
            guard let payer else { throw SwitchError(.formatError, "qr-bsc needs the payer's code in DE 124.07 (DCQR1:B:WALLET:NONCE)") }
            guard let payee = request.payeeWallet else { throw SwitchError(.formatError, "qr-bsc needs DE 103 (the merchant's wallet)") }
            self.payer = .wallet(payer)
            self.payee = .wallet(payee)
        case .qrCSB:
            // The payer scanned the merchant's static code: DCQR1:C:<merchant wallet>.
            guard let payer = request.payerWallet else { throw SwitchError(.formatError, "qr-csb needs DE 102 (the payer's wallet)") }
            let fromCode = qr.flatMap { PaymentRequest.qrField($0, kind: "C") }
            guard let payee = fromCode ?? request.payeeWallet else {
                throw SwitchError(.formatError, "qr-csb needs the merchant's code in DE 124.07 (DCQR1:C:WALLET)")
            }
            if let stated = request.payeeWallet, let fromCode, stated != fromCode {
                throw SwitchError(.formatError, "DE 103 and the merchant's code in DE 124.07 name different wallets")
            }
            self.payer = .wallet(payer)
            self.payee = .wallet(payee)
        case .nfc, .inApp:
            guard let payer = request.payerWallet else { throw SwitchError(.formatError, "\(flow.rawValue) needs DE 102 (the payer's wallet)") }
            guard let payee = request.payeeWallet else { throw SwitchError(.formatError, "\(flow.rawValue) needs DE 103 (the payee's wallet)") }
            self.payer = .wallet(payer)
            self.payee = .wallet(payee)
        case .accountOpen:
            throw SwitchError(.unsupportedTransaction, "account opening is not a payment")
        }
    }

    /// The flow a request asks for: MTI, DE 3 and DE 22 (DE 124.13 when it names one).
    static func flow(of request: ISO8583Message) throws(SwitchError) -> Flow {
        let code = request.processingCode ?? ""
        switch request.mti.messageClass {
        case 1 where code == "900000":
            return .accountOpen
        case 2:
            switch code {
            case "401090": return .transferIn
            case "409010": return .redeem
            case "009000":
                switch request.entryMode ?? "" {
                case "071": return .nfc
                case "031": return .qrBSC
                case "032": return .qrCSB
                case "010": return .inApp
                default:
                    throw SwitchError(.formatError, "DE 22 \(request.entryMode ?? "(missing)") is not a DC payment entry mode (071, 031, 032, 010)")
                }
            default:
                throw SwitchError(.unsupportedTransaction, "DE 3 \(code) is not a DC transaction (401090, 409010, 009000)")
            }
        default:
            throw SwitchError(.unsupportedTransaction, "MTI \(request.mti) with DE 3 \(code) is not carried by this switch")
        }
    }

    static func dcData(of request: ISO8583Message, spec: MessageSpec) throws(SwitchError) -> [String: String] {
        guard let text = request[124], !text.isEmpty else { return [:] }
        guard let layout = spec.field(124)?.subfields else { return [:] }
        do throws(ISO8583Error) {
            var data: [String: String] = [:]
            for element in try Subfields.parse(text, as: layout, field: 124) { data[element.id] = element.value }
            return data
        } catch {
            throw SwitchError(.formatError, "DE 124: \(error.message)")
        }
    }

    /// The wallet in a `DCQR1:<kind>:<wallet>[:…]` payload.
    static func qrField(_ payload: String, kind: Character) -> String? {
        let parts = payload.split(separator: ":")
        guard parts.count >= 3, parts[0] == "DCQR1", parts[1].count == 1, parts[1].first == kind else { return nil }
        return String(parts[2])
    }
}

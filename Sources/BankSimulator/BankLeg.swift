import ISO8583

/// What the switch asks of a bank in one message (see `Specs/FLOWS.md`).
public enum BankLeg: Hashable, Sendable {
    /// 0100 DE 3 `900000`: open a DC wallet for a customer.
    case openAccount
    /// 0200 with the acquirer's DE 3: check the right to use and de-own (or debit the account).
    case debit
    /// 0200 DE 3 `2100xx`: own the coins in DE 124.03 (and credit the account for `210010`).
    case credit
    /// 0420/0421: undo the leg named by DE 124.05.
    case reversal
    /// 0500: reconciliation totals.
    case reconciliation
    /// 0620: the switch completed the transactions listed in DE 124.15; the coins they brought in become spendable.
    case completion

    /// The leg a request from the switch asks for, or `nil` when the bank does not handle that message.
    public init?(request: ISO8583Message) {
        switch request.mti.messageClass {
        case 1 where request.processingCode == "900000":
            self = .openAccount
        case 2:
            self = request.processingCode?.hasPrefix("21") == true ? .credit : .debit
        case 4:
            self = .reversal
        case 5:
            self = .reconciliation
        case 6 where request.mti.function == 2:
            self = .completion
        default:
            return nil
        }
    }
}

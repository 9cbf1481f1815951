/// The flows of the paper (§3.2) the switch carries, by the names used in `--mix` and in reports.
public enum Flow: String, Hashable, Sendable, CaseIterable, Comparable {
    /// The bank creates the wallet; the switch records its public key; the identity goes to the registration center.
    case accountOpen = "account-open"
    /// Exchange: bank account → DC wallet.
    case transferIn = "transfer-in"
    /// Exchange: DC wallet → bank account.
    case redeem = "redeem"
    /// Near-field payment at a terminal.
    case nfc = "nfc"
    /// The merchant scans the payer's dynamic code.
    case qrBSC = "qr-bsc"
    /// The payer scans the merchant's static code.
    case qrCSB = "qr-csb"
    /// Remote payment through the wallet SDK.
    case inApp = "in-app"

    public static func < (lhs: Flow, rhs: Flow) -> Bool {
        Flow.allCases.firstIndex(of: lhs)! < Flow.allCases.firstIndex(of: rhs)!
    }
}

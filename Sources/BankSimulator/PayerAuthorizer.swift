/// Decides whether the payer of a debit leg may spend: the place where the payer's signature (DE 124.02) over the
/// transaction is verified against the wallet's public key. The security work fills it; the default allows every
/// payer.
public protocol PayerAuthorizer: Sendable {
    /// Whether `payment` is authorized; a refusal answers 63.
    func authorize(_ payment: PaymentAuthorization) -> Bool
}

/// What a ``PayerAuthorizer`` is shown of a debit leg paid from a wallet.
public struct PaymentAuthorization: Sendable {
    /// The payer's wallet address.
    public var payerWallet: String
    /// The payer's public key as the bank holds it (X9.63, upper-case hex).
    public var publicKeyHex: String
    /// DE 4.
    public var amount: Int64
    /// The payee's wallet (DE 103 or the QR payload), when the leg names one.
    public var payeeWallet: String?
    /// DE 124.05, the switch's transaction id.
    public var transactionID: String?
    /// DE 124.02.
    public var signature: String?
    /// DE 124.04.
    public var nonce: String?

    public init(payerWallet: String, publicKeyHex: String, amount: Int64, payeeWallet: String?, transactionID: String?, signature: String?, nonce: String?) {
        self.payerWallet = payerWallet
        self.publicKeyHex = publicKeyHex
        self.amount = amount
        self.payeeWallet = payeeWallet
        self.transactionID = transactionID
        self.signature = signature
        self.nonce = nonce
    }
}

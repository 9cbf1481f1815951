/// The identity registration of an account opening (paper §3.2.1 step 3): the wallet the bank created, its public
/// key, and who it belongs to, as the central bank's registration center records it.
public struct WalletRegistration: Hashable, Sendable {
    /// The wallet address (derived from the public key).
    public var address: String
    /// The wallet's public key, hex or base64 as the bank produced it.
    public var publicKey: String
    /// Institution code of the bank that opened the wallet.
    public var bank: String
    /// The bank's reference for the customer (never a card number or other sensitive data).
    public var customerReference: String
    /// When the account was opened, nanoseconds since the Unix epoch.
    public var openedAtNanos: Int64

    public init(address: String, publicKey: String, bank: String, customerReference: String, openedAtNanos: Int64) {
        self.address = address
        self.publicKey = publicKey
        self.bank = bank
        self.customerReference = customerReference
        self.openedAtNanos = openedAtNanos
    }
}

import DigitalCurrency

/// An owner-change record the registry refused to apply to its coin state.
///
/// The record itself is kept in `owner_changes` (it is what the switch approved); the coin keeps its registered
/// owner, and the alert goes to the `alerts` table and the `registry_alerts_total` counter.
public struct RegistryAlert: Sendable, Hashable {
    /// Why the record was refused.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The coin was spent again: it is retired, or the spender owned it before and has already paid it away.
        case doubleSpend = "double_spend"
        /// The spender is not, and was not just before, the coin's owner.
        case wrongOwner = "wrong_owner"
        /// A transfer or retirement of a coin the registry has never seen.
        case unknownCoin = "unknown_coin"
        /// An issue or create of a coin id that already exists.
        case duplicateCoin = "duplicate_coin"
        /// The record lacks a wallet its kind needs (a transfer without `to`, a retire without `from`, …).
        case malformedRecord = "malformed_record"
    }

    public var kind: Kind
    public var transactionID: String
    public var coinID: String
    /// The wallet the record says spent the coin.
    public var claimedOwner: String?
    /// The coin's owner in the registry when the record was checked.
    public var registeredOwner: String?
    /// The coin's status in the registry when the record was checked (`nil` when the coin does not exist).
    public var coinStatus: Coin.Status?
    /// For people.
    public var detail: String

    /// Creates an alert.
    public init(
        kind: Kind, transactionID: String, coinID: String, claimedOwner: String?, registeredOwner: String?,
        coinStatus: Coin.Status?, detail: String
    ) {
        self.kind = kind
        self.transactionID = transactionID
        self.coinID = coinID
        self.claimedOwner = claimedOwner
        self.registeredOwner = registeredOwner
        self.coinStatus = coinStatus
        self.detail = detail
    }
}

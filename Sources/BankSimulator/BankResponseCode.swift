/// A DE 39 code a simulated bank answers with (see `Specs/FLOWS.md`).
public struct BankResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The two characters of DE 39.
    public var rawValue: String

    /// A code from its DE 39 text.
    public init(rawValue: String) { self.rawValue = rawValue }

    public var description: String { self.rawValue }

    /// Whether the code approves the leg.
    public var isApproval: Bool { self == .approved }

    /// `00`: approved (a reversal: done, or already done).
    public static let approved = BankResponseCode(rawValue: "00")
    /// `12`: the bank cannot carry out this request (an unsupported message, or a reversal that can no longer be
    /// undone exactly because the coins it would take back have moved on).
    public static let invalidTransaction = BankResponseCode(rawValue: "12")
    /// `14`: unknown card, account or wallet.
    public static let unknownAccount = BankResponseCode(rawValue: "14")
    /// `25`: a reversal of a transaction the bank has no record of (nothing to undo).
    public static let unknownTransaction = BankResponseCode(rawValue: "25")
    /// `30`: a field is missing or invalid.
    public static let formatError = BankResponseCode(rawValue: "30")
    /// `51`: the account or wallet holds less than the amount.
    public static let insufficientFunds = BankResponseCode(rawValue: "51")
    /// `57`: not permitted to this cardholder (a wallet asked to pay itself, or the treasury named as payer).
    public static let notPermitted = BankResponseCode(rawValue: "57")
    /// `61`: the wallet has the value, but in more coins than one message can list (DE 124.03 is at most 999
    /// characters).
    public static let exceedsLimit = BankResponseCode(rawValue: "61")
    /// `63`: the payer authorizer refused the payer's signature.
    public static let securityViolation = BankResponseCode(rawValue: "63")
    /// `94`: a repeat of a leg whose transaction was completed (the bank no longer holds the original answer, and
    /// never executes a leg twice).
    public static let duplicate = BankResponseCode(rawValue: "94")
    /// `96`: internal failure (and the fault injector's error answers).
    public static let systemMalfunction = BankResponseCode(rawValue: "96")
}

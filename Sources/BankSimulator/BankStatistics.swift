/// What a simulated bank has done since it started.
public struct BankStatistics: Hashable, Sendable {
    /// Requests handed to the books, by leg.
    public var openAccounts: Int = 0
    public var debits: Int = 0
    public var credits: Int = 0
    public var reversals: Int = 0
    public var reconciliations: Int = 0
    /// Completion advices (0620).
    public var completions: Int = 0
    /// Requests the bank does not handle (answered 12).
    public var unsupported: Int = 0
    /// Legs answered with their original answer (same transaction id).
    public var repeats: Int = 0
    /// Answers by DE 39, injected errors included.
    public var responseCodes: [String: Int] = [:]
    /// Requests the fault injector dropped (never answered).
    public var dropped: Int = 0
    /// Requests the fault injector answered with 96 without touching the books.
    public var injectedErrors: Int = 0
    /// Legs whose journal write failed (not answered).
    public var journalFailures: Int = 0

    public init() {}

    /// Requests handed to the books.
    public var legs: Int {
        self.openAccounts + self.debits + self.credits + self.reversals + self.reconciliations + self.completions + self.unsupported
    }

    mutating func count(_ leg: BankLeg?, code: BankResponseCode, isRepeat: Bool) {
        switch leg {
        case .openAccount: self.openAccounts += 1
        case .debit: self.debits += 1
        case .credit: self.credits += 1
        case .reversal: self.reversals += 1
        case .reconciliation: self.reconciliations += 1
        case .completion: self.completions += 1
        case nil: self.unsupported += 1
        }
        if isRepeat { self.repeats += 1 }
        self.responseCodes[code.rawValue, default: 0] += 1
    }
}

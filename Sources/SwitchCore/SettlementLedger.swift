import Synchronization

/// Per-bank net positions per settlement date, and the 0500/0510 reconciliation totals.
public final class SettlementLedger: Sendable {
    /// One bank's totals for one settlement date, in minor units.
    public struct Totals: Hashable, Sendable, Codable {
        public var debits = 0
        public var debitAmount: Int64 = 0
        public var credits = 0
        public var creditAmount: Int64 = 0
        public var debitReversals = 0
        public var debitReversalAmount: Int64 = 0
        public var creditReversals = 0
        public var creditReversalAmount: Int64 = 0

        public init() {}

        /// What the bank is owed (positive) or owes (negative) for the date.
        public var net: Int64 {
            (self.creditAmount - self.creditReversalAmount) - (self.debitAmount - self.debitReversalAmount)
        }
    }

    private struct State {
        var date: String
        var totals: [String: [String: Totals]] = [:]
    }

    private let state: Mutex<State>

    /// Starts on settlement date `date` (`MMDD`).
    public init(date: String) {
        self.state = Mutex(State(date: date))
    }

    /// The settlement date transactions are booked to now.
    public var currentDate: String { self.state.withLock { $0.date } }

    /// Books an approved transfer of `amount` from `payerBank` to `payeeBank`.
    public func recordApproval(payerBank: String, payeeBank: String, amount: Int64) {
        self.state.withLock { state in
            let date = state.date
            state.totals[date, default: [:]][payerBank, default: Totals()].debits += 1
            state.totals[date, default: [:]][payerBank, default: Totals()].debitAmount += amount
            state.totals[date, default: [:]][payeeBank, default: Totals()].credits += 1
            state.totals[date, default: [:]][payeeBank, default: Totals()].creditAmount += amount
        }
    }

    /// Books a reversal of a debit (`isCredit == false`) or a credit leg at `bank`.
    public func recordReversal(bank: String, amount: Int64, isCredit: Bool) {
        self.state.withLock { state in
            let date = state.date
            if isCredit {
                state.totals[date, default: [:]][bank, default: Totals()].creditReversals += 1
                state.totals[date, default: [:]][bank, default: Totals()].creditReversalAmount += amount
            } else {
                state.totals[date, default: [:]][bank, default: Totals()].debitReversals += 1
                state.totals[date, default: [:]][bank, default: Totals()].debitReversalAmount += amount
            }
        }
    }

    /// Closes the current date and books to `newDate` from now on. Returns the closed date.
    @discardableResult
    public func cutover(to newDate: String) -> String {
        self.state.withLock { state in
            let closed = state.date
            state.date = newDate
            return closed
        }
    }

    /// `bank`'s totals for `date` (zero when nothing was booked).
    public func totals(bank: String, date: String) -> Totals {
        self.state.withLock { $0.totals[date]?[bank] ?? Totals() }
    }

    /// Every bank's totals for `date`.
    public func positions(date: String) -> [String: Totals] {
        self.state.withLock { $0.totals[date] ?? [:] }
    }
}

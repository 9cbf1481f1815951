import Foundation
import ISO8583
import Synchronization

/// The switch's log of the two-leg transactions it has in progress, so that a switch restarted after a crash of its
/// process finishes what the crash left open instead of leaving money in limbo at the banks.
///
/// A bank leg's effect is durable at the bank once it answers; without this log, a switch that died between a debit
/// and its credit (or between the approval and the completion advice) would forget the transaction: the payer's coins
/// stay de-owned and the change and the payee's coins stay pending for ever. One line per step, appended before the
/// step's message leaves the switch (written, not synced, like the answer log):
///
/// | line | when |
/// |---|---|
/// | `O TXN BANK HEX REF` | before an account opening leg (`HEX`) goes to the bank; `REF` is the customer reference (ans, may be empty) |
/// | `D TXN BANK HEX` | before the debit leg (`HEX`) goes to the payer's bank |
/// | `C TXN BANK HEX` | before the credit leg goes to the payee's bank |
/// | `A TXN BANK[,BANK]` | the owner-change records are durable: approved; completion advices go to these banks |
/// | `K BANK TXN;TXN;…` | the bank acknowledged the completion of these transactions |
/// | `E TXN` | ended otherwise: declined with no leg to undo, its reversals are in the (durable) reversal queue, or the wallet it opened is registered |
///
/// A transaction is open from its `D` line until its `E` line or until every bank of its `A` line acknowledged.
/// ``load()`` returns the open ones; the switch then re-sends the completions of approved transactions and, for the
/// others, asks the registration center whether their records made it (a crash between the records and the `A`
/// line) and reverses the legs of those whose records did not. The file is rewritten with only the open transactions
/// at start and whenever it grows past ``compactionBytes``. A torn last line (a crash mid-write) was never followed by
/// its message, and is skipped.
public final class TransactionLog: Sendable {
    /// A transaction the log shows open.
    public struct Open: Sendable {
        public var transactionID: String
        /// The payer bank and the debit leg sent to it.
        public var debit: (bank: String, leg: ISO8583Message)?
        /// The payee bank and the credit leg sent to it.
        public var credit: (bank: String, leg: ISO8583Message)?
        /// Approved: the banks whose completion acknowledgement is still missing.
        public var awaitingCompletion: Set<String>?
        /// An account opening: the bank, the leg sent to it and the customer reference to register.
        public var opening: (bank: String, leg: ISO8583Message, customerReference: String)?
    }

    /// What the log keeps in memory of an open transaction: the lines that a rewrite must carry over.
    private struct Entry {
        var openingLine: String?
        var debitLine: String?
        var creditLine: String?
        var awaiting: Set<String>?
    }

    private struct State {
        var open: [String: Entry] = [:]
        var bytesSinceCompaction = 0
        var compacting = false
    }

    /// The log file.
    public var path: String { self.file.path }
    /// Rewrite the file once this many bytes were appended since the last rewrite.
    public let compactionBytes: Int
    private let file: AppendOnlyFile
    private let spec: MessageSpec
    private let state = Mutex(State())

    /// Opens the log at `path`: reads the transactions it shows open (``openTransactions``), then rewrites it with
    /// only those.
    public init(path: String, spec: MessageSpec, compactionBytes: Int = 64 << 20) throws(SwitchError) {
        self.spec = spec
        self.compactionBytes = compactionBytes
        var entries: [String: Entry] = [:]
        var order: [String] = []
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                Self.replay(line, into: &entries, order: &order)
            }
        }
        self.file = try AppendOnlyFile(path: path)
        let kept = order.filter { entries[$0] != nil }
        var parsed: [Open] = []
        for txn in kept {
            let entry = entries[txn]!
            var open = Open(transactionID: txn, debit: nil, credit: nil, awaitingCompletion: entry.awaiting)
            open.debit = entry.debitLine.flatMap { Self.leg(of: $0, spec: spec) }
            open.credit = entry.creditLine.flatMap { Self.leg(of: $0, spec: spec) }
            open.opening = entry.openingLine.flatMap { Self.opening(of: $0, spec: spec) }
            parsed.append(open)
        }
        self.openTransactions = parsed
        self.state.withLock { $0.open = entries }
        try self.compact()
    }

    /// The transactions open when the log was opened, in the order they began.
    public let openTransactions: [Open]

    /// Transactions open now.
    public var openCount: Int { self.state.withLock { $0.open.count } }

    // MARK: Steps

    /// Before the account opening leg of `txn` goes to `bank`; `customerReference` is what the registration center
    /// gets with the wallet.
    public func opening(_ txn: String, bank: String, leg: ISO8583Message, customerReference: String) throws(SwitchError) {
        // The reference goes last: it may hold spaces (ans never holds a line break).
        let line = try self.legLine("O", txn, bank, leg).dropLast() + " " + customerReference + "\n"
        self.state.withLock { $0.open[txn] = Entry(openingLine: line) }
        try self.append(line)
    }

    /// Before the debit leg of `txn` goes to `bank`.
    public func debit(_ txn: String, bank: String, leg: ISO8583Message) throws(SwitchError) {
        let line = try self.legLine("D", txn, bank, leg)
        self.state.withLock { $0.open[txn] = Entry(debitLine: line) }
        try self.append(line)
    }

    /// Before the credit leg of `txn` goes to `bank`.
    public func credit(_ txn: String, bank: String, leg: ISO8583Message) throws(SwitchError) {
        let line = try self.legLine("C", txn, bank, leg)
        self.state.withLock { $0.open[txn, default: Entry()].creditLine = line }
        try self.append(line)
    }

    /// `txn`'s records are durable: approved; completion advices go to `banks`.
    public func approved(_ txn: String, banks: [String]) throws(SwitchError) {
        self.state.withLock { $0.open[txn, default: Entry()].awaiting = Set(banks) }
        try self.append("A \(txn) \(banks.joined(separator: ","))\n")
    }

    /// `bank` acknowledged the completion of `transactions`.
    public func acknowledged(_ transactions: [String], bank: String) throws(SwitchError) {
        self.state.withLock { state in
            for txn in transactions {
                guard var entry = state.open[txn], var awaiting = entry.awaiting else { continue }
                awaiting.remove(bank)
                if awaiting.isEmpty {
                    state.open[txn] = nil
                } else {
                    entry.awaiting = awaiting
                    state.open[txn] = entry
                }
            }
        }
        try self.append("K \(bank) \(transactions.joined(separator: ";"))\n")
    }

    /// `txn` ended without approval: nothing to undo, or its reversals are queued.
    public func ended(_ txn: String) throws(SwitchError) {
        self.state.withLock { _ = $0.open.removeValue(forKey: txn) }
        try self.append("E \(txn)\n")
    }

    // MARK: File

    private func legLine(_ kind: String, _ txn: String, _ bank: String, _ leg: ISO8583Message) throws(SwitchError) -> String {
        let hex: String
        do { hex = try self.spec.encodeHex(leg) } catch { throw SwitchError(.storage, "cannot log the \(kind == "D" ? "debit" : "credit") leg of \(txn): \(error)") }
        return "\(kind) \(txn) \(bank) \(hex)\n"
    }

    private static func opening(of line: String, spec: MessageSpec) -> (bank: String, leg: ISO8583Message, customerReference: String)? {
        var line = Substring(line)
        if line.last == "\n" { line = line.dropLast() }
        let parts = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, let message = try? spec.decode(hex: parts[3]) else { return nil }
        return (String(parts[2]), message, String(parts[4]))
    }

    private static func leg(of line: String, spec: MessageSpec) -> (bank: String, leg: ISO8583Message)? {
        let parts = line.utf8.split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var hex = Substring(parts[3])
        if hex.last == "\n" { hex = hex.dropLast() }
        guard let message = try? spec.decode(hex: hex) else { return nil }
        return (String(Substring(parts[2])), message)
    }

    private func append(_ line: String) throws(SwitchError) {
        try self.file.append(line)
        let compact = self.state.withLock { state -> Bool in
            state.bytesSinceCompaction += line.utf8.count
            guard state.bytesSinceCompaction >= self.compactionBytes, !state.compacting else { return false }
            state.compacting = true
            return true
        }
        if compact { try self.compact() }
    }

    /// Rewrites the file with the lines of the open transactions.
    private func compact() throws(SwitchError) {
        // Lines appended between the snapshot and the rewrite would be lost from the file: the rewrite holds the
        // state's lock only to snapshot, so take the snapshot inside the file's own critical section instead.
        defer { self.state.withLock { $0.compacting = false } }
        try self.file.replace { () -> String in
            self.state.withLock { state -> String in
                state.bytesSinceCompaction = 0
                var text = ""
                for (txn, entry) in state.open {
                    if let line = entry.openingLine { text += line }
                    if let line = entry.debitLine { text += line }
                    if let line = entry.creditLine { text += line }
                    if let awaiting = entry.awaiting { text += "A \(txn) \(awaiting.sorted().joined(separator: ","))\n" }
                }
                return text
            }
        }
    }

    /// Applies one line read back from the file.
    private static func replay(_ line: Substring, into entries: inout [String: Entry], order: inout [String]) {
        // A NUL byte: the torn tail of a crash (see ``AppendOnlyFile``).
        guard !line.utf8.contains(0) else { return }
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].count == 1 else { return }
        let txn = String(parts[1])
        switch parts[0] {
        case "O" where parts.count == 4:
            if entries[txn] == nil { order.append(txn) }
            entries[txn, default: Entry()].openingLine = String(line) + "\n"
        case "D" where parts.count == 4:
            if entries[txn] == nil { order.append(txn) }
            entries[txn, default: Entry()].debitLine = String(line) + "\n"
        case "C" where parts.count == 4:
            if entries[txn] == nil { order.append(txn) }
            entries[txn, default: Entry()].creditLine = String(line) + "\n"
        case "A" where parts.count == 3:
            if entries[txn] == nil { order.append(txn) }
            entries[txn, default: Entry()].awaiting = Set(parts[2].split(separator: ",").map(String.init))
        case "K" where parts.count == 3:
            let bank = txn
            for id in parts[2].split(separator: ";") {
                let txn = String(id)
                guard var entry = entries[txn], var awaiting = entry.awaiting else { continue }
                awaiting.remove(bank)
                if awaiting.isEmpty { entries[txn] = nil } else { entry.awaiting = awaiting; entries[txn] = entry }
            }
        case "E" where parts.count == 2:
            entries[txn] = nil
        default:
            return
        }
    }
}

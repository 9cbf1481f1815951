import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The books of one bank with their journal: takes a request from the switch, executes it, and answers once the
/// effect is durable. No network: ``SimulatedBank`` puts it behind an ISO 8583 server.
///
/// The books live behind a lock held only while deciding and applying a leg and queueing its journal line (so that the
/// journal's order is the books' order); the response is built and the durability awaited outside it.
public final class BankProcessor: Sendable {
    private struct State: Sendable {
        var books: BankBooks
        var statistics = BankStatistics()
    }

    /// The bank's configuration.
    public let bank: BankConfiguration
    /// The journal, when the bank keeps one.
    public let journal: BankJournal?
    /// Checks the payer's right to use the coins of a wallet debit; `nil` allows every payer.
    public let authorizer: (any PayerAuthorizer)?
    private let state: NIOLockedValueBox<State>
    private let logger: Logger

    private init(bank: BankConfiguration, books: BankBooks, journal: BankJournal?, authorizer: (any PayerAuthorizer)?, logger: Logger) {
        self.bank = bank
        self.journal = journal
        self.authorizer = authorizer
        self.state = NIOLockedValueBox(State(books: books))
        self.logger = logger
    }

    /// Seeds the books of `bank` and, with a journal, replays it onto them (crash recovery).
    ///
    /// Runs synchronously: seeding takes about 0.1 ms per wallet and replay about a microsecond per entry; call it off
    /// an event loop.
    ///
    /// - Parameters:
    ///   - bank: the bank.
    ///   - seed: the bank's seed when the caller already has it; generated otherwise.
    ///   - journalPath: where the journal is (created when missing); in memory only when `nil`.
    ///   - durability: when a leg counts as durable and may be answered (synced to disk by default).
    ///   - authorizer: checks the payer's signature on wallet debits; every payer is allowed when `nil`.
    ///   - logger: gets `bank.id` metadata.
    public static func open(
        bank: BankConfiguration, seed: SeedData? = nil, journalPath: String?, durability: BankJournal.Durability = .synced,
        authorizer: (any PayerAuthorizer)? = nil, logger: Logger
    ) throws(BankJournalError) -> BankProcessor {
        var logger = logger
        logger[metadataKey: "bank.id"] = .string(bank.id)
        var books = BankBooks(seed: seed ?? SeedData(bank: bank))
        var journal: BankJournal?
        if let journalPath {
            let header = "H|\(bank.id)|\(bank.institution)|\(books.seedFingerprint)"
            let opened = try BankJournal.open(path: journalPath, header: header, durability: durability, logger: logger)
            for (index, payload) in opened.payloads.enumerated() {
                guard let effect = BankBooks.Effect(journalPayload: Substring(payload)), books.apply(effect) else {
                    opened.journal.abandon()
                    throw BankJournalError(.replay, path: journalPath, "entry \(index + 1) does not replay onto the books")
                }
            }
            if !opened.payloads.isEmpty {
                logger.info("books recovered from the journal", metadata: ["journal.entries": "\(opened.payloads.count)"])
            }
            journal = opened.journal
        }
        return BankProcessor(bank: bank, books: books, journal: journal, authorizer: authorizer, logger: logger)
    }

    /// Executes `request` and returns its response once the leg's effect is durable.
    ///
    /// The future is on `eventLoop`. It gives `nil` (no answer: the switch times out and reverses) when the journal
    /// cannot be written.
    public func process(_ request: ISO8583Message, on eventLoop: any EventLoop) -> EventLoopFuture<ISO8583Message?> {
        let leg = BankLeg(request: request)
        if leg == .debit, let authorizer = self.authorizer, !self.authorize(request, with: authorizer) {
            self.state.withLockedValue { $0.statistics.count(leg, code: .securityViolation, isRepeat: false) }
            return eventLoop.makeSucceededFuture(BankBooks.Answer.declined(.securityViolation).response(to: request, institution: self.bank.institution))
        }
        // Key generation (tens of microseconds) stays out of the lock.
        let wallet = leg == .openAccount ? Wallet.random(institution: self.bank.institution) : nil
        let now = UTCClock.nowNanoseconds()
        let durable = self.journal.map { _ in eventLoop.makePromise(of: Void.self) }
        let (answer, waits) = self.state.withLockedValue { state -> (BankBooks.Answer, Bool) in
            let outcome = state.books.handle(request, newWallet: wallet, now: now)
            state.statistics.count(leg, code: outcome.answer.responseCode, isRepeat: outcome.isRepeat)
            guard let journal = self.journal, let durable else { return (outcome.answer, false) }
            if let effect = outcome.effect {
                journal.append(effect.journalPayload, promise: durable)
                return (outcome.answer, true)
            }
            if outcome.isRepeat {
                journal.barrier(promise: durable)
                return (outcome.answer, true)
            }
            return (outcome.answer, false)
        }
        let response = answer.response(to: request, institution: self.bank.institution)
        self.logger.debug(
            "leg answered",
            metadata: [
                "iso.mti": "\(request.mti)", "iso.stan": "\(request.stan ?? "")", "iso.rc": "\(answer.responseCode)",
            ]
        )
        guard let durable else { return eventLoop.makeSucceededFuture(response) }
        guard waits else {
            durable.succeed(())
            return eventLoop.makeSucceededFuture(response)
        }
        let logger = self.logger
        let state = self.state
        let answered = eventLoop.makePromise(of: ISO8583Message?.self)
        durable.futureResult.whenComplete { result in
            switch result {
            case .success:
                answered.succeed(response)
            case .failure(let error):
                state.withLockedValue { $0.statistics.journalFailures += 1 }
                logger.info("leg not answered: its journal entry is not durable", metadata: ["iso.stan": "\(request.stan ?? "")", "journal.error": "\(error)"])
                answered.succeed(nil)
            }
        }
        return answered.futureResult
    }

    /// Asks `authorizer` about a debit paid from a wallet; legs the books will decline anyway pass.
    private func authorize(_ request: ISO8583Message, with authorizer: any PayerAuthorizer) -> Bool {
        guard let dcData = TaggedElements.parse(request, field: 124, lengthDigits: 3),
            BankBooks.accountType(request.processingCode, from: true, request: request, walletField: 102, qr: dcData[7]) == .wallet,
            let payer = request.payerWallet ?? BankBooks.qrWallet(dcData[7], kind: "B"),
            let publicKey = self.state.withLockedValue({ $0.books.publicKey(ofWallet: payer) }),
            let amount = request.amount
        else { return true }
        let payment = PaymentAuthorization(
            payerWallet: payer, publicKeyHex: publicKey, amount: amount,
            payeeWallet: request.payeeWallet ?? BankBooks.qrWallet(dcData[7], kind: "C"),
            transactionID: dcData[5], signature: dcData[2], nonce: dcData[4]
        )
        return authorizer.authorize(payment)
    }

    /// A copy of the books. (The next leg then copies the tables it changes: for tests and checks, not the hot path.)
    public var books: BankBooks {
        self.state.withLockedValue { $0.books }
    }

    /// Runs `body` on the books under the lock (keep it short).
    public func withBooks<T>(_ body: (BankBooks) throws -> T) rethrows -> T {
        try self.state.withLockedValue { try body($0.books) }
    }

    /// The counters.
    public var statistics: BankStatistics {
        self.state.withLockedValue { $0.statistics }
    }

    func recordFault(dropped: Bool) {
        self.state.withLockedValue { state in
            if dropped {
                state.statistics.dropped += 1
            } else {
                state.statistics.injectedErrors += 1
                state.statistics.responseCodes[BankResponseCode.systemMalfunction.rawValue, default: 0] += 1
            }
        }
    }

    /// Writes and syncs what the journal has pending and closes it.
    public func close() async throws {
        try await self.journal?.close()
    }
}

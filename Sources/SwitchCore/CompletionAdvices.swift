import CoreMetrics
import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Tells banks which transactions are complete, so that the coins those transactions brought in become spendable.
///
/// A bank keeps the change of a debit leg and the coins of a credit leg *pending* until the switch says the
/// transaction is complete: its owner-change records are durable in the registration center (see `Specs/FLOWS.md`,
/// "Pending coins and completion"). Completions are batched per bank — one 0620 advice carries as many transaction
/// ids as fit in DE 124.15, sent at most ``Configuration/interval`` after the first id arrives — and repeated until
/// the bank acknowledges them (0630, DE 39 = 00). Ids are only ever added back after a failure, never dropped.
public final class CompletionAdvices: Sendable {
    public struct Configuration: Sendable {
        /// How long the first id of a batch waits for others.
        public var interval: TimeAmount
        /// How long to wait for the bank's 0630.
        public var timeout: TimeAmount
        /// How long to wait before repeating an advice that failed.
        public var retryDelay: TimeAmount

        public init(interval: TimeAmount = .milliseconds(2), timeout: TimeAmount = .seconds(2), retryDelay: TimeAmount = .milliseconds(250)) {
            self.interval = interval
            self.timeout = timeout
            self.retryDelay = retryDelay
        }
    }

    /// What the advices have done since start.
    public struct Statistics: Hashable, Sendable {
        /// Transaction ids queued (one per bank involved).
        public var queued = 0
        /// Transaction ids a bank acknowledged.
        public var acknowledged = 0
        /// 0620 messages sent.
        public var advicesSent = 0
        /// Advices that failed (timeout, link down, not approved) and were queued again.
        public var failures = 0
        /// Transaction ids waiting to be sent or acknowledged.
        public var outstanding = 0
    }

    private struct BankQueue {
        var ids: [String] = []
        var scheduled = false
        /// Ids in advices sent and not answered yet.
        var inFlight = 0
    }

    private struct State {
        var banks: [String: BankQueue] = [:]
        var statistics = Statistics()
    }

    /// The most characters of ids one advice carries (DE 124.15 is ans..999).
    static let maximumListLength = 999

    public let configuration: Configuration
    private let gateway: any BankGateway
    private let institution: String
    /// STANs of the advices (their own sequence: a 0620 never matches a 0200 answer, whatever the STAN).
    private let stan = Atomic<UInt32>(0)
    /// Set by ``close()``: nothing more is scheduled.
    private let closed = Atomic<Bool>(false)
    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    private let dcFormat: SubfieldSpec
    private let sent = Counter(label: "dcswitch_completion_advices_total")
    private let failed = Counter(label: "dcswitch_completion_advice_failures_total")
    /// Told of every acknowledged advice: the transaction ids and the bank.
    private let onAcknowledged: @Sendable ([String], String) -> Void

    init(
        configuration: Configuration, gateway: any BankGateway, institution: String, dcFormat: SubfieldSpec, logger: Logger,
        onAcknowledged: @escaping @Sendable ([String], String) -> Void = { _, _ in }
    ) {
        self.onAcknowledged = onAcknowledged
        self.configuration = configuration
        self.gateway = gateway
        self.institution = institution
        self.dcFormat = dcFormat
        self.logger = logger
    }

    public var statistics: Statistics { self.state.withLockedValue { $0.statistics } }

    /// Queues the completion of transaction `txn` (its debit leg's DE 124.05) for each bank in `banks`.
    func complete(_ txn: String, banks: some Sequence<String>) {
        for bank in banks { self.enqueue([txn], bank: bank, after: self.configuration.interval) }
    }

    /// Schedules nothing more (the event loops are about to go away); what is unacknowledged stays so.
    func close() {
        self.closed.store(true, ordering: .relaxed)
    }

    /// Whether every queued completion has been acknowledged.
    public var isIdle: Bool { self.state.withLockedValue { $0.statistics.outstanding == 0 } }

    /// Completes once every completion queued so far is acknowledged, or after `deadline` (with `false`).
    public func drain(deadline: NIODeadline, on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        eventLoop.poll(every: .milliseconds(5), until: deadline) { self.isIdle }
    }

    private func enqueue(_ ids: [String], bank: String, after delay: TimeAmount, isRetry: Bool = false) {
        let schedule = self.state.withLockedValue { state -> Bool in
            if !isRetry {
                state.statistics.queued += ids.count
                state.statistics.outstanding += ids.count
            }
            state.banks[bank, default: BankQueue()].ids.append(contentsOf: ids)
            guard !state.banks[bank]!.scheduled else { return false }
            state.banks[bank]!.scheduled = true
            return true
        }
        guard schedule, !self.closed.load(ordering: .relaxed) else { return }
        self.gateway.eventLoop(for: bank).scheduleTask(in: delay) { self.flush(bank: bank) }
    }

    private func flush(bank: String) {
        let batches = self.state.withLockedValue { state -> [[String]] in
            guard var queue = state.banks[bank] else { return [] }
            queue.scheduled = false
            let ids = queue.ids
            queue.ids.removeAll(keepingCapacity: true)
            queue.inFlight += ids.count
            state.banks[bank] = queue
            return Self.batches(of: ids)
        }
        for ids in batches { self.send(ids, to: bank) }
    }

    /// `ids` cut into lists that each fit DE 124.15.
    static func batches(of ids: [String]) -> [[String]] {
        var batches: [[String]] = []
        var current: [String] = []
        var length = 0
        for id in ids {
            let added = id.utf8.count + (current.isEmpty ? 0 : 1)
            if length + added > Self.maximumListLength, !current.isEmpty {
                batches.append(current)
                current = []
                length = 0
            }
            length += id.utf8.count + (current.isEmpty ? 0 : 1)
            current.append(id)
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    private func send(_ ids: [String], to bank: String) {
        var advice = ISO8583Message(mti: MTI(value: 620), capacity: 1280)
        advice[7] = ISO8583LinkCodec.transmissionDateTime()
        let stan = self.stan.wrappingAdd(1, ordering: .relaxed).newValue % 999_999 + 1
        advice[11] = ISO8583LinkCodec.digits(Int(stan), width: 6)
        advice[33] = self.institution
        do throws(ISO8583Error) {
            advice[124] = try Subfields.build([Subfield(id: "15", value: ids.joined(separator: ";"))], as: self.dcFormat, field: 124)
        } catch {
            preconditionFailure("a completion list cut to 999 characters must fit DE 124: \(error)")
        }
        self.state.withLockedValue { $0.statistics.advicesSent += 1 }
        self.sent.increment()
        self.gateway.send(advice, to: bank, timeout: self.configuration.timeout).whenComplete { result in
            let acknowledged: Bool
            switch result {
            case .success(let answer): acknowledged = answer.responseCode == "00"
            case .failure: acknowledged = false
            }
            self.state.withLockedValue { state in
                state.banks[bank]!.inFlight -= ids.count
                if acknowledged {
                    state.statistics.acknowledged += ids.count
                    state.statistics.outstanding -= ids.count
                } else {
                    state.statistics.failures += 1
                }
            }
            guard !acknowledged else {
                self.onAcknowledged(ids, bank)
                return
            }
            self.failed.increment()
            self.logger.debug("completion advice not acknowledged; repeating", metadata: ["bank.id": .string(bank), "dc.ids": "\(ids.count)"])
            self.enqueue(ids, bank: bank, after: self.configuration.retryDelay, isRetry: true)
        }
    }
}

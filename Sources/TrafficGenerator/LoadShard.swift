import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOCore

/// One event loop's share of a load run: its links, its customers and merchants (a ``WorkloadModel``), its
/// arrival schedule and its measurements.
///
/// Everything here runs on ``eventLoop``: a timer fires when the next transaction is due and sends every
/// transaction whose intended start has passed, without waiting for answers (open loop); answers come back on
/// the same loop (the links live on it), so no lock is taken and no task is started per message.
final class LoadShard {
    typealias Link = ISO8583Link<ISO8583LinkCodec>

    let index: Int
    let shards: Int
    let eventLoop: any EventLoop
    var model: WorkloadModel
    var pool: AuthorizationPool
    private var random: LoadRandom
    private var nonces: NonceSource
    private let builder: RequestBuilder
    private let flows: [Flow]
    private let doubleSpendFraction: Double
    private let logger: Logger

    // Per run.
    private var links: [Link] = []
    private var stans: [UInt32] = []
    private var terminals: [String] = []
    private var linkCursor = 0
    private var schedule: ArrivalSchedule?
    private var startNanos: UInt64 = 0
    private var nextDue: UInt64?
    private var timer: Scheduled<Void>?
    private var tickNanos: UInt64 = 0
    private var lastWakeNanos: UInt64 = 0
    private var timeout: TimeAmount = .seconds(5)
    private var rrnPrefix: [UInt8] = []
    private var rrnSequence: UInt64 = 0
    private var clock = ClockFields(nanosecondsSinceEpoch: 0)
    private var record: ApprovalRecordBuffer?
    private var approvalHandler: (@Sendable (ApprovalRecord) -> Void)?
    private(set) var totals = Measurements()
    private(set) var interval = Measurements(keepsResponseCodeLatency: false)
    private(set) var inFlight = 0
    private(set) var sending = false
    private(set) var lastAnswerNanos: UInt64 = 0
    private var idle: [EventLoopPromise<Void>] = []

    init(
        index: Int, shards: Int, eventLoop: any EventLoop, model: WorkloadModel, pool: AuthorizationPool,
        nonces: NonceSource, seed: UInt64, builder: RequestBuilder, mix: TrafficMix, doubleSpendFraction: Double, logger: Logger
    ) {
        self.index = index
        self.shards = shards
        self.eventLoop = eventLoop
        self.model = model
        self.pool = pool
        self.nonces = nonces
        self.random = LoadRandom(seed: seed)
        self.builder = builder
        self.flows = mix.schedule
        self.doubleSpendFraction = doubleSpendFraction
        self.logger = logger
    }

    /// What a run gives a shard.
    struct RunParameters: Sendable {
        var start: NIODeadline
        var schedule: ArrivalSchedule
        var links: [Link]
        var timeout: TimeAmount
        /// ``LoadConfiguration/sendTick``, nanoseconds.
        var tickNanoseconds: UInt64 = 0
        var rrnPrefix: [UInt8]
        var recordFile: AppendOnlyFile?
        var approvalHandler: (@Sendable (ApprovalRecord) -> Void)?
    }

    // MARK: Run control

    /// Starts sending at `parameters.start`.
    func begin(_ parameters: RunParameters) {
        self.eventLoop.preconditionInEventLoop()
        self.links = parameters.links
        self.stans = Array(repeating: 0, count: parameters.links.count)
        self.terminals = parameters.links.indices.map { i in
            "LG" + RequestBuilder.zeroPadded(UInt64(self.index * 1000 + i), width: 6)
        }
        self.linkCursor = 0
        self.schedule = parameters.schedule
        self.startNanos = parameters.start.uptimeNanoseconds
        self.timeout = parameters.timeout
        self.tickNanos = parameters.tickNanoseconds
        self.lastWakeNanos = 0
        self.rrnPrefix = parameters.rrnPrefix
        self.rrnSequence = 0
        self.record = parameters.recordFile.map { ApprovalRecordBuffer(file: $0) }
        self.approvalHandler = parameters.approvalHandler
        self.totals = Measurements()
        self.interval = Measurements(keepsResponseCodeLatency: false)
        self.inFlight = 0
        self.lastAnswerNanos = 0
        self.sending = true
        self.nextDue = self.schedule?.next()
        self.armTimer(now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Stops sending now (answers still in flight are still counted).
    func stop() {
        self.timer?.cancel()
        self.timer = nil
        self.nextDue = nil
        self.finishSending()
    }

    /// The measurements since the last call (one interval), and the number in flight.
    func takeInterval() -> (Measurements, inFlight: Int, sending: Bool) {
        let taken = self.interval
        self.interval = Measurements(keepsResponseCodeLatency: false)
        return (taken, self.inFlight, self.sending)
    }

    /// Completes when the shard has stopped sending and nothing is in flight.
    func whenIdle() -> EventLoopFuture<Void> {
        if !self.sending, self.inFlight == 0 { return self.eventLoop.makeSucceededVoidFuture() }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.idle.append(promise)
        return promise.futureResult
    }

    /// Ends the run: flushes the approval records and forgets the links.
    func end() {
        self.record?.flush()
        self.record = nil
        self.approvalHandler = nil
        self.links = []
    }

    private func finishSending() {
        self.sending = false
        self.checkIdle()
    }

    private func checkIdle() {
        guard !self.sending, self.inFlight == 0, !self.idle.isEmpty else { return }
        let waiters = self.idle
        self.idle = []
        for waiter in waiters { waiter.succeed() }
    }

    // MARK: Timer

    private func armTimer(now: UInt64) {
        guard let due = self.nextDue else {
            self.finishSending()
            return
        }
        let deadline = NIODeadline.uptimeNanoseconds(
            Self.wakeUp(due: self.startNanos &+ due, lastWake: self.lastWakeNanos, tick: self.tickNanos)
        )
        self.timer = self.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.tick()
        }
    }

    /// When to wake for a transaction due at `due` (uptime nanoseconds): then, or `tick` after the last wake-up when
    /// that is later. What falls due in between waits for that wake-up and goes out with the others due by then.
    static func wakeUp(due: UInt64, lastWake: UInt64, tick: UInt64) -> UInt64 {
        max(due, lastWake &+ tick)
    }

    /// At most this many sends per timer event: when the shard is behind, answers get read in between.
    static let maximumBurst = 256

    private func tick() {
        self.timer = nil
        var now = NIODeadline.now().uptimeNanoseconds
        self.lastWakeNanos = now
        var sent = 0
        while sent < Self.maximumBurst, let due = self.nextDue, self.startNanos &+ due <= now {
            self.sendOne(intended: self.startNanos &+ due)
            self.nextDue = self.schedule?.next()
            sent &+= 1
            if sent & 31 == 0 { now = NIODeadline.now().uptimeNanoseconds }
        }
        self.armTimer(now: now)
    }

    // MARK: Sending

    private func sendOne(intended: UInt64) {
        self.model.clock = NIODeadline.now().uptimeNanoseconds
        let flow = self.flows[self.random.below(self.flows.count)]
        var authorization: PayerAuthorization?
        var plan: PlannedTransaction?
        if self.pool.count > 0, flow == .nfc || flow == .qrCSB || flow == .inApp {
            authorization = self.pool.take(attempts: self.model.options.attempts) { entry in
                self.model.canPay(entry.wallet, entry.amount)
            }
            if let taken = authorization {
                plan = self.model.planPayment(flow, payer: taken.wallet, amount: taken.amount, random: &self.random)
                if plan == nil { authorization = nil }
            }
        }
        let planned = plan ?? self.model.plan(flow, random: &self.random)
        if authorization == nil, RequestBuilder.isSigned(planned.flow), planned.payerWallet >= 0,
           let signer = self.model.wallets[planned.payerWallet].signer {
            let nonce = self.nonces.next()
            authorization = PayerAuthorization(
                wallet: planned.payerWallet, amount: planned.amount, nonce: nonce,
                signature: PayerAuthorization.sign(signer, amount: planned.amount, nonce: nonce)
            )
        }
        self.send(planned, authorization: authorization, intended: intended)
        if self.doubleSpendFraction > 0, planned.payerWallet >= 0, authorization != nil,
           self.random.unit() < self.doubleSpendFraction {
            self.send(self.model.doubleSpend(of: planned), authorization: authorization, intended: intended)
        }
    }

    private func send(_ plan: PlannedTransaction, authorization: PayerAuthorization?, intended: UInt64) {
        let l = self.linkCursor
        self.linkCursor = l + 1 == self.links.count ? 0 : l + 1
        let link = self.links[l]
        var stan = self.stans[l] &+ 1
        if stan > 999_999 { stan = 1 }
        self.stans[l] = stan
        let wallNow = UTCClock.nowNanoseconds()
        if wallNow / 1_000_000_000 != self.clock.second {
            self.clock = ClockFields(nanosecondsSinceEpoch: wallNow)
        }
        let ids = RequestBuilder.Identifiers(
            stan: RequestBuilder.zeroPadded(UInt64(stan), width: 6),
            rrn: self.nextRRN(),
            nonce: authorization?.nonce ?? self.nonces.next(),
            terminal: self.terminals[l],
            clock: self.clock
        )
        let counter = plan.flow == .nfc && plan.payerWallet >= 0 ? self.model.nextOfflineCounter(wallet: plan.payerWallet) : 0
        let request = self.builder.request(
            for: plan, model: self.model, ids: ids, signature: authorization?.signature, offlineCounter: counter
        )
        self.totals.recordSent(plan.flow)
        self.interval.recordSent(plan.flow)
        if plan.isDoubleSpend {
            self.totals.doubleSpendAttempts += 1
            self.interval.doubleSpendAttempts += 1
        }
        self.inFlight &+= 1
        let sentAt = NIODeadline.now().uptimeNanoseconds
        let rrn = ids.rrn
        let stanText = ids.stan
        link.send(request, timeout: self.timeout).assumeIsolated().whenComplete { [self] result in
            self.complete(plan, intended: intended, sentAt: sentAt, rrn: rrn, stan: stanText, result: result)
        }
    }

    private func nextRRN() -> String {
        let value = self.rrnSequence &* UInt64(self.shards) &+ UInt64(self.index)
        self.rrnSequence &+= 1
        let prefix = self.rrnPrefix
        let alphabet: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        // Twelve characters: a small string, no heap allocation.
        return String(unsafeUninitializedCapacity: 12) { bytes in
            for i in 0..<5 { bytes[i] = prefix[i] }
            alphabet.withUTF8Buffer { table in
                var v = value
                for i in (5..<12).reversed() {
                    bytes[i] = table[Int(v % 36)]
                    v /= 36
                }
            }
            return 12
        }
    }

    // MARK: Answers

    private func complete(
        _ plan: PlannedTransaction, intended: UInt64, sentAt: UInt64, rrn: String, stan: String,
        result: Result<ISO8583Message, any Error>
    ) {
        let now = NIODeadline.now().uptimeNanoseconds
        self.model.clock = now
        self.inFlight &-= 1
        switch result {
        case .success(let response):
            let recording = self.record != nil || self.approvalHandler != nil
            let summary = ResponseSummary(response: response, accountOpen: plan.flow == .accountOpen, readsTransactionID: recording)
            let latency = (now &- intended) / 1000
            let service = (now &- sentAt) / 1000
            self.totals.recordAnswer(plan.flow, summary: summary, latency: latency, service: service)
            self.interval.recordAnswer(plan.flow, summary: summary, latency: latency, service: service)
            self.lastAnswerNanos = now
            if summary.isApproved {
                self.model.settle(plan, outcome: .approved(newWallet: summary.newWallet))
                if plan.isDoubleSpend {
                    self.totals.doubleSpendsApproved += 1
                    self.interval.doubleSpendsApproved += 1
                }
                if recording {
                    let approval = ApprovalRecord(
                        transactionID: summary.transactionID ?? "", flow: plan.flow,
                        ownerChangeRecords: summary.ownerChangeRecords, rrn: rrn, stan: stan
                    )
                    self.record?.append(approval)
                    self.approvalHandler?(approval)
                }
            } else {
                self.model.settle(plan, outcome: .declined)
            }
        case .failure(let error):
            let kind: TransactionError
            switch (error as? ISO8583NetworkError)?.code {
            case .some(.timeout): kind = .timeout
            case .some(.notSignedOn): kind = .notSignedOn
            case .some(.connectionClosed), .some(.linkShutdown): kind = .connectionClosed
            default: kind = .other
            }
            self.totals.recordError(plan.flow, kind)
            self.interval.recordError(plan.flow, kind)
            self.model.settle(plan, outcome: .unknown)
        }
        self.checkIdle()
    }
}

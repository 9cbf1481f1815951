import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOCore
import Synchronization

/// The switch: takes acquirer requests, routes them, runs the payer-bank and payee-bank legs, writes the
/// owner-change records and answers — or reverses and declines. See `Specs/FLOWS.md` for the messages.
///
/// Requests are handled with futures on NIO event loops: no task or thread per message, no lock held across I/O.
public final class PaymentSwitch: Sendable {
    public struct Configuration: Sendable {
        /// The switch's institution code (DE 33 on its legs).
        public var institution: String
        /// How long a bank leg may take before the switch reverses it.
        public var bankTimeout: TimeAmount
        /// How completion advices (0620) are batched and repeated.
        public var completion: CompletionAdvices.Configuration
        /// Transactions the switch carries at once. A request beyond that is declined at once with 91 (switch
        /// inoperative) instead of joining a queue that would make every transaction late: past its capacity the
        /// switch sheds the excess and keeps serving the rest at full speed, rather than timing everything out.
        public var maxInFlight: Int

        public init(
            institution: String, bankTimeout: TimeAmount, completion: CompletionAdvices.Configuration = .init(),
            maxInFlight: Int = NetworkConfiguration.SwitchNode.defaultMaxInFlight
        ) {
            self.institution = institution
            self.bankTimeout = bankTimeout
            self.completion = completion
            self.maxInFlight = maxInFlight
        }
    }

    /// What the switch has done since start.
    public struct Statistics: Sendable, Hashable {
        public var requests = 0
        public var approved = 0
        public var declined = 0
        public var duplicates = 0
        /// Requests declined 91 because ``Configuration/maxInFlight`` transactions were in flight.
        public var shed = 0
        public var reversalsQueued = 0
        public var records = 0
        public var byFlow: [String: Int] = [:]
        public var responseCodes: [String: Int] = [:]
    }

    struct BankInfo: Sendable {
        var id: String
        var institution: String
        var treasury: String
    }

    public let configuration: Configuration
    public let spec: MessageSpec
    public let routing: RoutingTable
    public let settlement: SettlementLedger
    public let duplicates: DuplicateDetector
    public let reversals: ReversalQueue
    /// Tells the banks which transactions completed, so the coins those brought in become spendable.
    public let completions: CompletionAdvices
    /// The two-leg transactions in progress, when the switch has a data directory (see ``TransactionLog``).
    public let transactions: TransactionLog?
    let gateway: any BankGateway
    let sink: any OwnerChangeSink
    let registrar: (any WalletRegistrar)?
    let banks: [String: BankInfo]
    let logger: Logger
    let dcFormat: SubfieldSpec
    let transactionPrefix: String
    let counters = Mutex((transaction: UInt64(0), stan: UInt32(0)))
    let stats = Mutex(Statistics())
    /// Transactions admitted and not yet answered.
    let inFlight = Atomic<Int>(0)
    let metrics = SwitchMetrics()
    /// Set by ``close()``: no more background retries (what they would finish stays open in the transaction log).
    let closing = Atomic<Bool>(false)
    /// Account openings being finished in the background (see ``finishOpening``).
    let openingsInProgress = Mutex(Set<String>())
    /// Account openings whose retries ran out (they stay open in the transaction log).
    let openingsGivenUp = Atomic<Int>(0)

    public init(
        configuration: Configuration,
        network: NetworkConfiguration,
        spec: MessageSpec,
        routing: RoutingTable,
        gateway: any BankGateway,
        sink: any OwnerChangeSink,
        registrar: (any WalletRegistrar)?,
        reversals: ReversalQueue,
        settlement: SettlementLedger,
        duplicates: DuplicateDetector? = nil,
        transactions: TransactionLog? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.spec = spec
        self.routing = routing
        self.gateway = gateway
        self.sink = sink
        self.registrar = registrar
        self.reversals = reversals
        self.settlement = settlement
        self.duplicates = duplicates ?? DuplicateDetector(spec: spec)
        self.transactions = transactions
        self.logger = logger
        var banks: [String: BankInfo] = [:]
        for bank in network.banks {
            banks[bank.id] = BankInfo(id: bank.id, institution: bank.institution, treasury: SeedData.treasuryWallet(of: bank).address)
        }
        self.banks = banks
        guard let dcFormat = spec.field(124)?.subfields else {
            preconditionFailure("the switch needs a spec with DE 124 subfields (dcswitch-1987)")
        }
        self.dcFormat = dcFormat
        // Transaction ids stay unique across restarts: they start with the start time in seconds (see
        // ``nextTransactionID()``).
        self.transactionPrefix = "T" + Self.base36(UInt64(UTCClock.nowNanoseconds() / 1_000_000_000), width: 6)
        self.completions = CompletionAdvices(
            configuration: configuration.completion, gateway: gateway, institution: configuration.institution, dcFormat: dcFormat,
            logger: logger
        ) { [transactions, logger] ids, bank in
            do {
                try transactions?.acknowledged(ids, bank: bank)
            } catch {
                // Only costs a repeated (idempotent) completion advice after a restart.
                logger.error("cannot log completion acknowledgements", metadata: ["bank.id": .string(bank), "error": .string("\(error)")])
            }
        }
    }

    public var statistics: Statistics { self.stats.withLock { $0 } }

    /// Completes once no account opening is being finished in the background, or after `deadline` (with `false`).
    public func drainOpenings(deadline: NIODeadline, on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        eventLoop.poll(every: .milliseconds(10), until: deadline) { self.openingsInProgress.withLock { $0.isEmpty } }
    }

    /// Stops background work (account openings being finished, completion advices being repeated) before the event
    /// loops go away. What is unfinished stays open in the transaction log, and the next start finishes it.
    public func close() {
        self.closing.store(true, ordering: .relaxed)
        self.completions.close()
        let unfinished = self.openingsInProgress.withLock { $0.count } + self.openingsGivenUp.load(ordering: .relaxed)
        if unfinished > 0 {
            self.logger.warning("account openings left unfinished; the next start finishes them", metadata: ["dc.openings": .stringConvertible(unfinished)])
        }
    }

    // MARK: Entry point

    /// Answers one acquirer request (`nil` for messages that get no answer).
    public func handle(_ request: ISO8583Message, on eventLoop: any EventLoop) -> EventLoopFuture<ISO8583Message?> {
        guard request.mti.expectsResponse else { return eventLoop.makeSucceededFuture(nil) }
        if request.mti.messageClass == 5 {
            return eventLoop.makeSucceededFuture(self.reconciliation(request))
        }
        guard let key = DuplicateDetector.Key(request) else {
            self.count(flow: nil, code: ResponseCode.formatError.rawValue)
            return eventLoop.makeSucceededFuture(self.decline(request, SwitchError(.formatError, "DE 11 (STAN) is missing"), flow: nil))
        }
        switch self.duplicates.check(key, on: eventLoop) {
        case .repeatOf(let answer):
            self.stats.withLock { $0.duplicates += 1 }
            self.metrics.duplicates.increment()
            return answer.map { Optional($0) }
        case .process:
            break
        }
        let started = NIODeadline.now()
        let flow = try? PaymentRequest.flow(of: request)
        guard self.admit() else {
            let response = self.decline(request, code: .issuerUnavailable, flow: flow, reason: "too many transactions in flight")
            self.duplicates.forget(key, answering: response)
            self.count(flow: flow, code: ResponseCode.issuerUnavailable.rawValue, shed: true)
            self.metrics.shed.increment()
            return eventLoop.makeSucceededFuture(response)
        }
        self.metrics.inFlight.increment()
        let promise = eventLoop.makePromise(of: ISO8583Message.self)
        self.process(request, on: eventLoop, promise: promise)
        return promise.futureResult.map { response in
            self.duplicates.complete(key, with: response)
            let code = response.responseCode ?? ""
            self.count(flow: flow, code: code)
            self.inFlight.subtract(1, ordering: .relaxed)
            self.metrics.inFlight.decrement()
            self.metrics.answered(flow: flow?.rawValue ?? "unknown", code: code, nanoseconds: (NIODeadline.now() - started).nanoseconds)
            return response
        }
    }

    private func process(_ request: ISO8583Message, on eventLoop: any EventLoop, promise: EventLoopPromise<ISO8583Message>) {
        let flow: Flow
        do throws(SwitchError) {
            flow = try PaymentRequest.flow(of: request)
        } catch {
            promise.succeed(self.decline(request, error, flow: nil))
            return
        }
        if flow == .accountOpen {
            self.openAccount(request, on: eventLoop, promise: promise)
            return
        }
        let payment: PaymentRequest
        let payerBank: BankInfo
        let payeeBank: BankInfo
        do throws(SwitchError) {
            payment = try PaymentRequest(request, flow: flow, spec: self.spec)
            payerBank = try self.bank(for: payment.payer)
            payeeBank = try self.bank(for: payment.payee)
        } catch {
            promise.succeed(self.decline(request, error, flow: flow))
            return
        }
        self.pay(request, payment, payerBank: payerBank, payeeBank: payeeBank, on: eventLoop, promise: promise)
    }

    private func bank(for party: PaymentRequest.Party) throws(SwitchError) -> BankInfo {
        let id: String?
        switch party {
        case .card(let pan): id = self.routing.bank(forCard: pan)
        case .wallet(let address): id = self.routing.bank(forWallet: address)
        }
        guard let id, let bank = self.banks[id] else {
            switch party {
            case .card: throw SwitchError(.noRoute, "no bank issues this card's BIN")
            case .wallet(let address): throw SwitchError(.noRoute, "no bank for wallet \(address.prefix(13))…")
            }
        }
        return bank
    }

    // MARK: Payments and exchange

    private func pay(
        _ request: ISO8583Message, _ payment: PaymentRequest, payerBank: BankInfo, payeeBank: BankInfo,
        on eventLoop: any EventLoop, promise: EventLoopPromise<ISO8583Message>
    ) {
        let txn = self.nextTransactionID()
        let debit = self.debitLeg(request, payment, txn: txn, payeeBank: payeeBank)
        let timeout = self.configuration.bankTimeout
        do throws(SwitchError) {
            try self.transactions?.debit(txn, bank: payerBank.id, leg: debit)
        } catch {
            // Nothing left the switch: decline rather than run a transaction a crash could strand.
            promise.succeed(self.decline(request, error, flow: payment.flow))
            return
        }
        self.gateway.send(debit, to: payerBank.id, timeout: timeout).hop(to: eventLoop).whenComplete { result in
            switch result {
            case .failure(let error):
                // The debit's outcome is unknown unless it never left: reverse it to be sure.
                let sent = Self.mayHaveReachedBank(error)
                if sent { self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false) }
                self.ended(txn)
                promise.succeed(self.decline(request, code: Self.responseCode(for: error), flow: payment.flow, reason: "payer bank: \(error)"))
            case .success(let answer):
                let code = answer.responseCode ?? ""
                guard code == "00" else {
                    self.ended(txn)
                    promise.succeed(self.decline(request, code: ResponseCode(rawValue: code.isEmpty ? "96" : code), flow: payment.flow, reason: "payer bank declined"))
                    return
                }
                let movement: CoinMovement
                do throws(CoinMovement.ParseError) {
                    let elements = answer.elements124(self)
                    movement = try CoinMovement(spent: elements.value("03"), created: elements.value("11"))
                } catch {
                    self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false)
                    self.ended(txn)
                    promise.succeed(self.decline(request, code: .systemMalfunction, flow: payment.flow, reason: "payer bank answer: \(error)"))
                    return
                }
                guard movement.isBalanced, movement.valueToPayee == payment.amount else {
                    self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false)
                    self.ended(txn)
                    promise.succeed(self.decline(request, code: .systemMalfunction, flow: payment.flow, reason: "payer bank moved coins that do not add up to the amount"))
                    return
                }
                self.credit(request, payment, txn: txn, debit: debit, movement: movement, authorization: answer[38],
                            payerBank: payerBank, payeeBank: payeeBank, on: eventLoop, promise: promise)
            }
        }
    }

    private func credit(
        _ request: ISO8583Message, _ payment: PaymentRequest, txn: String, debit: ISO8583Message, movement: CoinMovement,
        authorization: String?, payerBank: BankInfo, payeeBank: BankInfo,
        on eventLoop: any EventLoop, promise: EventLoopPromise<ISO8583Message>
    ) {
        let credit = self.creditLeg(request, payment, txn: txn, coins: movement.payeeCoinList)
        do throws(SwitchError) {
            try self.transactions?.credit(txn, bank: payeeBank.id, leg: credit)
        } catch {
            self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false)
            self.ended(txn)
            promise.succeed(self.decline(request, error, flow: payment.flow))
            return
        }
        self.gateway.send(credit, to: payeeBank.id, timeout: self.configuration.bankTimeout).hop(to: eventLoop).whenComplete { result in
            switch result {
            case .failure(let error):
                // Undone in the reverse order: at a bank that holds both legs, the credit's coins go back first.
                if Self.mayHaveReachedBank(error) {
                    self.reverse(credit, bankID: payeeBank.id, amount: payment.amount, isCredit: true)
                }
                self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false)
                self.ended(txn)
                promise.succeed(self.decline(request, code: Self.responseCode(for: error), flow: payment.flow, reason: "payee bank: \(error)"))
            case .success(let answer):
                let code = answer.responseCode ?? ""
                guard code == "00" else {
                    self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false)
                    self.ended(txn)
                    promise.succeed(self.decline(request, code: ResponseCode(rawValue: code.isEmpty ? "96" : code), flow: payment.flow, reason: "payee bank declined"))
                    return
                }
                let (payerWallet, payeeWallet) = self.recordWallets(payment, payerBank: payerBank, payeeBank: payeeBank)
                let records = movement.records(
                    transactionID: txn, flow: payment.flow, payerWallet: payerWallet, payeeWallet: payeeWallet,
                    payerBank: payerBank.institution, payeeBank: payeeBank.institution, at: UTCClock.nowNanoseconds()
                )
                // The records are durable before the acquirer sees the approval; if they cannot be, nothing happened.
                self.sink.append(records, on: eventLoop).whenComplete { stored in
                    switch stored {
                    case .success:
                        self.settlement.recordApproval(payerBank: payerBank.id, payeeBank: payeeBank.id, amount: payment.amount)
                        // Only now may the coins this transaction brought in (change, the payee's coins) be spent.
                        let banks = payerBank.id == payeeBank.id ? [payerBank.id] : [payerBank.id, payeeBank.id]
                        self.approved(txn, banks: banks)
                        self.completions.complete(txn, banks: banks)
                        self.stats.withLock { $0.records += records.count }
                        self.metrics.records.increment(by: records.count)
                        promise.succeed(self.approve(request, flow: payment.flow, txn: txn, movement: movement, authorization: authorization))
                    case .failure(let error):
                        self.reverse(credit, bankID: payeeBank.id, amount: payment.amount, isCredit: true)
                        self.reverse(debit, bankID: payerBank.id, amount: payment.amount, isCredit: false)
                        self.ended(txn)
                        promise.succeed(self.decline(request, code: .issuerUnavailable, flow: payment.flow, reason: "registration center: \(error)"))
                    }
                }
            }
        }
    }

    /// The wallets the owner-change records name: the treasury of the bank whose account side it is.
    private func recordWallets(_ payment: PaymentRequest, payerBank: BankInfo, payeeBank: BankInfo) -> (String, String) {
        let payer: String
        switch payment.payer {
        case .wallet(let address): payer = address
        case .card: payer = payerBank.treasury
        }
        let payee: String
        switch payment.payee {
        case .wallet(let address): payee = address
        case .card: payee = payeeBank.treasury
        }
        return (payer, payee)
    }

    // MARK: Recovery

    /// What ``recoverOpenTransactions(lookup:)`` did with the transactions a crash left open.
    public struct Recovery: Sendable, Hashable {
        /// Approved before the crash: their completion advices are sent again.
        public var completed = 0
        /// Their records were durable although the log had not noted the approval yet: completed as approvals.
        public var approvedByRegistry = 0
        /// Never approved: the legs they sent are reversed (through the reversal queue).
        public var reversed = 0
        /// Left open because no registry could say whether their records are durable.
        public var unresolved = 0
        /// Account openings: sent to the bank again, and the wallet it opened registered.
        public var openings = 0

        /// Whether the last run left anything open.
        public var isEmpty: Bool { self == Recovery() }

        /// `completed=… approved_by_registry=… reversed=… unresolved=…`.
        public var summary: String {
            "completed=\(self.completed) approved_by_registry=\(self.approvedByRegistry) reversed=\(self.reversed) openings=\(self.openings) unresolved=\(self.unresolved)"
        }
    }

    /// Finishes the transactions the ``TransactionLog`` shows open from the last run: a switch process that crashed
    /// between a transaction's legs, or before its completion advices were acknowledged, left them so. Call once at
    /// start, before taking requests.
    ///
    /// - Parameter lookup: where to find out whether a transaction's owner-change records are durable (the
    ///   registration center). Without one, transactions whose approval the log did not note are left open.
    public func recoverOpenTransactions(lookup: (any OwnerChangeLookup)?) async throws -> Recovery {
        guard let log = self.transactions else { return Recovery() }
        var recovery = Recovery()
        let open = log.openTransactions
        let unsure = open.filter { $0.awaitingCompletion == nil && $0.credit != nil }.map(\.transactionID)
        var durable: Set<String> = []
        if let lookup, !unsure.isEmpty {
            durable = try await lookup.transactionsWithRecords(among: unsure)
        }
        for transaction in open {
            let txn = transaction.transactionID
            if let (bankID, leg, reference) = transaction.opening {
                guard let bank = self.banks[bankID] else { continue }
                self.finishOpening(txn, bank: bank, leg: leg, customerReference: reference, on: self.gateway.eventLoop(for: bankID), after: .zero)
                recovery.openings += 1
                continue
            }
            if let awaiting = transaction.awaitingCompletion {
                self.completions.complete(txn, banks: awaiting.sorted())
                recovery.completed += 1
                continue
            }
            if durable.contains(txn) {
                // Records were only ever written after both legs were approved, so both banks are known.
                let banks = Array(Set([transaction.debit?.bank, transaction.credit?.bank].compactMap { $0 })).sorted()
                try log.approved(txn, banks: banks)
                self.completions.complete(txn, banks: banks)
                recovery.approvedByRegistry += 1
                continue
            }
            if transaction.credit != nil, lookup == nil {
                self.logger.critical("open transaction left as it is: no registry to say whether its records are durable", metadata: ["dc.txn": .string(txn)])
                recovery.unresolved += 1
                continue
            }
            // Not approved: undo whatever reached the banks, the credit first.
            if let (bank, leg) = transaction.credit {
                self.reverse(leg, bankID: bank, amount: Int64(leg[4] ?? "") ?? 0, isCredit: true)
            }
            if let (bank, leg) = transaction.debit {
                self.reverse(leg, bankID: bank, amount: Int64(leg[4] ?? "") ?? 0, isCredit: false)
            }
            try log.ended(txn)
            recovery.reversed += 1
        }
        if !open.isEmpty {
            self.logger.notice("transactions left open by the last run finished", metadata: [
                "recovery.completed": .stringConvertible(recovery.completed),
                "recovery.approved_by_registry": .stringConvertible(recovery.approvedByRegistry),
                "recovery.reversed": .stringConvertible(recovery.reversed),
                "recovery.unresolved": .stringConvertible(recovery.unresolved),
                "recovery.openings": .stringConvertible(recovery.openings),
            ])
        }
        return recovery
    }

    // MARK: Account opening

    private func openAccount(_ request: ISO8583Message, on eventLoop: any EventLoop, promise: EventLoopPromise<ISO8583Message>) {
        guard let institution = request.receivingInstitution, let bankID = self.routing.bank(forInstitution: institution), let bank = self.banks[bankID] else {
            promise.succeed(self.decline(request, SwitchError(.noRoute, "DE 100 names no bank of this network"), flow: .accountOpen))
            return
        }
        var leg = request
        leg[11] = self.nextSTAN()
        leg[7] = ISO8583LinkCodec.transmissionDateTime()
        leg[33] = self.configuration.institution
        // DE 124.05 makes the opening idempotent at the bank, like every other leg.
        let txn = self.nextTransactionID()
        leg[124] = self.buildDC([("05", txn), ("13", Flow.accountOpen.rawValue)])
        let opening = leg
        let customerReference = request.value124Or48("02", self) ?? ""
        do throws(SwitchError) {
            try self.transactions?.opening(txn, bank: bank.id, leg: opening, customerReference: customerReference)
        } catch {
            promise.succeed(self.decline(request, error, flow: .accountOpen))
            return
        }
        // Counted from now, not only once it is finished in the background: a graceful stop waits for an opening whose
        // bank answer or registration is still on its way, as it waits for the ones being retried.
        self.openingsInProgress.withLock { _ = $0.insert(txn) }
        self.gateway.send(opening, to: bank.id, timeout: self.configuration.bankTimeout).hop(to: eventLoop).whenComplete { result in
            switch result {
            case .failure(let error):
                // The bank may have opened the wallet: ask again later (the leg is idempotent), so that a wallet the
                // bank holds is always registered.
                if Self.mayHaveReachedBank(error) {
                    self.finishOpening(txn, bank: bank, leg: opening, customerReference: customerReference, on: eventLoop, after: .seconds(1))
                } else {
                    self.endedOpening(txn)
                }
                promise.succeed(self.decline(request, code: Self.responseCode(for: error), flow: .accountOpen, reason: "bank: \(error)"))
            case .success(let answer):
                guard answer.responseCode == "00" else {
                    self.endedOpening(txn)
                    promise.succeed(self.decline(request, code: ResponseCode(rawValue: answer.responseCode ?? "96"), flow: .accountOpen, reason: "bank declined"))
                    return
                }
                guard let address = answer.payerWallet ?? answer.payeeWallet, let publicKey = answer.value124("01", self) else {
                    self.endedOpening(txn)
                    promise.succeed(self.decline(request, code: .systemMalfunction, flow: .accountOpen, reason: "bank answer lacks DE 102 or DE 124.01"))
                    return
                }
                self.register(wallet: address, publicKey: publicKey, bank: bank, customerReference: customerReference, on: eventLoop)
                    .whenComplete { outcome in
                        switch outcome {
                        case .success:
                            self.endedOpening(txn)
                            var response = request.makeResponse(responseCode: "00")
                            response[102] = address
                            response[124] = self.buildDC([("01", publicKey)])
                            promise.succeed(response)
                        case .failure(let error):
                            self.finishOpening(txn, bank: bank, leg: opening, customerReference: customerReference, on: eventLoop, after: .seconds(1))
                            promise.succeed(self.decline(request, code: .issuerUnavailable, flow: .accountOpen, reason: "registration center: \(error)"))
                        }
                    }
            }
        }
    }

    /// Logs the end of account opening `txn` and stops counting it as in progress.
    private func endedOpening(_ txn: String) {
        self.ended(txn)
        self.openingsInProgress.withLock { _ = $0.remove(txn) }
    }

    /// The switch records the public key for routing (§3.2.1 step 2) and the identity goes to the central bank's
    /// authentication center (step 3).
    private func register(
        wallet address: String, publicKey: String, bank: BankInfo, customerReference: String, on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        self.routing.register(wallet: address, bankID: bank.id, publicKeyHex: publicKey)
        return self.registrar?.registerWallet(
            address: address, publicKeyHex: publicKey, bankInstitution: bank.institution, customerReference: customerReference,
            on: eventLoop
        ) ?? eventLoop.makeSucceededVoidFuture()
    }

    /// Sends an account opening leg again (the bank answers a repeat with the wallet it opened the first time) until
    /// the bank answers, then registers the wallet: a wallet the bank opened is never left unregistered. Tries for
    /// a few minutes, backing off; what is still open then is finished at the next start.
    private func finishOpening(
        _ txn: String, bank: BankInfo, leg: ISO8583Message, customerReference: String, on eventLoop: any EventLoop,
        after delay: TimeAmount, attempts: Int = 12
    ) {
        guard !self.closing.load(ordering: .relaxed) else { return }  // close() said how many are left
        guard attempts > 0 else {
            // Counted in close()'s warning (under overload there are thousands: no line each).
            self.openingsInProgress.withLock { _ = $0.remove(txn) }
            self.openingsGivenUp.add(1, ordering: .relaxed)
            self.logger.debug("account opening given up until the next start", metadata: ["dc.txn": .string(txn), "bank.id": .string(bank.id)])
            return
        }
        self.openingsInProgress.withLock { _ = $0.insert(txn) }
        let finished = { @Sendable in
            self.ended(txn)
            self.openingsInProgress.withLock { _ = $0.remove(txn) }
        }
        // Backing off (1, 2, 4 … 30 s): under overload many openings time out at once, and repeating them all every
        // second would add to the load that made them time out.
        let next = min(delay == .zero ? .seconds(1) : delay * 2, .seconds(5))
        let retry = { @Sendable in
            self.finishOpening(txn, bank: bank, leg: leg, customerReference: customerReference, on: eventLoop, after: next, attempts: attempts - 1)
        }
        eventLoop.scheduleTask(in: delay) {
            self.gateway.send(leg, to: bank.id, timeout: self.configuration.bankTimeout).hop(to: eventLoop).whenComplete { result in
                guard case .success(let answer) = result else { return retry() }
                guard answer.responseCode == "00", let address = answer.payerWallet ?? answer.payeeWallet,
                      let publicKey = answer.value124("01", self) else {
                    // The bank did not open it (or cannot say what it opened): nothing to register.
                    finished()
                    return
                }
                self.register(wallet: address, publicKey: publicKey, bank: bank, customerReference: customerReference, on: eventLoop)
                    .whenComplete { outcome in
                        if case .success = outcome { finished() } else { retry() }
                    }
            }
        }
    }

    // MARK: Reconciliation

    private func reconciliation(_ request: ISO8583Message) -> ISO8583Message {
        let institution = request[33] ?? request[32] ?? ""
        guard let bankID = self.routing.bank(forInstitution: institution) else {
            return request.makeResponse(responseCode: ResponseCode.noSuchIssuer.rawValue)
        }
        let date = request[15] ?? self.settlement.currentDate
        let totals = self.settlement.totals(bank: bankID, date: date)
        var response = request.makeResponse(responseCode: "00", echoing: [15, 33])
        response[74] = Self.digits(totals.credits, 10)
        response[75] = Self.digits(totals.creditReversals, 10)
        response[76] = Self.digits(totals.debits, 10)
        response[77] = Self.digits(totals.debitReversals, 10)
        response[86] = Self.digits(Int(totals.creditAmount), 16)
        response[87] = Self.digits(Int(totals.creditReversalAmount), 16)
        response[88] = Self.digits(Int(totals.debitAmount), 16)
        response[89] = Self.digits(Int(totals.debitReversalAmount), 16)
        response[97] = (totals.net >= 0 ? "C" : "D") + Self.digits(Int(abs(totals.net)), 16)
        return response
    }

    // MARK: Messages

    private func debitLeg(_ request: ISO8583Message, _ payment: PaymentRequest, txn: String, payeeBank: BankInfo) -> ISO8583Message {
        var leg = ISO8583Message(mti: .financialRequest, capacity: 1024)
        for number in [2, 3, 4] { if let v = request[number] { leg[number] = v } }
        leg[7] = ISO8583LinkCodec.transmissionDateTime()
        leg[11] = self.nextSTAN()
        for number in [12, 13, 22, 32] { if let v = request[number] { leg[number] = v } }
        leg[33] = self.configuration.institution
        for number in [37, 41, 42, 49] { if let v = request[number] { leg[number] = v } }
        if case .wallet(let payer) = payment.payer { leg[102] = payer }
        if case .wallet(let payee) = payment.payee { leg[103] = payee }
        var dc: [(String, String)] = []
        for id in ["02", "04"] { if let v = payment.dcData[id] { dc.append((id, v)) } }
        dc.append(("05", txn))
        for id in ["07", "08", "09"] { if let v = payment.dcData[id] { dc.append((id, v)) } }
        dc.append(("13", payment.flow.rawValue))
        dc.append(("14", payeeBank.institution))
        leg[124] = self.buildDC(dc)
        return leg
    }

    private func creditLeg(_ request: ISO8583Message, _ payment: PaymentRequest, txn: String, coins: String) -> ISO8583Message {
        var leg = ISO8583Message(mti: .financialRequest, capacity: 1024)
        switch payment.payee {
        case .wallet(let address):
            leg[3] = "210090"
            leg[103] = address
        case .card(let pan):
            leg[2] = pan
            leg[3] = "210010"
        }
        if let v = request[4] { leg[4] = v }
        leg[7] = ISO8583LinkCodec.transmissionDateTime()
        leg[11] = self.nextSTAN()
        for number in [12, 13, 32] { if let v = request[number] { leg[number] = v } }
        leg[33] = self.configuration.institution
        for number in [37, 41, 42, 49] { if let v = request[number] { leg[number] = v } }
        leg[124] = self.buildDC([("03", coins), ("05", txn + "/C"), ("13", payment.flow.rawValue)])
        return leg
    }

    /// Logs the end of `txn` (declined; any reversal is queued).
    private func ended(_ txn: String) {
        do {
            try self.transactions?.ended(txn)
        } catch {
            // A restart would then look at the transaction again and reverse its legs a second time: harmless.
            self.logger.error("cannot log the end of a transaction", metadata: ["dc.txn": .string(txn), "error": .string("\(error)")])
        }
    }

    /// Logs the approval of `txn` (its records are durable; completion advices go to `banks`).
    private func approved(_ txn: String, banks: [String]) {
        do {
            try self.transactions?.approved(txn, banks: banks)
        } catch {
            // A restart would ask the registration center, find the records and complete the transaction again.
            self.logger.error("cannot log an approval", metadata: ["dc.txn": .string(txn), "error": .string("\(error)")])
        }
    }

    /// Queues the reversal of `leg` (0420) for `bankID`.
    private func reverse(_ leg: ISO8583Message, bankID: String, amount: Int64, isCredit: Bool) {
        var reversal = ISO8583Message(mti: .reversalAdvice, capacity: 512)
        for number in [2, 3, 4] { if let v = leg[number] { reversal[number] = v } }
        reversal[7] = ISO8583LinkCodec.transmissionDateTime()
        reversal[11] = self.nextSTAN()
        for number in [32, 33, 37, 41, 49, 102, 103] { if let v = leg[number] { reversal[number] = v } }
        // DE 90: original MTI, STAN, transmission date-time, acquirer and forwarding institutions.
        let acquirer = Self.digits(Int(leg[32] ?? "0") ?? 0, 11)
        let forwarding = Self.digits(Int(self.configuration.institution) ?? 0, 11)
        reversal[90] = leg.mti.description + (leg[11] ?? "000000") + (leg[7] ?? "0000000000") + acquirer + forwarding
        let txn = leg.value124("05", self) ?? ""
        reversal[124] = self.buildDC([("05", txn)] + (leg.value124("13", self).map { [("13", $0)] } ?? []))
        self.settlement.recordReversal(bank: bankID, amount: amount, isCredit: isCredit)
        self.stats.withLock { $0.reversalsQueued += 1 }
        self.metrics.reversals.increment()
        do {
            try self.reversals.enqueue(reversal, bankID: bankID)
        } catch {
            self.logger.critical("cannot queue a reversal", metadata: ["bank.id": .string(bankID), "error": .string("\(error)")])
        }
    }

    private func approve(_ request: ISO8583Message, flow: Flow, txn: String, movement: CoinMovement, authorization: String?) -> ISO8583Message {
        var response = request.makeResponse(responseCode: "00")
        response[38] = authorization ?? String(txn.suffix(6))
        var spent = ""
        var created = ""
        for item in movement.items {
            switch item.disposition {
            case .transferred, .retired: item.append(to: &spent, withKind: true)
            case .createdForPayee, .change: item.append(to: &created, withKind: true)
            }
        }
        var dc: [(String, String)] = []
        if !spent.isEmpty { dc.append(("03", spent)) }
        dc.append(("05", txn))
        if !created.isEmpty { dc.append(("11", created)) }
        dc.append(("13", flow.rawValue))
        response[124] = self.buildDC(dc)
        return response
    }

    private func decline(_ request: ISO8583Message, _ error: SwitchError, flow: Flow?) -> ISO8583Message {
        self.decline(request, code: error.responseCode, flow: flow, reason: error.detail)
    }

    private func decline(_ request: ISO8583Message, code: ResponseCode, flow: Flow?, reason: String) -> ISO8583Message {
        self.logger.debug("declined", metadata: [
            "iso.mti": .string(request.mti.description), "iso.stan": .string(request.stan ?? ""),
            "iso.rc": .string(code.rawValue), "dc.flow": .string(flow?.rawValue ?? "?"), "reason": .string(reason),
        ])
        return request.makeResponse(responseCode: code.rawValue)
    }

    /// Takes a place for one more transaction, unless ``Configuration/maxInFlight`` are taken.
    private func admit() -> Bool {
        let admitted = self.inFlight.add(1, ordering: .relaxed).newValue
        guard admitted > self.configuration.maxInFlight else { return true }
        self.inFlight.subtract(1, ordering: .relaxed)
        return false
    }

    private func count(flow: Flow?, code: String, shed: Bool = false) {
        self.stats.withLock { stats in
            stats.requests += 1
            if shed { stats.shed += 1 }
            if code == "00" { stats.approved += 1 } else { stats.declined += 1 }
            stats.byFlow[flow?.rawValue ?? "unknown", default: 0] += 1
            stats.responseCodes[code, default: 0] += 1
        }
    }

    func buildDC(_ elements: [(String, String)]) -> String {
        do throws(ISO8583Error) {
            return try Subfields.build(elements.map { Subfield(id: $0.0, value: $0.1) }, as: self.dcFormat, field: 124)
        } catch {
            preconditionFailure("switch-built DE 124 does not fit: \(error)")
        }
    }

    /// `T`, the start time in seconds as six base-36 digits (until 2039), then the transaction's number in base 36:
    /// `T` + 6 + up to 6 characters for the first two billion transactions of a run. At most 13 characters, so the id
    /// and a credit leg's `<txn>/C` stay within Swift's 15-byte small strings: the id is carried, hashed and kept (in
    /// the transaction log, the banks' books, the registry's records) without a heap allocation, and a completion
    /// advice's DE 124.15 carries about 70 ids where decimal ids fitted about 50.
    private func nextTransactionID() -> String {
        let n = self.counters.withLock { c -> UInt64 in
            c.transaction += 1
            return c.transaction
        }
        return self.transactionPrefix + Self.base36(n, width: 1)
    }

    /// `value` in upper-case base 36, at least `width` digits (zero-padded).
    static func base36(_ value: UInt64, width: Int) -> String {
        let digits = String(value, radix: 36, uppercase: true)
        return digits.utf8.count >= width ? digits : String(repeating: "0", count: width - digits.utf8.count) + digits
    }

    private func nextSTAN() -> String {
        let n = self.counters.withLock { c -> UInt32 in
            c.stan = c.stan % 999_999 + 1
            return c.stan
        }
        return Self.digits(Int(n), 6)
    }

    static func digits(_ value: Int, _ width: Int) -> String {
        ISO8583LinkCodec.digits(value, width: width)
    }

    /// Whether a failed send may have reached the bank (so its effect must be reversed to be sure).
    static func mayHaveReachedBank(_ error: any Error) -> Bool {
        guard let error = error as? ISO8583NetworkError else { return true }
        switch error.code {
        case .notSignedOn, .linkShutdown, .encodingFailed, .duplicateRequest, .missingMatchKey: return false
        default: return true
        }
    }

    static func responseCode(for error: any Error) -> ResponseCode {
        if let error = error as? ISO8583NetworkError, error.code == .timeout { return .responseReceivedTooLate }
        return .issuerUnavailable
    }
}

extension ISO8583Message {
    /// An element of DE 124 under the switch's spec.
    func value124(_ id: String, _ owner: PaymentSwitch) -> String? {
        self.elements124(owner).value(id)
    }

    /// The elements of DE 124 (none when it is absent or malformed): parse once, look up several.
    func elements124(_ owner: PaymentSwitch) -> [Subfield] {
        guard let text = self[124], let elements = try? Subfields.parse(text, as: owner.dcFormat, field: 124) else { return [] }
        return elements
    }

    /// An element of DE 124, or else the same id of DE 48 (customer data on account opening).
    func value124Or48(_ id: String, _ owner: PaymentSwitch) -> String? {
        if let value = self.value124(id, owner) { return value }
        guard let text = self[48], let layout = owner.spec.field(48)?.subfields,
              let elements = try? Subfields.parse(text, as: layout, field: 48) else { return nil }
        return elements.first(where: { $0.id == id })?.value
    }
}

extension [Subfield] {
    /// The value of the first element with `id`.
    func value(_ id: String) -> String? {
        self.first(where: { $0.id == id })?.value
    }
}

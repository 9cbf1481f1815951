import DigitalCurrency
import ISO8583
import ISO8583Network
import CoreMetrics
import Logging
import NIOCore

/// The running switch: the acquirer-facing ISO 8583 server, the links to every bank, the reversal queue and
/// the switch core between them.
public final class SwitchServer: Sendable {
    public let paymentSwitch: PaymentSwitch
    public let bankLinks: BankLinks
    public let server: ISO8583Server<ISO8583LinkCodec>
    /// What start did with the transactions the last run left open (all zero after a clean stop).
    public let recovery: PaymentSwitch.Recovery
    private let eventLoop: any EventLoop

    /// The port acquirers connect to (useful when the configuration asked for port 0).
    public var port: Int { self.server.port ?? 0 }

    private init(
        paymentSwitch: PaymentSwitch, bankLinks: BankLinks, server: ISO8583Server<ISO8583LinkCodec>, recovery: PaymentSwitch.Recovery,
        eventLoop: any EventLoop
    ) {
        self.recovery = recovery
        self.paymentSwitch = paymentSwitch
        self.bankLinks = bankLinks
        self.server = server
        self.eventLoop = eventLoop
    }

    /// Starts the switch for `network`: links to every bank (signing on as they come up), the acquirer port
    /// (`listenPort` overrides `network.switchNode.port`; 0 picks a free one), and the reversal queue.
    public static func start(
        network: NetworkConfiguration,
        listenHost: String? = nil,
        listenPort: Int? = nil,
        sink: any OwnerChangeSink,
        registrar: (any WalletRegistrar)?,
        dataDirectory: String?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> SwitchServer {
        guard let spec = MessageSpec.builtin("dcswitch-1987") else {
            throw SwitchError(.storage, "the built-in spec dcswitch-1987 is missing")
        }
        let codec = ISO8583LinkCodec(spec: spec)
        let links = BankLinks(
            banks: network.banks.map { (id: $0.id, host: $0.host, port: $0.port) },
            codec: codec, eventLoopGroup: eventLoopGroup, logger: logger
        )
        let timeout = TimeAmount.milliseconds(Int64(network.switchNode.bankTimeoutMilliseconds))
        let reversals = try ReversalQueue(
            directory: dataDirectory ?? network.switchNode.dataDirectory, spec: spec, gateway: links,
            timeout: timeout, logger: logger
        )
        // Answers survive a restart when the switch has a data directory (the reversal queue's).
        let duplicates: DuplicateDetector
        if let directory = dataDirectory ?? network.switchNode.dataDirectory {
            duplicates = try DuplicateDetector(path: directory + "/duplicates.log", spec: spec)
        } else {
            duplicates = DuplicateDetector(spec: spec)
        }
        // Transactions in progress survive a crash of the process when the switch has a data directory.
        let transactions = try (dataDirectory ?? network.switchNode.dataDirectory).map { directory throws(SwitchError) in
            try TransactionLog(path: directory + "/transactions.log", spec: spec)
        }
        let routing = RoutingTable(network: network)
        let today = UTCClock.calendarParts(nanosecondsSinceEpoch: UTCClock.nowNanoseconds())
        let settlement = SettlementLedger(date: ISO8583LinkCodec.digits(today.month, width: 2) + ISO8583LinkCodec.digits(today.day, width: 2))
        let core = PaymentSwitch(
            configuration: .init(
                institution: network.switchNode.institution, bankTimeout: timeout, maxInFlight: network.switchNode.maxInFlight
            ),
            network: network, spec: spec, routing: routing, gateway: links, sink: sink, registrar: registrar,
            reversals: reversals, settlement: settlement, duplicates: duplicates, transactions: transactions, logger: logger
        )
        links.start()
        let eventLoop = eventLoopGroup.next()
        reversals.start(on: eventLoop)
        // What a crash of the last run left open is finished before new requests come in.
        let recovery = try await core.recoverOpenTransactions(lookup: sink as? any OwnerChangeLookup)
        let server = try await ISO8583Server.start(
            configuration: .init(host: listenHost ?? network.switchNode.host, port: listenPort ?? network.switchNode.port, name: "switch"),
            codec: codec, eventLoopGroup: eventLoopGroup, logger: logger
        ) { request, context in
            core.handle(request, on: context.eventLoop)
        }.get()
        // Link states and the reversal backlog as gauges, once a second.
        let linkGauges = Dictionary(uniqueKeysWithValues: network.banks.map { ($0.id, Gauge(label: "dcswitch_bank_link_signed_on", dimensions: [("bank", $0.id)])) })
        let pendingReversals = Gauge(label: "dcswitch_reversals_pending")
        eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            for (id, state) in links.states { linkGauges[id]?.record(state == .signedOn ? 1 : 0) }
            pendingReversals.record(reversals.pendingCount)
        }
        return SwitchServer(paymentSwitch: core, bankLinks: links, server: server, recovery: recovery, eventLoop: eventLoop)
    }

    /// Completes when every bank link is signed on.
    public func waitForBanks() async throws {
        try await self.bankLinks.waitForSignOn(on: self.eventLoop).get()
    }

    /// Stops taking requests, waits up to `drainTimeout` for pending reversals, completion advices and account openings
    /// being finished, signs off the banks.
    ///
    /// The three drains run side by side, each with the whole window: one after the other, a slow reversal queue used
    /// up the window and left account openings unfinished until the next start (their wallets unregistered meanwhile).
    public func shutdown(drainTimeout: TimeAmount = .seconds(10)) async throws {
        try? await self.server.close().get()
        let deadline = NIODeadline.now() + drainTimeout
        let reversals = self.paymentSwitch.reversals.drain(on: self.eventLoop, timeout: drainTimeout)
        let completions = self.paymentSwitch.completions.drain(deadline: deadline, on: self.eventLoop)
        let openings = self.paymentSwitch.drainOpenings(deadline: deadline, on: self.eventLoop)
        _ = try? await reversals.get()
        _ = try? await completions.get()
        _ = try? await openings.get()
        self.paymentSwitch.close()
        self.paymentSwitch.reversals.stop()
        try await self.bankLinks.shutdown(on: self.eventLoop).get()
    }
}

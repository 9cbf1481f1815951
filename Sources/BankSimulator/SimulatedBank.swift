import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A simulated commercial bank: its books (``BankProcessor``) behind an ISO 8583 host on its own TCP port.
///
/// The host answers network management (sign-on, echo, sign-off) itself and hands every other request to the books:
/// account opening (0100), debit and credit legs (0200), reversals (0420/0421) and reconciliation (0500), per
/// `Specs/FLOWS.md`. Each answer is sent after the configured think time and, with a journal, once the leg is durable;
/// think time is a timer on the connection's event loop, never a sleeping thread. The fault injector can add delay,
/// drop requests (never answered, never executed) and answer a share of them with 96 (not executed).
///
/// Several banks share one `EventLoopGroup` in one process:
///
/// ```swift
/// var banks: [SimulatedBank] = []
/// for bank in network.banks {
///     banks.append(try await SimulatedBank.start(configuration: .init(bank: bank), eventLoopGroup: group, logger: logger))
/// }
/// // …
/// for bank in banks { try await bank.shutdown() }
/// ```
public final class SimulatedBank: Sendable {
    /// Where the bank listens and how it behaves.
    public struct Configuration: Sendable {
        /// The bank (institution, port, seed, think time, faults, journal).
        public var bank: BankConfiguration
        /// The address to bind; the bank's `host` by default.
        public var host: String
        /// The port to bind (`0` picks a free one); the bank's `port` by default.
        public var port: Int
        /// The journal file; the bank's `journal` by default; books in memory only when `nil`.
        public var journalPath: String?
        /// When a leg counts as durable and may be answered: synced to disk (the default), or only written, which
        /// survives a crash of the bank process but spares each answer a disk sync.
        public var journalDurability: BankJournal.Durability
        /// Time taken to answer; the bank's `thinkTimeMicroseconds` by default.
        public var thinkTime: TimeAmount
        /// Faults injected; the bank's `faults` by default (changeable later with ``SimulatedBank/setFaults(_:)``).
        public var faults: FaultInjection
        /// The framing of the switch's connections.
        public var framing: ISO8583Framing
        /// Whether a connection must sign on before it carries legs (the default), and its idle timeout.
        public var hostLink: HostLinkStateMachine.Configuration
        /// Checks payers' signatures on wallet debits; every payer is allowed when `nil`.
        public var authorizer: (any PayerAuthorizer)?

        /// A configuration that takes everything from `bank`, with the overrides given.
        public init(
            bank: BankConfiguration,
            host: String? = nil,
            port: Int? = nil,
            journalPath: String?? = .none,
            journalDurability: BankJournal.Durability = .synced,
            thinkTime: TimeAmount? = nil,
            faults: FaultInjection? = nil,
            framing: ISO8583Framing = .default,
            hostLink: HostLinkStateMachine.Configuration = .init(),
            authorizer: (any PayerAuthorizer)? = nil
        ) {
            self.bank = bank
            self.host = host ?? bank.host
            self.port = port ?? bank.port
            self.journalPath = journalPath ?? bank.journal
            self.journalDurability = journalDurability
            self.thinkTime = thinkTime ?? .microseconds(Int64(bank.thinkTimeMicroseconds))
            self.faults = faults ?? bank.faults
            self.framing = framing
            self.hostLink = hostLink
            self.authorizer = authorizer
        }
    }

    private struct FaultState: Sendable {
        var faults: FaultInjection
        /// SplitMix64.
        var random: UInt64

        mutating func roll() -> Double {
            self.random &+= 0x9E37_79B9_7F4A_7C15
            var z = self.random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(UInt64(1) << 53)
        }
    }

    /// The configuration in force (faults as at start).
    public let configuration: Configuration
    /// The books and their journal.
    public let processor: BankProcessor
    private let server: ISO8583Server<ISO8583LinkCodec>
    private let faultState: NIOLockedValueBox<FaultState>
    private let logger: Logger

    private init(
        configuration: Configuration, processor: BankProcessor, server: ISO8583Server<ISO8583LinkCodec>,
        faultState: NIOLockedValueBox<FaultState>, logger: Logger
    ) {
        self.configuration = configuration
        self.processor = processor
        self.server = server
        self.faultState = faultState
        self.logger = logger
    }

    /// Seeds the books (replaying the journal, if any) and starts listening.
    ///
    /// - Parameters:
    ///   - configuration: the bank and its behaviour.
    ///   - seed: the bank's seed when the caller already generated it (the switch and the generator use the same).
    ///   - eventLoopGroup: the server's connections are spread over its loops; banks may share one group.
    ///   - logger: gets `bank.id` metadata; logs at info level or quieter.
    public static func start(
        configuration: Configuration, seed: SeedData? = nil, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> SimulatedBank {
        var logger = logger
        logger[metadataKey: "bank.id"] = .string(configuration.bank.id)
        let processorLogger = logger
        let processor = try await NIOThreadPool.singleton.runIfActive {
            try BankProcessor.open(
                bank: configuration.bank, seed: seed, journalPath: configuration.journalPath, durability: configuration.journalDurability,
                authorizer: configuration.authorizer,
                logger: processorLogger
            )
        }
        let faultState = NIOLockedValueBox(FaultState(faults: configuration.faults, random: UInt64(truncatingIfNeeded: UTCClock.nowNanoseconds())))
        let thinkTime = configuration.thinkTime
        let serverConfiguration = ISO8583Server<ISO8583LinkCodec>.Configuration(
            host: configuration.host, port: configuration.port, name: configuration.bank.id, framing: configuration.framing,
            hostLink: configuration.hostLink
        )
        let server: ISO8583Server<ISO8583LinkCodec>
        do {
            server = try await ISO8583Server.start(
                configuration: serverConfiguration,
                codec: ISO8583LinkCodec(spec: .builtin("dcswitch-1987")!),
                eventLoopGroup: eventLoopGroup,
                logger: logger
            ) { request, context in
                Self.answer(request, on: context.eventLoop, processor: processor, faultState: faultState, thinkTime: thinkTime)
            }.get()
        } catch {
            try? await processor.close()
            throw error
        }
        logger.info("bank listening", metadata: ["bank.port": "\(server.port ?? configuration.port)"])
        return SimulatedBank(configuration: configuration, processor: processor, server: server, faultState: faultState, logger: logger)
    }

    private static func answer(
        _ request: ISO8583Message, on eventLoop: any EventLoop, processor: BankProcessor,
        faultState: NIOLockedValueBox<FaultState>, thinkTime: TimeAmount
    ) -> EventLoopFuture<ISO8583Message?> {
        let (drop, fail, delay) = faultState.withLockedValue { state -> (Bool, Bool, TimeAmount) in
            let faults = state.faults
            let drop = faults.dropRate > 0 && state.roll() < faults.dropRate
            let fail = !drop && faults.errorRate > 0 && state.roll() < faults.errorRate
            return (drop, fail, .milliseconds(Int64(faults.delayMilliseconds)))
        }
        if drop {
            processor.recordFault(dropped: true)
            return eventLoop.makeSucceededFuture(nil)
        }
        let answer: EventLoopFuture<ISO8583Message?>
        if fail {
            processor.recordFault(dropped: false)
            answer = eventLoop.makeSucceededFuture(request.makeResponse(responseCode: BankResponseCode.systemMalfunction.rawValue, echoing: [33, 90, 124]))
        } else {
            answer = processor.process(request, on: eventLoop)
        }
        let wait = thinkTime + delay
        guard wait.nanoseconds > 0 else { return answer }
        let promise = eventLoop.makePromise(of: ISO8583Message?.self)
        eventLoop.scheduleTask(in: wait) { answer.cascade(to: promise) }
        return promise.futureResult
    }

    /// The bound port (the one picked when the configuration asked for port 0).
    public var port: Int {
        self.server.port ?? self.configuration.port
    }

    /// The faults injected now.
    public var faults: FaultInjection {
        self.faultState.withLockedValue { $0.faults }
    }

    /// Changes the faults injected from the next request on.
    public func setFaults(_ faults: FaultInjection) {
        self.faultState.withLockedValue { $0.faults = faults }
    }

    /// A copy of the books (for checks and tests).
    public var books: BankBooks {
        self.processor.books
    }

    /// What the bank has done.
    public var statistics: BankStatistics {
        self.processor.statistics
    }

    /// What the bank's server has done (connections, frames, format errors).
    public var serverStatistics: ServerStatistics {
        self.server.statistics
    }

    /// Stops listening, closes the connections and closes the journal (pending lines written and synced).
    public func shutdown() async throws {
        try await self.server.close().get()
        try await self.processor.close()
        self.logger.info("bank stopped", metadata: ["bank.legs": "\(self.processor.statistics.legs)"])
    }
}

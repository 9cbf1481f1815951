import Logging
import NIOCore
import ServiceLifecycle

/// A ``SimulatedBank`` as a `ServiceLifecycle` service: starts the bank in `run()`, and on graceful shutdown (or
/// cancellation) stops listening and closes the journal.
///
/// ```swift
/// let services = network.banks.map { SimulatedBankService(configuration: .init(bank: $0), eventLoopGroup: group, logger: logger) }
/// let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public struct SimulatedBankService: Service {
    /// The bank's configuration.
    public let configuration: SimulatedBank.Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onStart: @Sendable (SimulatedBank) -> Void

    /// A service that runs the bank described by `configuration` on `eventLoopGroup`.
    ///
    /// - Parameter onStart: called once the bank listens (to learn its port, or to keep it for checks).
    public init(
        configuration: SimulatedBank.Configuration, eventLoopGroup: any EventLoopGroup, logger: Logger,
        onStart: @escaping @Sendable (SimulatedBank) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onStart = onStart
    }

    /// Runs the bank until graceful shutdown or cancellation.
    public func run() async throws {
        let bank = try await SimulatedBank.start(configuration: self.configuration, eventLoopGroup: self.eventLoopGroup, logger: self.logger)
        self.onStart(bank)
        // Returns on graceful shutdown, and throws on cancellation: stop the bank either way.
        try? await gracefulShutdown()
        try await bank.shutdown()
    }
}

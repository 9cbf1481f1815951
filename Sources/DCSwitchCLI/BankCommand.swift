import ArgumentParser
import BankSimulator
import DigitalCurrency
import Logging
import NIOPosix
import ServiceLifecycle

/// `dcswitch bank --config FILE --id BANK [--journal PATH]`: one simulated bank as its own process, until SIGINT or
/// SIGTERM (graceful: the listener closes and the journal is synced).
struct BankCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bank",
        abstract: "Run one simulated bank of a network as its own ISO 8583 host.",
        discussion: """
            The bank listens on its port from the network file, answers the switch's legs (account opening, debits, \
            credits, reversals, reconciliation) and, with a journal, recovers its books after a crash.
            """
    )

    @Option(name: .long, help: "The network file (see Fixtures/network.json).")
    var config: String

    @Option(name: .long, help: "The id of the bank to run (a `banks[].id` of the network file).")
    var id: String

    @Option(name: .long, help: "The journal file (overrides the bank's `journal`); books are in memory only without one.")
    var journal: String?

    @Option(name: .long, help: "The port to listen on (overrides the bank's `port`; 0 picks a free one).")
    var port: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level \(self.logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port \(port): use 0–65535")
        }
    }

    func run() async throws {
        let network: NetworkConfiguration
        do {
            network = try NetworkConfiguration.load(path: self.config)
        } catch {
            throw ValidationError("--config \(self.config): \(error)")
        }
        guard let bank = network.bank(self.id) else {
            throw ValidationError("--id \(self.id): the network has banks \(network.banks.map(\.id).joined(separator: ", "))")
        }
        var logger = Logger(label: "dcswitch.bank")
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .info
        let configuration = SimulatedBank.Configuration(bank: bank, port: self.port, journalPath: self.journal.map { Optional($0) })
        let service = SimulatedBankService(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

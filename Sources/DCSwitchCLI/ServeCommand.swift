import ArgumentParser
import DigitalCurrency
import Logging
import Metrics
import NIOCore
import Prometheus
import TrafficGenerator
import ServiceLifecycle

/// Parses `HOST:PORT`.
struct HostPort: ExpressibleByArgument, Sendable {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        self.host = argument[..<colon].isEmpty ? "127.0.0.1" : String(argument[..<colon])
        self.port = port
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// Options `serve` and `demo` share.
struct NetworkOptions: ParsableArguments {
    @Option(help: "The network file: switch port, banks, seeds.")
    var config: String = "Fixtures/network.json"

    @Option(help: "PostgreSQL URL (postgres://user:pass@host:port/db). Without it (and without DATABASE_URL) an embedded cluster is started under --data-dir.")
    var databaseURL: String?

    @Option(help: "Where the embedded PostgreSQL, the journals and the switch's queues live.")
    var dataDir: String = ".dcswitch"

    @Option(help: "Event-loop threads for the switch and banks.")
    var threads: Int = 2

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "warning"

    @Option(help: "Transactions the switch carries at once; beyond, requests are declined 91 at once (overrides switch.maxInFlight of the network file, default 256).")
    var maxInFlight: Int?

    func validate() throws {
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level \(self.logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        guard self.threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let maxInFlight, maxInFlight < 1 { throw ValidationError("--max-in-flight must be at least 1") }
    }

    func loadNetwork() throws -> NetworkConfiguration {
        var network: NetworkConfiguration
        do {
            network = try NetworkConfiguration.load(path: self.config)
        } catch {
            throw ValidationError("--config \(self.config): \(error)")
        }
        if let maxInFlight { network.switchNode.maxInFlight = maxInFlight }
        return network
    }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .warning
        return logger
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the switch and the registration center (and the network's banks, unless --external-banks).",
        discussion: "Runs until SIGINT or SIGTERM, then shuts down gracefully: the switch stops taking requests, pending reversals drain, the registration center commits its journal."
    )

    @OptionGroup var options: NetworkOptions

    @Option(help: "Acquirer-facing address, HOST:PORT (default: the network file's switch.port).")
    var listen: HostPort?

    @Flag(help: "The banks run as their own `dcswitch bank` processes; the switch connects to them.")
    var externalBanks = false

    func run() async throws {
        let network = try self.options.loadNetwork()
        let logger = self.options.logger("dcswitch.serve")
        let service = NetworkService(
            network: network,
            options: .init(
                databaseURL: self.options.databaseURL, dataDirectory: self.options.dataDir, startBanks: !self.externalBanks,
                listenHost: self.listen?.host, listenPort: self.listen?.port, threads: self.options.threads
            ),
            logger: logger
        )
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// The whole network as one service: started in dependency order, stopped in reverse on graceful shutdown.
struct NetworkService: Service {
    let network: NetworkConfiguration
    let options: NetworkRuntime.Options
    let logger: Logger

    func run() async throws {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let runtime = try await NetworkRuntime.start(network: self.network, options: self.options, logger: self.logger) { line in
            Console.say(line)
        }
        var endpoint: (any Channel)?
        if let port = self.network.switchNode.metricsPort {
            endpoint = try await MetricsEndpoint.start(host: self.network.switchNode.host, port: port, registry: registry, group: runtime.group)
            Console.say("Prometheus metrics on http://\(self.network.switchNode.host):\(port)/metrics")
        }
        Console.say("Ready. Ctrl-C (SIGINT) or SIGTERM stops the network.")
        try? await gracefulShutdown()
        Console.say("Shutting down: draining reversals and the registry journal")
        try? await endpoint?.close()
        await runtime.stop()
        for line in LoadReport.durabilityLines(runtime.durability()) { Console.say(line) }
        Console.say("Stopped.")
    }
}

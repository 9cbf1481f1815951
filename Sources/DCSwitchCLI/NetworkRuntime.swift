import BankSimulator
import DigitalCurrency
import Foundation
import ISO8583Network
import Logging
import NIOCore
import NIOPosix
import RegistrationCenter
import SwitchCore

/// Everything `serve` and `demo` run in one process: PostgreSQL (embedded unless a URL is given), the
/// registration center, the banks (unless they run as their own processes) and the switch.
final class NetworkRuntime: Sendable {
    let network: NetworkConfiguration
    let postgres: EmbeddedPostgres?
    let registry: RegistrationCenter
    let registryTask: Task<Void, any Error>
    let banks: [SimulatedBank]
    let switchServer: SwitchServer
    let group: MultiThreadedEventLoopGroup
    let logger: Logger

    private init(
        network: NetworkConfiguration, postgres: EmbeddedPostgres?, registry: RegistrationCenter, registryTask: Task<Void, any Error>,
        banks: [SimulatedBank], switchServer: SwitchServer, group: MultiThreadedEventLoopGroup, logger: Logger
    ) {
        self.network = network
        self.postgres = postgres
        self.registry = registry
        self.registryTask = registryTask
        self.banks = banks
        self.switchServer = switchServer
        self.group = group
        self.logger = logger
    }

    struct Options {
        var databaseURL: String?
        var dataDirectory: String
        var startBanks: Bool
        var listenHost: String?
        var listenPort: Int?
        var threads: Int
        /// Start from the seeds: the journals of banks, switch and registry go to a new directory of their own,
        /// and the embedded cluster gets a new database (`demo` runs are independent of each other).
        var freshRun = false
    }

    /// Starts the network; `progress` hears each step for people watching.
    static func start(network: NetworkConfiguration, options: Options, logger: Logger, progress: (String) -> Void) async throws -> NetworkRuntime {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        try FileManager.default.createDirectory(atPath: options.dataDirectory, withIntermediateDirectories: true)
        // Where this run keeps its journals and queues.
        let runDirectory = options.freshRun
            ? options.dataDirectory + "/runs/" + String(Int(Date().timeIntervalSince1970 * 1000))
            : options.dataDirectory
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)

        // PostgreSQL: the given URL, DATABASE_URL, or a private cluster under the data directory.
        var postgres: EmbeddedPostgres?
        let databaseURL: DatabaseURL
        if let url = options.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            databaseURL = try DatabaseURL(url)
            progress("PostgreSQL: \(databaseURL)")
        } else {
            progress("PostgreSQL: starting the embedded cluster in \(options.dataDirectory)/postgres")
            let cluster = try await EmbeddedPostgres.start(
                .init(directory: options.dataDirectory + "/postgres", settings: EmbeddedPostgres.Configuration.benchmarkSettings),
                logger: logger
            )
            postgres = cluster
            if options.freshRun {
                // A run starts from the seeds: an empty registry, as the banks start from empty journals.
                try cluster.dropDatabase(cluster.database)
                try cluster.createDatabase(cluster.database)
            }
            databaseURL = cluster.databaseURL()
        }

        let registry = try RegistrationCenter(
            configuration: .init(journalDirectory: runDirectory + "/journal"), database: databaseURL, logger: logger
        )
        // Detached: a child of a service would see the service group's graceful shutdown at once and close its
        // PostgreSQL pool while the switch still drains, and account openings being finished could not register
        // their wallets (a crash test saw a bank's wallet left unregistered). ``stop()`` shuts it down last.
        let registryTask = Task.detached { try await registry.run() }
        await registry.waitUntilReady()

        progress("Seeding \(network.banks.count) banks (customers, merchants, wallets, coins)")
        let seeds = await withTaskGroup(of: SeedData.self) { tasks in
            for bank in network.banks { tasks.addTask { SeedData(bank: bank) } }
            var seeds: [String: SeedData] = [:]
            for await seed in tasks { seeds[seed.bank.id] = seed }
            return network.banks.map { seeds[$0.id]! }
        }
        let issued = try await registry.seed(network: network, seeds: seeds)
        progress("Registration center ready: \(issued) coins newly issued (value issued in total \(Self.money(network.issuedValue)))")

        var banks: [SimulatedBank] = []
        if options.startBanks {
            try FileManager.default.createDirectory(atPath: runDirectory + "/banks", withIntermediateDirectories: true)
            for seed in seeds {
                let bank = try await SimulatedBank.start(
                    configuration: .init(bank: seed.bank, journalPath: .some(runDirectory + "/banks/\(seed.bank.id).journal")),
                    seed: seed, eventLoopGroup: group, logger: logger
                )
                banks.append(bank)
            }
            progress("Banks listening: " + banks.map { "\($0.configuration.bank.id):\($0.port)" }.joined(separator: " "))
        }

        let switchServer = try await SwitchServer.start(
            network: network, listenHost: options.listenHost, listenPort: options.listenPort, sink: registry, registrar: registry,
            dataDirectory: runDirectory + "/switch", eventLoopGroup: group, logger: logger
        )
        if !switchServer.recovery.isEmpty {
            progress("Switch: finished the transactions the last run left open: \(switchServer.recovery.summary)")
        }
        // Wallets the banks hold from their seeds are routable by public key from the start.
        for seed in seeds {
            for customer in seed.customers {
                switchServer.paymentSwitch.routing.register(wallet: customer.wallet.address, bankID: seed.bank.id, publicKeyHex: customer.wallet.publicKeyHex)
            }
            for merchant in seed.merchants {
                switchServer.paymentSwitch.routing.register(wallet: merchant.wallet.address, bankID: seed.bank.id, publicKeyHex: merchant.wallet.publicKeyHex)
            }
        }
        progress("Switch listening on \(options.listenHost ?? network.switchNode.host):\(switchServer.port); signing on to the banks")
        try await switchServer.waitForBanks()
        progress("All bank links signed on")
        return NetworkRuntime(
            network: network, postgres: postgres, registry: registry, registryTask: registryTask, banks: banks,
            switchServer: switchServer, group: group, logger: logger
        )
    }

    /// Stops in dependency order: switch (draining reversals), banks, registration center (draining the journal),
    /// PostgreSQL.
    func stop() async {
        try? await self.switchServer.shutdown()
        for bank in self.banks { try? await bank.shutdown() }
        await self.registry.waitUntilCommitted()
        self.registry.shutdown()
        _ = try? await self.registryTask.value
        try? self.postgres?.stop()
        try? await self.group.shutdownGracefully()
    }

    static func money(_ minor: Int64) -> String {
        let units = minor / 100
        let cents = abs(minor % 100)
        return "\(units).\(cents < 10 ? "0" : "")\(cents)"
    }
}

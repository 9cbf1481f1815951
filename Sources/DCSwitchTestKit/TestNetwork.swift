import BankSimulator
import DigitalCurrency
import ISO8583
import ISO8583Network
import Logging
import NIOCore
import NIOPosix
import RegistrationCenter
import SwitchCore

/// A whole DC network for integration tests, all real and all in this process: PostgreSQL (the test kit's
/// cluster, a fresh database), the registration center, N simulated banks on loopback ports, the switch, and an
/// acquirer link to it.
public final class TestNetwork: Sendable {
    public let network: NetworkConfiguration
    public let seeds: [String: SeedData]
    public let banks: [String: SimulatedBank]
    public let switchServer: SwitchServer
    public let registry: RegistrationCenter
    public let database: TestDatabase
    public let acquirer: ISO8583Link<ISO8583LinkCodec>
    public let spec: MessageSpec
    public let group: MultiThreadedEventLoopGroup
    let registryTask: Task<Void, any Error>
    let dataDirectory: String

    /// The network's banks in order: `BANK0`, `BANK1`, …
    public var bankIDs: [String] { self.network.banks.map(\.id) }

    private init(
        network: NetworkConfiguration, seeds: [String: SeedData], banks: [String: SimulatedBank], switchServer: SwitchServer,
        registry: RegistrationCenter, database: TestDatabase, acquirer: ISO8583Link<ISO8583LinkCodec>, spec: MessageSpec,
        group: MultiThreadedEventLoopGroup, registryTask: Task<Void, any Error>, dataDirectory: String
    ) {
        self.network = network
        self.seeds = seeds
        self.banks = banks
        self.switchServer = switchServer
        self.registry = registry
        self.database = database
        self.acquirer = acquirer
        self.spec = spec
        self.group = group
        self.registryTask = registryTask
        self.dataDirectory = dataDirectory
    }

    /// Starts a network of `bankCount` banks with small seeds.
    public static func start(
        bankCount: Int = 2,
        customers: Int = 6,
        merchants: Int = 2,
        walletCoins: Int = 4,
        coinValue: Int64 = 5_000,
        treasuryCoins: Int = 40,
        bankTimeout: TimeAmount = .seconds(2),
        maxInFlight: Int = NetworkConfiguration.SwitchNode.defaultMaxInFlight,
        faults: [String: FaultInjection] = [:],
        logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> TestNetwork {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let directory = try TestPostgres.makeTemporaryDirectory("network")
        var bankConfigs = (0..<bankCount).map { i in
            BankConfiguration(
                id: "BANK\(i)", institution: "1000000000\(i)", port: 0, bins: ["4\(i)0000"],
                customers: .init(count: customers, accountBalance: 1_000_000, walletCoins: walletCoins, coinValue: coinValue),
                merchants: .init(count: merchants), treasury: .init(coins: treasuryCoins, coinValue: coinValue),
                faults: faults["BANK\(i)"] ?? .none
            )
        }
        var seeds: [String: SeedData] = [:]
        var banks: [String: SimulatedBank] = [:]
        for (i, config) in bankConfigs.enumerated() {
            let seed = SeedData(bank: config)
            seeds[config.id] = seed
            // Banks listen below the ephemeral port range: when a test stops a bank, the switch's link keeps
            // reconnecting to its port, which port 0 could otherwise hand to another test's server meanwhile.
            var started: SimulatedBank?
            var lastError: (any Error)?
            for _ in 0..<100 where started == nil {
                do {
                    started = try await SimulatedBank.start(
                        configuration: .init(bank: config, port: Int.random(in: 20_000..<32_000), journalPath: .some(directory + "/\(config.id).journal")),
                        seed: seed, eventLoopGroup: group, logger: logger
                    )
                } catch {
                    lastError = error
                }
            }
            guard let bank = started else { throw lastError ?? ConfigurationError(path: "test network", reason: "no free port") }
            banks[config.id] = bank
            bankConfigs[i].port = bank.port
        }
        let network = NetworkConfiguration(
            switchNode: .init(
                port: 0, bankTimeoutMilliseconds: Int(bankTimeout.nanoseconds / 1_000_000), dataDirectory: directory + "/switch",
                maxInFlight: maxInFlight
            ),
            banks: bankConfigs
        )
        let database = try await TestPostgres.shared.makeDatabase(prefix: "network")
        let registry = try RegistrationCenter(
            configuration: .init(journalDirectory: directory + "/registry", maxBatchAge: .milliseconds(20)),
            database: database.databaseURL, logger: logger
        )
        let registryTask = Task { try await registry.run() }
        await registry.waitUntilReady()
        try await registry.seed(network: network, seeds: bankConfigs.map { seeds[$0.id]! })

        let switchServer = try await SwitchServer.start(
            network: network, listenPort: 0, sink: registry, registrar: registry, dataDirectory: directory + "/switch",
            eventLoopGroup: group, logger: logger
        )
        try await switchServer.waitForBanks()
        let spec = MessageSpec.builtin("dcswitch-1987")!
        let acquirer = ISO8583Link(
            configuration: .init(host: "127.0.0.1", port: switchServer.port, name: "acquirer", requestTimeout: .seconds(10)),
            codec: ISO8583LinkCodec(spec: spec), eventLoopGroup: group, logger: logger
        )
        acquirer.start()
        try await acquirer.waitForSignOn().get()
        return TestNetwork(
            network: network, seeds: seeds, banks: banks, switchServer: switchServer, registry: registry, database: database,
            acquirer: acquirer, spec: spec, group: group, registryTask: registryTask, dataDirectory: directory
        )
    }

    /// Sends one acquirer request to the switch and returns its answer.
    public func send(_ request: ISO8583Message) async throws -> ISO8583Message {
        try await self.acquirer.send(request).get()
    }

    /// Waits for every queued reversal and completion advice to be acknowledged and every record to be committed.
    public func settle() async throws {
        _ = try await self.switchServer.paymentSwitch.reversals.drain(on: self.group.next(), timeout: .seconds(20)).get()
        _ = try await self.switchServer.paymentSwitch.completions.drain(deadline: .now() + .seconds(20), on: self.group.next()).get()
        await self.registry.waitUntilCommitted()
    }

    /// What the network's invariants say after ``settle()``.
    public struct Invariants: Sendable, CustomStringConvertible {
        /// Value of every coin issued at start.
        public var issued: Int64
        /// Value of the coins the banks hold now.
        public var heldByBanks: Int64
        /// Coin ids held by more than one bank.
        public var coinsWithTwoOwners: [String]
        /// Each bank's own consistency problems.
        public var bookProblems: [String]
        /// Value of the coins still pending at the banks (brought in by a transaction neither completed nor reversed).
        public var pendingAtBanks: Int64
        /// The registry's issued and live totals.
        public var registry: RegistryDatabase.Conservation

        public var valueConserved: Bool { self.issued == self.heldByBanks && self.registry.issued == self.registry.live && self.registry.live == self.issued }
        public var holds: Bool { self.valueConserved && self.coinsWithTwoOwners.isEmpty && self.bookProblems.isEmpty && self.pendingAtBanks == 0 }

        public var description: String {
            "issued \(issued), held by banks \(heldByBanks), pending \(pendingAtBanks), registry \(registry), two owners \(coinsWithTwoOwners.prefix(5)), problems \(bookProblems.prefix(5))"
        }
    }

    public func invariants() async throws -> Invariants {
        try await self.settle()
        var seen: [String: String] = [:]
        var twice: [String] = []
        var held: Int64 = 0
        var pending: Int64 = 0
        var problems: [String] = []
        for (id, bank) in self.banks {
            let books = bank.books
            held += books.coinValueHeld
            pending += books.pendingValue
            problems += books.verify().map { "\(id): \($0)" }
            for coin in books.allCoinIDs {
                if let other = seen[coin] { twice.append("\(coin) at \(other) and \(id)") } else { seen[coin] = id }
            }
        }
        return Invariants(
            issued: self.network.issuedValue, heldByBanks: held, coinsWithTwoOwners: twice, bookProblems: problems, pendingAtBanks: pending,
            registry: try await self.registry.database.conservation()
        )
    }

    /// Stops everything started here (the shared PostgreSQL cluster keeps running for other tests).
    public func stop() async throws {
        _ = try? await self.acquirer.shutdown().get()
        try? await self.switchServer.shutdown(drainTimeout: .seconds(2))
        for bank in self.banks.values { try? await bank.shutdown() }
        self.registry.shutdown()
        _ = try? await self.registryTask.value
        try? self.database.drop()
        try await self.group.shutdownGracefully()
    }
}

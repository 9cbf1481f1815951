#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The network a switch runs: its own node and the banks, with their seeded customers, merchants and coins.
///
/// `Fixtures/network.json` is the ready one that `dcswitch demo` and `dcswitch serve` use by default. Seed data is
/// generated deterministically from each bank's `customers`, `merchants` and `treasury` blocks, so every process
/// that reads the same file (switch, banks, traffic generator, registry) sees the same cards, wallets and coins.
public struct NetworkConfiguration: Codable, Hashable, Sendable {
    public var switchNode: SwitchNode
    public var banks: [BankConfiguration]

    enum CodingKeys: String, CodingKey {
        case switchNode = "switch"
        case banks
    }

    public init(switchNode: SwitchNode, banks: [BankConfiguration]) {
        self.switchNode = switchNode
        self.banks = banks
    }

    /// The acquirer-facing switch.
    public struct SwitchNode: Codable, Hashable, Sendable {
        public var host: String
        public var port: Int
        /// The switch's institution code (DE 32/33 on its legs), 11 digits.
        public var institution: String
        /// Prometheus metrics on this port (`/metrics`); none when absent.
        public var metricsPort: Int?
        /// How long the switch waits for a bank leg before reversing, in milliseconds.
        public var bankTimeoutMilliseconds: Int
        /// Directory for the switch's store-and-forward queue and duplicate table.
        public var dataDirectory: String?
        /// Transactions the switch carries at once; requests beyond are declined 91 at once (load shedding).
        public var maxInFlight: Int

        /// The default of ``maxInFlight``. It bounds the queueing delay under overload to about `maxInFlight` /
        /// throughput: at the 2,000–3,000 transactions per second one switch process carries on a small machine, about
        /// 0.1 s. Raise it for banks that think long: the switch needs rate × bank latency places to run at that rate.
        ///
        /// A lower bound trades throughput and tolerance for latency. `dcswitch demo` at 10,000 TPS offered on two cores
        /// (30 s, two runs each): 64 places gave p99 66 and 74 ms for 54,891 and 50,151 approvals, 256 places 236 and 260
        /// ms for 58,849 and 51,689. But with 64, a disk stall of 25–36 ms at 1,000–1,500 TPS (below capacity) held
        /// enough transactions to decline about 0.1 % of requests 91; with 256 none were. The default keeps declines for
        /// real overload only; `--max-in-flight 64` suits a saturation test that cares for its tail.
        public static let defaultMaxInFlight = 256

        public init(
            host: String = "127.0.0.1", port: Int, institution: String = "00000000099", metricsPort: Int? = nil,
            bankTimeoutMilliseconds: Int = 2000, dataDirectory: String? = nil, maxInFlight: Int = Self.defaultMaxInFlight
        ) {
            self.host = host
            self.port = port
            self.institution = institution
            self.metricsPort = metricsPort
            self.bankTimeoutMilliseconds = bankTimeoutMilliseconds
            self.dataDirectory = dataDirectory
            self.maxInFlight = maxInFlight
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.host = try c.decodeIfPresent(String.self, forKey: .host) ?? "127.0.0.1"
            self.port = try c.decode(Int.self, forKey: .port)
            self.institution = try c.decodeIfPresent(String.self, forKey: .institution) ?? "00000000099"
            self.metricsPort = try c.decodeIfPresent(Int.self, forKey: .metricsPort)
            self.bankTimeoutMilliseconds = try c.decodeIfPresent(Int.self, forKey: .bankTimeoutMilliseconds) ?? 2000
            self.dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory)
            self.maxInFlight = try c.decodeIfPresent(Int.self, forKey: .maxInFlight) ?? Self.defaultMaxInFlight
        }
    }

    /// Reads a network file.
    public static func load(path: String) throws -> NetworkConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            guard FileManager.default.fileExists(atPath: path) else {
                // A relative default (Fixtures/network.json) read from outside the repository lands here: say where.
                let place = path.hasPrefix("/") ? "" : " (looked in \(FileManager.default.currentDirectoryPath))"
                throw ConfigurationError(path: path, reason: "no such file" + place)
            }
            throw ConfigurationError(path: path, reason: "cannot read the file: \(error)")
        }
        do {
            let config = try JSONDecoder().decode(NetworkConfiguration.self, from: data)
            try config.validate(path: path)
            return config
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(path: path, reason: "\(error)")
        }
    }

    func validate(path: String) throws {
        guard self.switchNode.maxInFlight >= 1 else {
            throw ConfigurationError(path: path, reason: "switch.maxInFlight must be at least 1")
        }
        var seen: Set<String> = []
        for bank in self.banks {
            guard seen.insert(bank.id).inserted else { throw ConfigurationError(path: path, reason: "bank id \(bank.id) appears twice") }
            guard bank.institution.count == 11, bank.institution.allSatisfy(\.isNumber) else {
                throw ConfigurationError(path: path, reason: "bank \(bank.id): institution must be 11 digits")
            }
            guard !bank.bins.isEmpty, bank.bins.allSatisfy({ $0.count == 6 && $0.allSatisfy(\.isNumber) }) else {
                throw ConfigurationError(path: path, reason: "bank \(bank.id): bins must be 6-digit strings")
            }
        }
    }

    /// The bank called `id`.
    public func bank(_ id: String) -> BankConfiguration? {
        self.banks.first { $0.id == id }
    }

    /// Sum of the value of every seeded coin: what the central bank issues at start.
    public var issuedValue: Int64 {
        self.banks.reduce(0) { $0 + $1.issuedValue }
    }

    /// The same network with only the first `count` banks (for `--banks N`); more than there are is an error.
    public func limited(toBanks count: Int) throws -> NetworkConfiguration {
        guard count >= 1, count <= self.banks.count else {
            throw ConfigurationError(path: "--banks", reason: "choose 1–\(self.banks.count) banks for this network")
        }
        var copy = self
        copy.banks = Array(self.banks.prefix(count))
        return copy
    }
}

/// A problem with a network file.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// One simulated bank: its endpoint, its card ranges, and how to seed its books.
public struct BankConfiguration: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    /// 11-digit institution code; wallet addresses embed it.
    public var institution: String
    public var host: String
    public var port: Int
    /// 6-digit BINs of the bank's cards.
    public var bins: [String]
    public var customers: CustomerSeed
    public var merchants: MerchantSeed
    public var treasury: TreasurySeed
    /// Time the bank takes to answer, in microseconds (simulated think time).
    public var thinkTimeMicroseconds: Int
    public var faults: FaultInjection
    /// Where the bank keeps its journal (books recovery after a crash); in memory only when absent.
    public var journal: String?

    /// Generated customers: a card, a bank account and a DC wallet each, the wallet funded with coins.
    public struct CustomerSeed: Codable, Hashable, Sendable {
        public var count: Int
        /// Opening balance of each account, minor units.
        public var accountBalance: Int64
        /// Coins issued to each customer's wallet.
        public var walletCoins: Int
        /// Value of each issued coin, minor units.
        public var coinValue: Int64

        public init(count: Int, accountBalance: Int64, walletCoins: Int, coinValue: Int64) {
            self.count = count
            self.accountBalance = accountBalance
            self.walletCoins = walletCoins
            self.coinValue = coinValue
        }
    }

    /// Generated merchants: a terminal, a merchant id and a DC wallet each (empty at start).
    public struct MerchantSeed: Codable, Hashable, Sendable {
        public var count: Int
        public init(count: Int) { self.count = count }
    }

    /// The bank's own DC holdings, used to exchange account money into coins (transfer-in).
    public struct TreasurySeed: Codable, Hashable, Sendable {
        public var coins: Int
        public var coinValue: Int64
        public init(coins: Int, coinValue: Int64) {
            self.coins = coins
            self.coinValue = coinValue
        }
    }

    public init(
        id: String, name: String? = nil, institution: String, host: String = "127.0.0.1", port: Int, bins: [String],
        customers: CustomerSeed, merchants: MerchantSeed, treasury: TreasurySeed,
        thinkTimeMicroseconds: Int = 0, faults: FaultInjection = .none, journal: String? = nil
    ) {
        self.id = id
        self.name = name ?? id
        self.institution = institution
        self.host = host
        self.port = port
        self.bins = bins
        self.customers = customers
        self.merchants = merchants
        self.treasury = treasury
        self.thinkTimeMicroseconds = thinkTimeMicroseconds
        self.faults = faults
        self.journal = journal
    }

    enum CodingKeys: String, CodingKey {
        case id, name, institution, host, port, bins, customers, merchants, treasury, thinkTimeMicroseconds, faults, journal
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try c.decode(String.self, forKey: .id)
        self.name = try c.decodeIfPresent(String.self, forKey: .name) ?? self.id
        self.institution = try c.decode(String.self, forKey: .institution)
        self.host = try c.decodeIfPresent(String.self, forKey: .host) ?? "127.0.0.1"
        self.port = try c.decode(Int.self, forKey: .port)
        self.bins = try c.decode([String].self, forKey: .bins)
        self.customers = try c.decode(CustomerSeed.self, forKey: .customers)
        self.merchants = try c.decodeIfPresent(MerchantSeed.self, forKey: .merchants) ?? MerchantSeed(count: 0)
        self.treasury = try c.decodeIfPresent(TreasurySeed.self, forKey: .treasury) ?? TreasurySeed(coins: 0, coinValue: 0)
        self.thinkTimeMicroseconds = try c.decodeIfPresent(Int.self, forKey: .thinkTimeMicroseconds) ?? 0
        self.faults = try c.decodeIfPresent(FaultInjection.self, forKey: .faults) ?? .none
        self.journal = try c.decodeIfPresent(String.self, forKey: .journal)
    }

    /// Value of every coin this bank's seed issues.
    public var issuedValue: Int64 {
        Int64(self.customers.count * self.customers.walletCoins) * self.customers.coinValue
            + Int64(self.treasury.coins) * self.treasury.coinValue
    }
}

import DigitalCurrency
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import TrafficGenerator

/// A small network: two banks with a few customers and merchants each, so that seeding is quick.
func smallNetwork(
    customers: Int = 40, merchants: Int = 6, accountBalance: Int64 = 1_000_000, walletCoins: Int = 3, coinValue: Int64 = 10_000,
    treasuryCoins: Int = 200
) -> NetworkConfiguration {
    let banks = [("BANKA", "10000000001", "476173", 8601), ("BANKB", "10000000002", "522011", 8602)].map { id, institution, bin, port in
        BankConfiguration(
            id: id, institution: institution, port: port, bins: [bin],
            customers: .init(count: customers, accountBalance: accountBalance, walletCoins: walletCoins, coinValue: coinValue),
            merchants: .init(count: merchants), treasury: .init(coins: treasuryCoins, coinValue: coinValue)
        )
    }
    return NetworkConfiguration(switchNode: .init(port: 8583), banks: banks)
}

/// Seed data of `network`, generated once per network shape.
func seeds(of network: NetworkConfiguration) -> [SeedData] {
    network.banks.map { SeedData(bank: $0) }
}

/// A logger that drops everything (tests never bootstrap the logging system).
let quietLogger = Logger(label: "traffic-generator-tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs `body` with an event-loop group that is shut down afterwards.
func withEventLoops<T>(_ threads: Int = 2, _ body: (MultiThreadedEventLoopGroup) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    do {
        let result = try await body(group)
        try await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}

/// A fresh temporary directory path for output files.
func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dcswitch-load-tests-\(ProcessInfo.processInfo.processIdentifier)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// The lines of a text file.
func readLines(_ path: String) throws -> [String] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.split(separator: "\n").map(String.init)
}

/// A JSON object's keys.
func jsonObject(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

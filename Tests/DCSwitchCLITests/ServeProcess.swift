import DCSwitchTestKit
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `dcswitch serve` as a child process: the network of `Fixtures/network.json` (same banks, institutions, BINs
/// and seeds, so fixtures written for it apply) on free ports, with fewer customers, on a fresh database of the
/// test kit's PostgreSQL cluster.
final class ServeProcess: Sendable {
    let process: SpawnedProcess
    /// The switch's acquirer port.
    let port: Int
    let directory: String
    /// The network file the process serves.
    let configPath: String
    /// Its data directory (journals, queues, logs).
    let dataDirectory: String
    let databaseURL: String

    var target: String { "127.0.0.1:\(self.port)" }

    private init(process: SpawnedProcess, port: Int, directory: String, configPath: String, dataDirectory: String, databaseURL: String) {
        self.process = process
        self.port = port
        self.directory = directory
        self.configPath = configPath
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
    }

    /// Starts the network and waits for `Ready.`; retries on other ports when one is taken. `thinkTimeMicroseconds`
    /// is every bank's think time.
    static func start(
        customers: Int = 4, merchants: Int = 2, treasuryCoins: Int = 100, thinkTimeMicroseconds: Int = 0
    ) async throws -> ServeProcess {
        let database = try await TestPostgres.shared.makeDatabase(prefix: "replay")
        let directory = try TestPostgres.makeTemporaryDirectory("replay")
        var lastOutput = ""
        for attempt in 0..<5 {
            let port = Int.random(in: 20_000..<32_000)
            let config = try Self.configuration(
                switchPort: port, customers: customers, merchants: merchants, treasuryCoins: treasuryCoins,
                thinkTimeMicroseconds: thinkTimeMicroseconds
            )
            let configPath = directory + "/network-\(attempt).json"
            try config.write(to: URL(fileURLWithPath: configPath))
            let launched = try await Self.launch(
                port: port, directory: directory, configPath: configPath, dataDirectory: directory + "/data-\(attempt)",
                databaseURL: database.url
            )
            switch launched {
            case .success(let serve): return serve
            case .failure(let error): lastOutput = error.message
            }
        }
        throw ServeError(message: "dcswitch serve did not start:\n\(lastOutput)")
    }

    /// The same network again, on the same ports, data directory and database (after ``kill()`` or ``stop()``).
    func restart() async throws -> ServeProcess {
        try await Self.launch(
            port: self.port, directory: self.directory, configPath: self.configPath, dataDirectory: self.dataDirectory,
            databaseURL: self.databaseURL
        ).get()
    }

    private static func launch(
        port: Int, directory: String, configPath: String, dataDirectory: String, databaseURL: String
    ) async throws -> Result<ServeProcess, ServeError> {
        // Each start writes a file of its own: what a killed run printed stays readable beside its successor's.
        let outputPath = directory + "/serve-\(UInt32.random(in: 0 ... .max)).log"
        let process = try SpawnedProcess(
            executable: CLI.binary.path,
            arguments: ["serve", "--config", configPath, "--database-url", databaseURL, "--data-dir", dataDirectory],
            directory: directory, outputPath: outputPath
        )
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, process.isRunning, !process.output.contains("Ready.") {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.output.contains("Ready."), process.isRunning {
            return .success(ServeProcess(
                process: process, port: port, directory: directory, configPath: configPath, dataDirectory: dataDirectory,
                databaseURL: databaseURL
            ))
        }
        process.terminate()
        await process.exited()
        return .failure(ServeError(message: process.output))
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    func kill() async {
        self.process.kill()
        await self.process.exited()
    }

    /// Everything the process printed so far.
    var outputText: String { self.process.output }

    /// SIGTERM, then waits for the graceful shutdown (it drains for up to 10 s).
    func stop() async {
        self.process.terminate()
        await self.process.exited()
    }

    /// SIGTERM without waiting: for a `defer`, where the test no longer looks at the process.
    func terminate() {
        self.process.terminate()
    }

    /// `Fixtures/network.json` with free ports, no metrics endpoint and smaller seeds.
    static func configuration(switchPort: Int, customers: Int, merchants: Int, treasuryCoins: Int, thinkTimeMicroseconds: Int = 0) throws -> Data {
        let data = try Data(contentsOf: CLI.root.appendingPathComponent("Fixtures/network.json"))
        guard var network = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              var switchNode = network["switch"] as? [String: Any], var banks = network["banks"] as? [[String: Any]] else {
            throw ServeError(message: "Fixtures/network.json is not a network file")
        }
        switchNode["port"] = switchPort
        switchNode["metricsPort"] = nil
        network["switch"] = switchNode
        for i in banks.indices {
            banks[i]["port"] = switchPort + 1 + i < 32_000 ? switchPort + 1 + i : switchPort - 1 - i
            if var c = banks[i]["customers"] as? [String: Any] {
                c["count"] = customers
                banks[i]["customers"] = c
            }
            banks[i]["merchants"] = ["count": merchants]
            if thinkTimeMicroseconds > 0 { banks[i]["thinkTimeMicroseconds"] = thinkTimeMicroseconds }
            if var t = banks[i]["treasury"] as? [String: Any] {
                t["coins"] = treasuryCoins
                banks[i]["treasury"] = t
            }
        }
        network["banks"] = banks
        return try JSONSerialization.data(withJSONObject: network, options: [.prettyPrinted])
    }
}

struct ServeError: Error, CustomStringConvertible, Sendable {
    var message: String
    var description: String { self.message }
}

import DCSwitchTestKit
import Foundation
import Testing

/// `dcswitch demo`, the README's main command, end to end at a small rate: every part starts, all seven flows run,
/// the registry check and the conservation check pass and land in the report, and the process exits 0.
@Suite("dcswitch demo: the main command, short")
struct DemoCommandTests {
    @Test func aMaxInFlightBelowOneIsRefusedByName() async throws {
        let result = try await CLI.run(["demo", "--max-in-flight", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--max-in-flight must be at least 1"), "\(result.stderr)")
    }

    @Test func aMissingNetworkFileIsNamedClearly() async throws {
        let directory = try TestPostgres.makeTemporaryDirectory("demo-no-config")
        let result = try await CLI.run(["demo", "--config", directory + "/absent.json", "--duration", "1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--config \(directory)/absent.json"), "\(result.stderr)")
        #expect(result.stderr.contains("no such file"), "\(result.stderr)")
        #expect(!result.stderr.contains("NSCocoaErrorDomain"), "\(result.stderr)")
    }

    @Test func aShortDemoRunsEveryFlowAndItsRegistryAndConservationChecksPass() async throws {
        let database = try await TestPostgres.shared.makeDatabase(prefix: "demo")
        defer { try? database.drop() }
        let directory = try TestPostgres.makeTemporaryDirectory("demo")
        let report = directory + "/report.json"
        var result: CLI.Result?
        // Ports are drawn at random below the ephemeral range; another test may hold one: try again on others.
        for attempt in 0..<4 {
            let configPath = directory + "/network-\(attempt).json"
            let config = try ServeProcess.configuration(
                switchPort: Int.random(in: 20_000..<31_000), customers: 40, merchants: 4, treasuryCoins: 400
            )
            try config.write(to: URL(fileURLWithPath: configPath))
            let arguments = [
                "demo", "--config", configPath, "--database-url", database.url, "--data-dir", directory + "/data-\(attempt)",
                "--rate", "100", "--duration", "3", "--banks", "2", "--report", report,
            ]
            let run = try await CLI.run(arguments)
            result = run
            if run.status == 0 || !run.stderr.contains("Address already in use") { break }
        }
        let run = try #require(result)
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2_000))")
        #expect(run.stdout.contains("registry: expected"), "stdout: \(run.stdout.suffix(2_000))")

        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let flows = try #require(json["flows"] as? [String: [String: Any]])
        let expectedFlows = ["account-open", "transfer-in", "redeem", "nfc", "qr-bsc", "qr-csb", "in-app"]
        #expect(Set(flows.keys).isSuperset(of: expectedFlows), "\(flows.keys.sorted())")
        #expect((json["sent"] as? Int ?? 0) >= 250, "about 300 requests at 100 TPS for 3 s")
        #expect((json["approved"] as? Int ?? 0) > 0)
        #expect((json["errors"] as? Int) == 0)
        let registry = try #require(json["registry"] as? [String: Any])
        let expected = try #require(registry["records_expected"] as? Int)
        #expect(expected > 0)
        #expect(registry["records_found"] as? Int == expected)
        #expect(registry["duplicates"] as? Int == 0)
        #expect(registry["missing_transactions"] as? Int == 0)
        let conservation = try #require(json["conservation"] as? [String: Any])
        #expect(conservation["ok"] as? Bool == true)
        #expect((conservation["issued"] as? Int ?? 0) > 0 && conservation["issued"] as? Int == conservation["live"] as? Int)

        // Where approvals waited for the disk: each bank's journal, then the registry's.
        #expect(run.stdout.contains("durability (an approval waits for each in turn"), "stdout: \(run.stdout.suffix(2_000))")
        let durability = try #require(json["durability"] as? [[String: Any]])
        #expect(durability.compactMap { $0["name"] as? String } == ["BANKA journal", "BANKB journal", "registry journal"])
        for point in durability {
            let appends = point["appends"] as? Int ?? 0
            let syncs = point["syncs"] as? Int ?? 0
            #expect(appends > 0 && syncs > 0 && syncs <= appends, "\(point)")
            let append = try #require(point["append_ms"] as? [String: Double])
            let fsync = try #require(point["fsync_ms"] as? [String: Double])
            #expect(append["p50"]! > 0 && append["p50"]! <= append["p99"]! && append["p99"]! <= append["max"]!, "\(point)")
            #expect(fsync["p50"]! <= fsync["max"]! && fsync["max"]! <= append["max"]!, "a sync is part of what an append waits for: \(point)")
        }
        #expect((durability.last?["appends"] as? Int ?? 0) <= (json["approved"] as? Int ?? 0), "one registry entry per approval at most")

        // Where the CPU went: this process (switch, banks, registry, generator) and its generator threads.
        #expect(run.stdout.contains("CPU over "), "stdout: \(run.stdout.suffix(2_000))")
        let cpu = try #require(json["cpu"] as? [String: Any])
        let process = cpu["process_cores"] as? Double ?? 0
        let generator = cpu["generator_cores"] as? Double ?? -1
        #expect(process > 0 && generator > 0 && generator <= process + 0.05, "\(cpu)")
        // Given by URL, the database is not this run's own: its CPU is not reported (the embedded cluster's is).
        #expect(cpu["postgres_cores"] == nil && cpu["postgres_us_per_transaction"] == nil, "\(cpu)")
        #expect(cpu["transactions"] as? Int == json["sent"] as? Int, "\(cpu)")
        let busy = cpu["machine_busy"] as? Double ?? -1
        #expect(busy > 0 && busy <= 1, "\(cpu)")
    }
}

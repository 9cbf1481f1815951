import DCSwitchTestKit
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The registration center in a real process, SIGKILLed mid-load and restarted on the same journal: every
/// acknowledged approval has exactly its owner-change records, value is conserved, and nothing is flagged.
@Suite("Registry crash", .serialized, .timeLimit(.minutes(3)))
struct RegistryCrashTests {
    /// A `dcswitch registry ingest-test` child process; its stdout and stderr go to files.
    final class IngestProcess {
        let process: SpawnedProcess

        init(_ arguments: [String], directory: String, tag: String) throws {
            process = try SpawnedProcess(
                executable: CLI.binary.path, arguments: ["registry", "ingest-test"] + arguments,
                outputPath: directory + "/\(tag).out", errorPath: directory + "/\(tag).err"
            )
        }

        var output: String { process.output }
        var errors: String { process.errors }

        /// The first stdout line holding `"event":"<event>"`, once it is there (or `nil` if the process exits first).
        func event(_ name: String) async throws -> [String: Any]? {
            while true {
                if let line = output.split(separator: "\n").first(where: { $0.contains(#""event":"\#(name)""#) }) {
                    return try CLI.json(String(line))
                }
                if !process.isRunning { return nil }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Lines in `path` (it grows by thousands of approvals a second: counted with `memchr`, not byte by byte in a
    /// debug build, which took a core of the machine the other suites share).
    static func lineCount(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return data.withUnsafeBytes { bytes -> Int in
            guard var cursor = bytes.baseAddress else { return 0 }
            let end = cursor + bytes.count
            var lines = 0
            while cursor < end, let newline = memchr(cursor, 0x0A, end - cursor) {
                lines += 1
                cursor = UnsafeRawPointer(newline) + 1
            }
            return lines
        }
    }

    /// Two processes killed with SIGKILL at a random instant under load (journal appends in flight, batches being
    /// written), a third that recovers, adds its own load and drains; then `dcswitch registry verify` over every
    /// approval any of them acknowledged.
    @Test(arguments: ["in-batch", "deferred"])
    func sigkillMidLoadThenRestartKeepsEveryApprovalExactlyOnce(coinState: String) async throws {
        let database = try await TestPostgres.shared.makeDatabase(prefix: "crash")
        let directory = try TestPostgres.makeTemporaryDirectory("registry-crash")
        let journal = directory + "/journal"
        let record = directory + "/approvals.jsonl"
        var recovered = 0
        var killedAfter: [Int] = []

        for run in 1...3 {
            let last = run == 3
            let child = try IngestProcess(
                [
                    "--database-url", database.url, "--journal", journal, "--record", record, "--run", "r\(run)",
                    "--coin-state", coinState, "--approvals", last ? "1000" : "10000000", "--streams", "64",
                ], directory: directory, tag: "run\(run)")
            let ready = try await child.event("ready")
            try #require(ready != nil, "run \(run) did not start: \(child.errors)")
            if run > 1 { recovered += ready?["recovered_records"] as? Int ?? 0 }
            if last {
                let drained = try await child.event("drained")
                let status = await child.process.exited()
                try #require(status == 0, "recovery run failed: \(child.errors)")
                #expect(drained?["alerts"] as? Int == 0)
                break
            }
            // Under load: let it acknowledge a few hundred approvals, then kill it at a random instant.
            let before = Self.lineCount(record)
            while Self.lineCount(record) < before + 300 && child.process.isRunning {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...400)))
            try #require(child.process.isRunning, "run \(run) ended early: \(child.errors)")
            child.process.kill()
            let status = await child.process.exited()
            #expect(status == 128 + SIGKILL, "run \(run) exited with \(status), not by the SIGKILL")
            killedAfter.append(Self.lineCount(record) - before)
        }

        // Each restart found journaled records that were not (known to be) committed, and replayed them.
        #expect(recovered > 0)
        #expect(killedAfter.allSatisfy { $0 >= 300 })
        let verify = try await CLI.run(["registry", "verify", "--record", record, "--database-url", database.url])
        #expect(verify.status == 0, "\(verify.stdout)\n\(verify.stderr)")
        let summary = try CLI.json(try #require(verify.lines.last))
        let expected = summary["records_expected"] as? Int ?? -1
        #expect(expected > 0)
        #expect(summary["records_found"] as? Int == expected)
        #expect(summary["duplicates"] as? Int == 0)
        #expect(summary["missing_transactions"] as? Int == 0)
        #expect((summary["conservation"] as? [String: Any])?["ok"] as? Bool == true)
        // The workload is valid: a record applied twice (or out of order) would show up as an alert.
        let alerts = try await database.cluster.runPsql(database: database.name, ["-tAc", "SELECT count(*) FROM alerts"])
        #expect(alerts.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let pending = try await database.cluster.runPsql(
            database: database.name, ["-tAc", "SELECT count(*) FROM batches WHERE coins_applied_at IS NULL"])
        #expect(pending.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}

import DCSwitchTestKit
import Foundation
import RegistrationCenter

/// Runs the built `dcswitch` binary (it sits beside the test bundle in the build directory).
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Wall-clock seconds from the start of the process to its exit (not counting the wait for the caller's task to
        /// resume, which on a busy cooperative pool can be long).
        var elapsed: Double
        var lines: [String] { self.stdout.split(separator: "\n").map(String.init) }
    }

    static var binary: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for directory in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = directory.appendingPathComponent("dcswitch")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        // `swift test` builds into .build/debug; the bundle may be nested below it.
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/dcswitch")
    }

    /// Runs `dcswitch` with `arguments` to its end, on a thread of its own (the run may take seconds: it must not hold a
    /// thread of the cooperative pool the other suites share).
    static func run(_ arguments: [String], stdin: String? = nil) async throws -> Result {
        try await onOwnThread { try Self.runBlocking(arguments, stdin: stdin) }
    }

    private static func runBlocking(_ arguments: [String], stdin: String?) throws -> Result {
        // posix_spawn and waitpid on the child's pid (RegistrationCenter's ChildProcess), not Foundation's Process:
        // its exit notification was seen lost while several children ran, leaving waitUntilExit waiting for ever.
        let directory = try TestPostgres.makeTemporaryDirectory("cli")
        let input = directory + "/stdin"
        try Data((stdin ?? "").utf8).write(to: URL(fileURLWithPath: input))
        let started = Date()
        let outcome = try ChildProcess(
            executable: self.binary.path, arguments: arguments, outputPath: directory + "/stdout",
            errorPath: directory + "/stderr", inputPath: input
        ).run()
        let elapsed = Date().timeIntervalSince(started)
        let stderr = (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: directory)
        return Result(status: outcome.status, stdout: outcome.output, stderr: stderr, elapsed: elapsed)
    }

    static func json(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return object as? [String: Any] ?? [:]
    }

    /// The repository root, for files under Specs/ and Fixtures/.
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

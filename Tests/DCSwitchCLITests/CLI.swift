import DCSwitchTestKit
import Foundation

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
        let started = Date()
        let process = Process()
        process.executableURL = self.binary
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
        }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self),
            elapsed: Date().timeIntervalSince(started)
        )
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

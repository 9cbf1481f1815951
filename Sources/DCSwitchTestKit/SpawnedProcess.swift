import Foundation
import RegistrationCenter

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A long-running child of a test (`dcswitch serve`, `load`, `record`, `registry ingest-test`), started with
/// `posix_spawn` and reaped with `waitpid` on its own pid (``ChildProcess/Running``).
///
/// Foundation's `Process` once lost a child's exit here and left a run waiting for ever; it also hands the child every
/// descriptor of the test process. This one gives the child only its standard streams, sends signals only while the
/// child is unreaped, and waits by polling, so no thread of the cooperative pool blocks on it.
public final class SpawnedProcess: Sendable {
    private let running: ChildProcess.Running
    /// Where its standard output (and standard error, unless ``errorPath`` is set) goes.
    public let outputPath: String
    /// Where its standard error goes, when apart from its output.
    public let errorPath: String?

    /// Starts `executable` in `directory`; its output goes to `outputPath` (created or truncated).
    public init(
        executable: String, arguments: [String], directory: String? = nil, outputPath: String, errorPath: String? = nil
    ) throws {
        self.outputPath = outputPath
        self.errorPath = errorPath
        self.running = try ChildProcess(
            executable: executable, arguments: arguments, outputPath: outputPath, errorPath: errorPath,
            workingDirectory: directory
        ).start()
    }

    public var processIdentifier: Int32 { self.running.pid }

    public var isRunning: Bool { self.running.isRunning }

    /// The exit status (128 + the signal that ended it), or `nil` while it runs.
    public var exitStatus: Int32? { self.running.exitStatus }

    /// SIGTERM (a graceful stop), unless it has already exited.
    public func terminate() { self.running.send(signal: SIGTERM) }

    /// SIGKILL, unless it has already exited.
    public func kill() { self.running.send(signal: SIGKILL) }

    /// Waits for it to exit; its exit status.
    @discardableResult
    public func exited() async -> Int32 {
        while true {
            if let status = self.running.exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// What it has written to ``outputPath`` so far.
    public var output: String { Self.read(self.outputPath) }

    /// What it has written to ``errorPath`` so far (empty without one).
    public var errors: String { self.errorPath.map(Self.read) ?? "" }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

import Foundation
import RegistrationCenter

/// Runs blocking work — waiting for a child process, `psql`, `pg_ctl` — on a thread of its own and awaits its result.
///
/// Async tests run on Swift's cooperative pool, which has as many threads as the machine has cores (two here). A test
/// that blocks one of them in `waitpid` for seconds halves the whole parallel run; two such tests freeze it, including
/// any test whose progress the blocked ones wait for. Everything that can block longer than a moment goes through here.
///
/// ```swift
/// let result = try await onOwnThread { try cluster.stop() }
/// ```
public func onOwnThread<Value: Sendable>(
    _ body: @escaping @Sendable () throws -> Value
) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = "test-blocking"
        thread.start()
    }
}

/// The non-throwing form of ``onOwnThread(_:)``.
public func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: body())
        }
        thread.name = "test-blocking"
        thread.start()
    }
}

extension EmbeddedPostgres {
    /// ``psql(database:_:)`` on a thread of its own.
    public func runPsql(database: String? = nil, _ arguments: [String]) async throws -> String {
        try await onOwnThread { try self.psql(database: database, arguments) }
    }

    /// ``stop()`` (`pg_ctl stop`, which waits for a checkpoint) on a thread of its own.
    public func stopServer() async throws {
        try await onOwnThread { try self.stop() }
    }

    /// ``start()`` (`pg_ctl start`, which waits until the server accepts connections) on a thread of its own.
    public func startServer() async throws {
        try await onOwnThread { try self.start() }
    }
}

import Foundation
import Logging
import NIOPosix
import PostgresNIO
import RegistrationCenter

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL cluster for the whole test process, with a fresh database per test or suite.
///
/// The cluster lives under a temporary directory, starts on first use (once, however many tests ask at the same
/// time), and is stopped and deleted when the process exits. It needs nothing but the PostgreSQL server package
/// (`initdb`, `pg_ctl`, `psql`) on the machine.
///
/// ```swift
/// let database = try await TestPostgres.shared.makeDatabase()
/// let client = PostgresClient(configuration: database.clientConfiguration, backgroundLogger: logger)
/// ```
public actor TestPostgres {
    /// The process-wide instance.
    public static let shared = TestPostgres()

    private var starting: Task<EmbeddedPostgres, any Error>?

    private init() {}

    /// The shared cluster, started on first call.
    public func cluster() async throws -> EmbeddedPostgres {
        if let starting { return try await starting.value }
        let task = Task { try await Self.startCluster(tag: "shared") }
        starting = task
        return try await task.value
    }

    /// Creates a fresh, empty database (`test_<random>`) on the shared cluster.
    public func makeDatabase(prefix: String = "test") async throws -> TestDatabase {
        let cluster = try await cluster()
        let name = "\(prefix)_\(UInt64.random(in: 0...UInt64.max) & 0xffff_ffff_ffff)"
        try await NIOThreadPool.singleton.runIfActive { try cluster.createDatabase(name) }
        return TestDatabase(cluster: cluster, name: name)
    }

    /// A cluster of its own, for tests that stop and restart the server (which would break every other test on the
    /// shared one). Stopped and deleted at process exit, or earlier with ``EmbeddedPostgres/stop()``.
    public static func makePrivateCluster(database: String = "registry") async throws -> EmbeddedPostgres {
        try await startCluster(tag: "private", database: database)
    }

    /// Creates a fresh temporary directory (`$TMPDIR/dcswitch-<tag>-XXXXXX`) that the `postgres` user can traverse,
    /// deleted when the process exits.
    public static func makeTemporaryDirectory(_ tag: String) throws -> String {
        let base = PostgresBinaries.environment("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/dcswitch-\(tag)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw RegistrationCenterError(.journalIO, "mkdtemp in \(base) failed: errno \(errno)")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        // The server runs as `postgres` when tests run as root: it must be able to traverse this directory.
        chmod(path, 0o755)
        TemporaryDirectories.shared.removeAtExit(path)
        return path
    }

    private static func startCluster(tag: String, database: String = "postgres") async throws -> EmbeddedPostgres {
        let root = try makeTemporaryDirectory("pg-\(tag)")
        let configuration = EmbeddedPostgres.Configuration(
            directory: root,
            database: database,
            settings: [
                // Many small databases and short tests: keep the footprint modest.
                "shared_buffers": "128MB",
                "max_wal_size": "1GB",
                "min_wal_size": "80MB",
            ],
            stopOnExit: true,
            removeOnExit: true
        )
        let cluster = try await EmbeddedPostgres.start(configuration, logger: Logger(label: "test-postgres") { _ in
            SwiftLogNoOpLogHandler()
        })
        return cluster
    }

}

/// One database on a test cluster.
public struct TestDatabase: Sendable {
    /// The cluster the database lives on.
    public let cluster: EmbeddedPostgres
    /// The database name.
    public let name: String

    /// A database on a cluster (for example the registry database of a private cluster).
    public init(cluster: EmbeddedPostgres, name: String) {
        self.cluster = cluster
        self.name = name
    }

    /// A PostgresNIO client configuration for this database.
    public var clientConfiguration: PostgresClient.Configuration {
        cluster.clientConfiguration(database: name)
    }

    /// The database's URL, parsed (what `RegistrationCenter` takes).
    public var databaseURL: DatabaseURL { cluster.databaseURL(database: name) }

    /// A `postgres://` URL for this database.
    public var url: String { cluster.url(database: name) }

    /// Drops the database, in the background (the cluster goes away at exit anyway).
    ///
    /// Not on the caller's thread: callers are async tests on Swift's cooperative pool (two threads on a two-core
    /// machine), and `psql`'s `DROP DATABASE … WITH (FORCE)` can take a long time under load (it waits for a
    /// checkpoint and for the database's sessions to end). Two tests blocked there in `waitpid` froze every other test
    /// of the run, including the one whose child process had to be killed for the load to stop.
    public func drop() throws {
        let cluster = self.cluster
        let name = self.name
        Thread.detachNewThread {
            try? cluster.dropDatabase(name)
        }
    }
}

/// Temporary directories to delete when the test process exits.
final class TemporaryDirectories: @unchecked Sendable {
    static let shared = TemporaryDirectories()

    private let lock = NSLock()
    private var paths: [String] = []
    private var installed = false

    func removeAtExit(_ path: String) {
        lock.lock()
        paths.append(path)
        let install = !installed
        installed = true
        lock.unlock()
        if install {
            atexit { TemporaryDirectories.shared.removeAll() }
        }
    }

    private func removeAll() {
        lock.lock()
        let all = paths
        paths.removeAll()
        lock.unlock()
        for path in all { try? FileManager.default.removeItem(atPath: path) }
    }
}

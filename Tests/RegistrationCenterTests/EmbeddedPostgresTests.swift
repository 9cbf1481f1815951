import DCSwitchTestKit
import Foundation
import Logging
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import RegistrationCenter

@Suite("EmbeddedPostgres")
struct EmbeddedPostgresTests {
    @Test func sharedClusterAnswersQueries() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let output = try await database.cluster.runPsql(database: database.name, ["-tAc", "SELECT current_database()"])
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == database.name)
        #expect(database.url.hasPrefix("postgres://postgres@127.0.0.1:"))
    }

    /// What `dcswitch demo` reports as PostgreSQL's CPU: the postmaster and its backends, the exited ones included.
    @Test func cpuSecondsCountTheBackendsWork() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let before = try #require(database.cluster.cpuSeconds())
        // A backend that counts ten million rows (about a second of CPU here) and exits with its psql.
        _ = try await database.cluster.runPsql(
            database: database.name, ["-tAc", "SELECT count(*) FROM generate_series(1, 10000000)"])
        let after = try #require(database.cluster.cpuSeconds())
        #expect(after - before >= 0.2, "before \(before) s, after \(after) s")
    }

    @Test func restartsAStoppedClusterAndReusesItsDirectory() async throws {
        let cluster = try await TestPostgres.makePrivateCluster()
        #expect(cluster.isRunning())
        try await cluster.stopServer()
        #expect(!cluster.isRunning())
        #expect(cluster.cpuSeconds() == nil, "no server, no CPU to read")
        // Starting again from the same directory reuses the cluster (no initdb) and keeps the database.
        let again = try await EmbeddedPostgres.start(cluster.configuration, logger: Logger.noop)
        #expect(again.isRunning())
        #expect(again.dataDirectory == cluster.dataDirectory)
        let output = try await again.runPsql(["-tAc", "SELECT 1"])
        #expect(output.contains("1"))
        // A second start while it runs adopts the running server on its port.
        let adopted = try await EmbeddedPostgres.start(cluster.configuration, logger: Logger.noop)
        #expect(adopted.port == again.port)
        try await again.stopServer()
    }

    @Test func staleLockFileIsRemoved() async throws {
        let cluster = try await TestPostgres.makePrivateCluster()
        try await cluster.stopServer()
        // A postmaster.pid naming a process that is not PostgreSQL (this test process) is stale.
        let stale = "\(getpid())\n\(cluster.dataDirectory)\n0\n\(cluster.port)\n\n127.0.0.1\n0 0\nready\n"
        try stale.write(toFile: cluster.dataDirectory + "/postmaster.pid", atomically: true, encoding: .utf8)
        let restarted = try await EmbeddedPostgres.start(cluster.configuration, logger: Logger.noop)
        #expect(try await restarted.runPsql(["-tAc", "SELECT 1"]).contains("1"))
        try await restarted.stopServer()
    }

    /// `pg_ctl` starts the server through ``ChildProcess``: had the child inherited this process's descriptors, the
    /// server would hold our sockets open (SwiftNIO's are not close-on-exec), and a connection we close would never
    /// reach its peer as an end of file.
    @Test func aChildInheritsNoDescriptorBeyondStandardOutput() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let outcome = try ChildProcess(
            executable: "/bin/ls", arguments: ["/proc/self/fd"], outputPath: try RegistryFixtures.temporaryDirectory("fds") + "/ls.out"
        ).run()
        #expect(outcome.succeeded, "\(outcome.output)")
        let open = Set(outcome.output.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) })
        #expect(open.isSuperset(of: [0, 1, 2]), "\(outcome.output)")
        #expect(!open.contains(ends[0]) && !open.contains(ends[1]), "the pipe \(ends) leaked into the child: \(open.sorted())")
        // At most one more: the directory `ls` itself opened.
        #expect(open.count <= 4, "\(open.sorted())")
    }

    @Test func missingBinariesNameThePackageToInstall() throws {
        let error = #expect(throws: RegistrationCenterError.self) {
            _ = try PostgresBinaries.locate(path: "/nonexistent", extraDirectories: [])
        }
        #expect(error?.code == .postgresNotInstalled)
        #expect(error?.message.contains("apt-get install postgresql") == true)
    }
}

extension Logger {
    /// A logger that drops everything (tests never bootstrap the logging system).
    static let noop = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
}

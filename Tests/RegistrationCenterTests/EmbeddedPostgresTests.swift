import DCSwitchTestKit
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import RegistrationCenter

@Suite("EmbeddedPostgres")
struct EmbeddedPostgresTests {
    @Test func sharedClusterAnswersQueries() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        let output = try await database.cluster.runPsql(database: database.name, ["-tAc", "SELECT current_database()"])
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == database.name)
        #expect(database.url.hasPrefix("postgres://postgres@127.0.0.1:"))
    }

    @Test func restartsAStoppedClusterAndReusesItsDirectory() async throws {
        let cluster = try await TestPostgres.makePrivateCluster()
        #expect(cluster.isRunning())
        try await cluster.stopServer()
        #expect(!cluster.isRunning())
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

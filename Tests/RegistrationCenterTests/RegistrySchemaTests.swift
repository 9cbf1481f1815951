import DCSwitchTestKit
import PostgresNIO
import Testing

@testable import RegistrationCenter

@Suite("RegistrySchema")
struct RegistrySchemaTests {
    @Test func migrationsAreIdempotent() async throws {
        try await RegistryFixtures.withDatabase { database, testDatabase in
            // withDatabase migrated once already.
            let again = try await database.migrate()
            #expect(again.isEmpty)
            #expect(
                try await RegistryFixtures.count("SELECT count(*) FROM schema_migrations", in: testDatabase)
                    == RegistrySchema.migrations.count)
            for table in ["wallets", "coins", "owner_changes", "batches", "alerts", "reconciliation_runs"] {
                #expect(try await RegistryFixtures.count("SELECT count(*) FROM \(table)", in: testDatabase) == 0)
            }
        }
    }

    @Test func laterMigrationsApplyInOrderOnce() async throws {
        try await RegistryFixtures.withDatabase { database, testDatabase in
            let extra = RegistrySchema.migrations + [
                RegistryMigration(version: 900, name: "extra", statements: ["CREATE TABLE extra_a (id int)"]),
                RegistryMigration(version: 901, name: "extra2", statements: ["INSERT INTO extra_a VALUES (1)"]),
            ]
            let applied = try await RegistrySchema.migrate(database.client, migrations: extra, logger: .noop)
            #expect(applied == [900, 901])
            let twice = try await RegistrySchema.migrate(database.client, migrations: extra, logger: .noop)
            #expect(twice.isEmpty)
            #expect(try await RegistryFixtures.count("SELECT count(*) FROM extra_a", in: testDatabase) == 1)
        }
    }

    @Test func newerDatabaseSchemaIsRefused() async throws {
        try await RegistryFixtures.withDatabase { database, testDatabase in
            _ = try await testDatabase.cluster.runPsql(
                database: testDatabase.name, ["-c", "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')"])
            let error = await #expect(throws: RegistrationCenterError.self) {
                try await database.migrate()
            }
            #expect(error?.code == .migrationFailed)
        }
    }

    @Test func failedMigrationRollsBackAndReports() async throws {
        try await RegistryFixtures.withDatabase { database, testDatabase in
            let broken = RegistrySchema.migrations + [
                RegistryMigration(
                    version: 950, name: "broken",
                    statements: ["CREATE TABLE half_done (id int)", "SELECT * FROM no_such_table"]),
            ]
            await #expect(throws: RegistrationCenterError.self) {
                try await RegistrySchema.migrate(database.client, migrations: broken, logger: .noop)
            }
            let halfDone = try await RegistryFixtures.count(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'", in: testDatabase)
            let version = try await RegistryFixtures.count("SELECT max(version) FROM schema_migrations", in: testDatabase)
            #expect(halfDone == 0)
            #expect(version == RegistrySchema.latestVersion)
        }
    }
}

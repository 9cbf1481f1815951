import Logging
import NIOPosix
import PostgresNIO

extension RegistryDatabase {
    /// Connects to the registry, applies migrations (unless told not to), runs `body`, and disconnects.
    /// For one-shot tools (`dcswitch registry …`); long-running code holds a ``RegistrationCenter``.
    public static func withDatabase<T: Sendable>(
        at url: DatabaseURL, migrate: Bool = true, logger: Logger,
        _ body: @Sendable (RegistryDatabase) async throws -> T
    ) async throws -> T {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = 2
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        do {
            // Fail fast when the server is not there (the pool would keep retrying for a minute).
            let probe = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: try url.connectionConfiguration(),
                id: 0, logger: logger)
            try await probe.close()
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                let database = RegistryDatabase(client: client, logger: logger)
                if migrate { try await database.migrate() }
                return try await body(database)
            }
        } catch let error as RegistrationCenterError {
            throw error
        } catch {
            throw RegistrationCenterError(.databaseUnavailable, "registry database \(url): \(String(reflecting: error))")
        }
    }
}

/// Where the registry database is: `--database-url`, else `DATABASE_URL`, else the embedded cluster.
public struct RegistryDatabaseLocation: Sendable {
    /// The database to connect to.
    public var url: DatabaseURL
    /// The embedded cluster, when that is what is used (started by ``resolve(databaseURL:embeddedDirectory:logger:)``
    /// if it was not running; it is then stopped when the process exits).
    public var embedded: EmbeddedPostgres?

    /// Resolves the location, starting the embedded cluster under `embeddedDirectory` when no URL is given.
    ///
    /// - Throws: ``RegistrationCenterError/Code/invalidDatabaseURL`` for a bad URL,
    ///   ``RegistrationCenterError/Code/postgresNotInstalled`` when the embedded cluster cannot be created.
    public static func resolve(
        databaseURL: String?, embeddedDirectory: String = ".dcswitch/postgres", database: String = "dcswitch",
        logger: Logger
    ) async throws -> RegistryDatabaseLocation {
        if let given = databaseURL ?? PostgresBinaries.environment("DATABASE_URL"), !given.isEmpty {
            return RegistryDatabaseLocation(url: try DatabaseURL(given), embedded: nil)
        }
        let cluster = try await EmbeddedPostgres.start(
            .init(directory: embeddedDirectory, database: database), logger: logger)
        return RegistryDatabaseLocation(url: cluster.databaseURL(), embedded: cluster)
    }
}

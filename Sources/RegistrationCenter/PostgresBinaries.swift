#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the PostgreSQL server tools live on this machine.
public struct PostgresBinaries: Hashable, Sendable {
    /// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
    public var directory: String

    /// Path of `initdb`.
    public var initdb: String { directory + "/initdb" }
    /// Path of `pg_ctl`.
    public var pgCtl: String { directory + "/pg_ctl" }
    /// Path of `psql`.
    public var psql: String { directory + "/psql" }

    /// Uses the tools in `directory`, without checking that they are there.
    public init(directory: String) {
        self.directory = directory
    }

    /// Finds the server tools: first on `PATH`, then under `/usr/lib/postgresql/*/bin` (newest version first),
    /// then in the usual Homebrew and EDB locations (or `extraDirectories` instead of those).
    ///
    /// - Throws: ``RegistrationCenterError/Code/postgresNotInstalled`` naming the package to install.
    public static func locate(
        path: String? = Self.environment("PATH"),
        extraDirectories: [String]? = nil
    ) throws -> PostgresBinaries {
        var candidates: [String] = []
        for entry in (path ?? "").split(separator: ":") where !entry.isEmpty {
            candidates.append(String(entry))
        }
        candidates += extraDirectories ?? Self.wellKnownDirectories()
        for directory in candidates {
            let binaries = PostgresBinaries(directory: directory)
            if FileIO.isExecutable(binaries.initdb) && FileIO.isExecutable(binaries.pgCtl)
                && FileIO.isExecutable(binaries.psql)
            {
                return binaries
            }
        }
        throw RegistrationCenterError(
            .postgresNotInstalled,
            """
            PostgreSQL server binaries (initdb, pg_ctl, psql) not found on PATH or under /usr/lib/postgresql/*/bin. \
            Install them (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`) \
            or pass --database-url / set DATABASE_URL to use an existing server.
            """
        )
    }

    /// `/usr/lib/postgresql/*/bin` (newest first), then the usual source-build, Homebrew and EDB locations.
    public static func wellKnownDirectories() -> [String] {
        let versioned = ((try? FileIO.list("/usr/lib/postgresql")) ?? [])
            .compactMap { name -> (Int, String)? in Int(name).map { ($0, "/usr/lib/postgresql/\(name)/bin") } }
            .sorted { $0.0 > $1.0 }
            .map(\.1)
        return versioned + ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin", "/usr/pgsql/bin"]
    }

    /// Reads an environment variable.
    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

import Foundation
import PostgresNIO

/// A `postgres://user:password@host:port/database` URL, as given with `--database-url` or `DATABASE_URL`.
///
/// Accepts the `postgres` and `postgresql` schemes, percent-encoded user and password, a missing port (5432),
/// `?sslmode=disable|prefer|require` (default `disable`) and `?host=/path/to/socket/dir` for a unix socket.
public struct DatabaseURL: Hashable, Sendable, CustomStringConvertible {
    /// TLS use, as libpq's `sslmode`.
    public enum TLSMode: String, Hashable, Sendable {
        case disable, prefer, require
    }

    public var username: String
    public var password: String?
    /// A host name or address; empty when ``unixSocketDirectory`` is set.
    public var host: String
    public var port: Int
    public var database: String
    /// The directory of the server's unix socket, when connecting over one.
    public var unixSocketDirectory: String?
    public var tlsMode: TLSMode

    /// A URL from its parts (TCP, no TLS unless given).
    public init(
        host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
        tlsMode: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.unixSocketDirectory = nil
        self.tlsMode = tlsMode
    }

    /// Parses a URL.
    ///
    /// - Throws: ``RegistrationCenterError/Code/invalidDatabaseURL`` naming what is wrong.
    public init(_ string: String) throws {
        guard let components = URLComponents(string: string) else {
            throw Self.invalid(string, "not a URL")
        }
        guard let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql" else {
            throw Self.invalid(string, "the scheme must be postgres:// or postgresql://")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        self.unixSocketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        self.host = components.host ?? ""
        if host.isEmpty && unixSocketDirectory == nil {
            throw Self.invalid(string, "no host")
        }
        self.port = components.port ?? Int(query["port"] ?? "") ?? 5432
        guard (1...65535).contains(port) else { throw Self.invalid(string, "port \(port) out of range") }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw Self.invalid(string, "no user name")
        }
        self.username = user
        self.password = components.percentEncodedPassword?.removingPercentEncoding
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        let database = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard !database.isEmpty, !database.contains("/") else {
            throw Self.invalid(string, "no database name (postgres://user@host:port/DATABASE)")
        }
        self.database = database
        let mode = query["sslmode"] ?? "disable"
        switch mode {
        case "disable", "allow": self.tlsMode = .disable
        case "prefer": self.tlsMode = .prefer
        case "require", "verify-ca", "verify-full": self.tlsMode = .require
        default: throw Self.invalid(string, "unknown sslmode \(mode)")
        }
    }

    /// The PostgresNIO client configuration for this URL.
    public var clientConfiguration: PostgresClient.Configuration {
        if let unixSocketDirectory {
            return PostgresClient.Configuration(
                unixSocketPath: "\(unixSocketDirectory)/.s.PGSQL.\(port)", username: username, password: password,
                database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch tlsMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// The configuration of a single PostgresNIO connection (the registry's batch writer keeps its own).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let unixSocketDirectory {
            return PostgresConnection.Configuration(
                unixSocketPath: "\(unixSocketDirectory)/.s.PGSQL.\(port)", username: username, password: password,
                database: database)
        }
        let tls: PostgresConnection.Configuration.TLS
        switch tlsMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try .init(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try .init(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// The URL with the password masked.
    public var description: String {
        let credentials = password == nil ? username : "\(username):***"
        return "postgres://\(credentials)@\(host):\(port)/\(database)"
    }

    private static func invalid(_ string: String, _ reason: String) -> RegistrationCenterError {
        // Never echo the password back.
        let masked = string.replacingOccurrences(
            of: #"://([^:@/]*):[^@/]*@"#, with: "://$1:***@", options: .regularExpression)
        return RegistrationCenterError(.invalidDatabaseURL, "\(masked): \(reason)")
    }
}

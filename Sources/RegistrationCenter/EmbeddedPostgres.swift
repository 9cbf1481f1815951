import DigitalCurrency
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A private PostgreSQL cluster that the project creates, starts and stops itself.
///
/// With no `--database-url`, the registration center runs on one of these: `initdb` into a directory
/// (`.dcswitch/postgres/` in the working directory by default), trust authentication on loopback and on a unix
/// socket inside that directory, a free loopback port, `fsync` on. An existing cluster directory is reused:
/// restarted when it is stopped (a stale `postmaster.pid` is removed), adopted when it is already running.
///
/// PostgreSQL refuses to run as root; when this process is root the server tools run as the `postgres` system user
/// (through `runuser`), and the cluster directory is handed to that user.
///
/// ```swift
/// let postgres = try await EmbeddedPostgres.start(.init(), logger: logger)
/// let client = PostgresClient(configuration: postgres.clientConfiguration(), backgroundLogger: logger)
/// ```
public final class EmbeddedPostgres: Sendable {
    /// How to create and run the cluster.
    public struct Configuration: Sendable {
        /// The cluster directory: `data/` (PGDATA), `run/` (the unix socket) and `postgres.log` go under it.
        public var directory: String
        /// The database the registration center uses; created when missing.
        public var database: String
        /// The superuser name `initdb` creates (`-U`).
        public var username: String
        /// Server settings written to `dcswitch.conf`, on top of ``benchmarkSettings``. `port`,
        /// `listen_addresses` and `unix_socket_directories` are managed by this type.
        public var settings: [String: String]
        /// Stop the server when this process exits (`atexit`), if this instance started it.
        public var stopOnExit: Bool
        /// Delete the cluster directory when this process exits (throwaway test clusters).
        public var removeOnExit: Bool
        /// The tools to use; found with ``PostgresBinaries/locate(path:)`` when `nil`.
        public var binaries: PostgresBinaries?

        /// The default private cluster: `.dcswitch/postgres/` under the working directory, database `dcswitch`.
        public init(
            directory: String = ".dcswitch/postgres",
            database: String = "dcswitch",
            username: String = "postgres",
            settings: [String: String] = [:],
            stopOnExit: Bool = true,
            removeOnExit: Bool = false,
            binaries: PostgresBinaries? = nil
        ) {
            self.directory = directory
            self.database = database
            self.username = username
            self.settings = settings
            self.stopOnExit = stopOnExit
            self.removeOnExit = removeOnExit
            self.binaries = binaries
        }

        /// Settings for a benchmark box: durable (`fsync`, `synchronous_commit` and full-page writes on), large
        /// enough buffers and WAL that a million-row ingest does not checkpoint mid-run, no JIT for short queries,
        /// minimal WAL since nothing replicates from a private cluster.
        public static let benchmarkSettings: [String: String] = [
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "shared_buffers": "256MB",
            "wal_buffers": "16MB",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "max_wal_size": "4GB",
            "min_wal_size": "512MB",
            "checkpoint_timeout": "15min",
            "checkpoint_completion_target": "0.9",
            "wal_writer_delay": "10ms",
            "max_connections": "100",
            "jit": "off",
            "log_min_messages": "warning",
            "log_checkpoints": "off",
        ]
    }

    private struct State: Sendable {
        /// Whether this instance started the server (and so may stop it at exit).
        var startedHere = false
    }

    /// The configuration this cluster was started with.
    public let configuration: Configuration
    /// The server tools in use.
    public let binaries: PostgresBinaries
    /// Absolute path of the cluster directory.
    public let directory: String
    /// Absolute path of PGDATA.
    public let dataDirectory: String
    /// The loopback TCP port the server listens on.
    public let port: Int
    /// The unix socket directory, or `nil` when the path would be too long for a socket address.
    public let socketDirectory: String?
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// The host to connect to.
    public var host: String { "127.0.0.1" }
    /// The superuser name.
    public var username: String { configuration.username }
    /// The registration center's database.
    public var database: String { configuration.database }

    /// A `postgres://` URL for ``database`` (or another database on this cluster).
    public func url(database: String? = nil) -> String {
        "postgres://\(username)@\(host):\(port)/\(database ?? self.database)"
    }

    /// The connection URL of ``database`` (or another database), parsed.
    public func databaseURL(database: String? = nil) -> DatabaseURL {
        DatabaseURL(host: host, port: port, username: username, database: database ?? self.database)
    }

    /// A PostgresNIO client configuration for ``database`` (or another database): TCP on loopback, no TLS.
    public func clientConfiguration(database: String? = nil) -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: host, port: port, username: username, password: nil, database: database ?? self.database,
            tls: .disable)
    }

    /// Seconds of CPU the cluster has used so far: the postmaster, its running backends and background processes, and
    /// those that have exited. `nil` when the server is not running or there is no `/proc`. The difference of two
    /// readings is what PostgreSQL spent in between.
    public func cpuSeconds() -> Double? {
        guard let postmaster = (try? PostmasterPID.read(dataDirectory: dataDirectory)) ?? nil else { return nil }
        return CPUTime.processAndChildren(postmaster.pid)
    }

    private init(
        configuration: Configuration, binaries: PostgresBinaries, directory: String, port: Int,
        socketDirectory: String?, logger: Logger
    ) {
        self.configuration = configuration
        self.binaries = binaries
        self.directory = directory
        self.dataDirectory = directory + "/data"
        self.port = port
        self.socketDirectory = socketDirectory
        self.logger = logger
    }

    /// Creates the cluster if needed, starts it if it is not running, and creates the database.
    ///
    /// Blocking work (`initdb` takes seconds) runs on NIO's thread pool, not on the caller's executor.
    public static func start(_ configuration: Configuration, logger: Logger) async throws -> EmbeddedPostgres {
        try await NIOThreadPool.singleton.runIfActive {
            try startBlocking(configuration, logger: logger)
        }
    }

    /// The blocking form of ``start(_:logger:)``.
    public static func startBlocking(_ configuration: Configuration, logger: Logger) throws -> EmbeddedPostgres {
        let binaries = try configuration.binaries ?? PostgresBinaries.locate()
        let directory = FileIO.absolute(configuration.directory)
        let runAs = try ServerUser.current()
        try FileIO.makeDirectories(directory, mode: 0o700)
        try runAs.takeOwnership(of: directory)
        try runAs.checkReachable(directory)

        let dataDirectory = directory + "/data"
        if !FileIO.exists(dataDirectory + "/PG_VERSION") {
            try initializeCluster(
                directory: directory, binaries: binaries, username: configuration.username, runAs: runAs,
                logger: logger)
        }

        let socketDirectory: String? = {
            let candidate = directory + "/run"
            // sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS; leave room for "/.s.PGSQL.65535".
            return candidate.utf8.count + 16 < 104 ? candidate : nil
        }()
        if let socketDirectory {
            try FileIO.makeDirectories(socketDirectory, mode: 0o700)
            try runAs.takeOwnership(of: socketDirectory)
        }

        if let running = try PostmasterPID.read(dataDirectory: dataDirectory), running.isAlive {
            logger.info(
                "Adopting running embedded PostgreSQL",
                metadata: ["pg.data": "\(dataDirectory)", "pg.port": "\(running.port)", "pg.pid": "\(running.pid)"])
            let cluster = EmbeddedPostgres(
                configuration: configuration, binaries: binaries, directory: directory, port: running.port,
                socketDirectory: socketDirectory, logger: logger)
            try cluster.waitUntilAcceptingConnections()
            try cluster.createDatabase(configuration.database)
            return cluster
        }
        PostmasterPID.removeStale(dataDirectory: dataDirectory, logger: logger)

        var lastError: (any Error)?
        for attempt in 0..<3 {
            let port = try (attempt == 0 ? previousPort(directory: directory) : nil) ?? FreePort.pick()
            let cluster = EmbeddedPostgres(
                configuration: configuration, binaries: binaries, directory: directory, port: port,
                socketDirectory: socketDirectory, logger: logger)
            do {
                try cluster.writeSettings()
                try cluster.startServer()
                try cluster.createDatabase(configuration.database)
                return cluster
            } catch let error as RegistrationCenterError where error.code == .postgresCommandFailed {
                // Most likely the port was taken between picking and binding: try another one.
                logger.warning(
                    "Embedded PostgreSQL failed to start, retrying on another port",
                    metadata: ["pg.port": "\(port)", "error": "\(error)"])
                lastError = error
            }
        }
        throw lastError ?? RegistrationCenterError(.postgresCommandFailed, "embedded PostgreSQL did not start")
    }

    /// Starts the server again after ``stop()``, on the same port.
    public func start() throws {
        PostmasterPID.removeStale(dataDirectory: dataDirectory, logger: logger)
        try writeSettings()
        try startServer()
    }

    /// Stops the server (`pg_ctl stop -m fast`): sessions are disconnected, a checkpoint is written.
    public func stop() throws {
        let runAs = try ServerUser.current()
        let outcome = try runAs.run(
            binaries.pgCtl, ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60"], outputDirectory: directory)
        if !configuration.removeOnExit {
            // Still registered when the directory must go at exit (stopping a stopped server is harmless).
            ClusterExitRegistry.remove(dataDirectory)
        }
        state.withLockedValue { $0.startedHere = false }
        guard outcome.succeeded || !isRunning() else {
            throw RegistrationCenterError(
                .postgresCommandFailed, "pg_ctl stop failed (\(outcome.status)): \(outcome.output)")
        }
        logger.info("Embedded PostgreSQL stopped", metadata: ["pg.data": "\(dataDirectory)"])
    }

    /// Whether the server process is running.
    public func isRunning() -> Bool {
        ((try? PostmasterPID.read(dataDirectory: dataDirectory)) ?? nil)?.isAlive ?? false
    }

    /// Creates a database when it does not exist yet.
    public func createDatabase(_ name: String) throws {
        let quoted = Self.quoteIdentifier(name)
        let exists = try psql(
            database: "postgres",
            ["-tAc", "SELECT 1 FROM pg_database WHERE datname = '\(name.replacingOccurrences(of: "'", with: "''"))'"])
        if exists.contains("1") { return }
        do {
            _ = try psql(database: "postgres", ["-c", "CREATE DATABASE \(quoted)"])
        } catch let error as RegistrationCenterError where error.message.contains("already exists") {
            return
        }
    }

    /// Drops a database (`DROP DATABASE … WITH (FORCE)`), if it exists.
    public func dropDatabase(_ name: String) throws {
        _ = try psql(database: "postgres", ["-c", "DROP DATABASE IF EXISTS \(Self.quoteIdentifier(name)) WITH (FORCE)"])
    }

    /// Runs `psql` against a database of this cluster with `ON_ERROR_STOP` and returns its output.
    ///
    /// - Throws: ``RegistrationCenterError/Code/postgresCommandFailed`` with psql's output when it fails.
    public func psql(database: String? = nil, _ arguments: [String]) throws -> String {
        let outcome = try ChildProcess(
            executable: binaries.psql,
            arguments: [
                "-X", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", "\(port)", "-U", username, "-d",
                database ?? self.database,
            ] + arguments,
            outputPath: Self.scratchFile(in: directory, "psql")
        ).run()
        guard outcome.succeeded else {
            throw RegistrationCenterError(.postgresCommandFailed, "psql failed (\(outcome.status)): \(outcome.output)")
        }
        return outcome.output
    }

    // MARK: - Internals

    private static func initializeCluster(
        directory: String, binaries: PostgresBinaries, username: String, runAs: ServerUser, logger: Logger
    ) throws {
        // initdb into a scratch directory, then rename: a crash mid-initdb never leaves a half cluster behind.
        let scratch = directory + "/data.initdb"
        FileIO.removeTree(scratch)
        logger.info("Creating embedded PostgreSQL cluster", metadata: ["pg.data": "\(directory)/data"])
        let outcome = try runAs.run(
            binaries.initdb,
            ["-D", scratch, "-U", username, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
            outputDirectory: directory)
        guard outcome.succeeded else {
            throw RegistrationCenterError(
                .postgresCommandFailed, "initdb failed (\(outcome.status)): \(outcome.output)")
        }
        let config = scratch + "/postgresql.conf"
        var text = String(decoding: try FileIO.readWholeFile(config), as: UTF8.self)
        text += "\n# Written by DCSwitch: its settings, rewritten at every start.\ninclude_if_exists 'dcswitch.conf'\n"
        try FileIO.writeWholeFile(config, Array(text.utf8))
        try runAs.takeOwnership(of: config)
        guard rename(scratch, directory + "/data") == 0 else {
            throw FileIO.ioError("rename", scratch)
        }
        FileIO.syncDirectory(directory)
    }

    private static func previousPort(directory: String) throws -> Int? {
        guard let bytes = try? FileIO.readWholeFile(directory + "/data/dcswitch.conf") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " '")) }
            if parts.count == 2, parts[0] == "port", let port = Int(parts[1]), FreePort.isFree(port) {
                return port
            }
        }
        return nil
    }

    private func writeSettings() throws {
        var settings = Configuration.benchmarkSettings
        for (key, value) in configuration.settings { settings[key] = value }
        settings["port"] = "\(port)"
        settings["listen_addresses"] = "'127.0.0.1'"
        settings["unix_socket_directories"] = "'\(socketDirectory ?? "")'"
        let text = settings.keys.sorted().map { "\($0) = \(settings[$0]!)" }.joined(separator: "\n") + "\n"
        let path = dataDirectory + "/dcswitch.conf"
        try FileIO.writeWholeFile(path, Array(text.utf8))
        try ServerUser.current().takeOwnership(of: path)
    }

    private func startServer() throws {
        let runAs = try ServerUser.current()
        let outcome = try runAs.run(
            binaries.pgCtl,
            ["start", "-D", dataDirectory, "-l", directory + "/postgres.log", "-w", "-t", "120", "-s"],
            outputDirectory: directory)
        guard outcome.succeeded else {
            let log = (try? FileIO.readWholeFile(directory + "/postgres.log")).map {
                String(decoding: $0.suffix(2000), as: UTF8.self)
            }
            throw RegistrationCenterError(
                .postgresCommandFailed,
                "pg_ctl start failed (\(outcome.status)): \(outcome.output)\(log.map { "\nserver log:\n\($0)" } ?? "")")
        }
        state.withLockedValue { $0.startedHere = true }
        if configuration.stopOnExit || configuration.removeOnExit {
            ClusterExitRegistry.add(
                .init(
                    dataDirectory: dataDirectory, clusterDirectory: directory, pgCtl: binaries.pgCtl,
                    runAsPostgres: runAs.isPostgresUser, remove: configuration.removeOnExit))
        }
        logger.info(
            "Embedded PostgreSQL started",
            metadata: ["pg.data": "\(dataDirectory)", "pg.port": "\(port)"])
    }

    private func waitUntilAcceptingConnections() throws {
        var lastError: (any Error)?
        for _ in 0..<120 {
            do {
                _ = try psql(database: "postgres", ["-tAc", "SELECT 1"])
                return
            } catch {
                lastError = error
                usleep(250_000)
            }
        }
        throw lastError ?? RegistrationCenterError(.postgresCommandFailed, "server not accepting connections")
    }

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func scratchFile(in directory: String, _ tag: String) -> String {
        "\(directory)/.\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
    }
}

/// Who runs the server tools: this process's user, or `postgres` through `runuser` when this process is root.
struct ServerUser {
    var isPostgresUser: Bool
    var uid: uid_t
    var gid: gid_t

    static func current() throws -> ServerUser {
        guard geteuid() == 0 else { return ServerUser(isPostgresUser: false, uid: geteuid(), gid: getegid()) }
        guard let entry = getpwnam("postgres") else {
            throw RegistrationCenterError(
                .postgresNotInstalled,
                "running as root, PostgreSQL must run as the `postgres` system user, which does not exist; "
                    + "install the server package (`apt-get install postgresql`) or run as a non-root user")
        }
        guard FileIO.isExecutable(ServerUser.runuser) else {
            throw RegistrationCenterError(
                .postgresNotInstalled, "running as root needs `runuser` (util-linux) to start PostgreSQL as `postgres`")
        }
        return ServerUser(isPostgresUser: true, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    static var runuser: String {
        FileIO.isExecutable("/usr/sbin/runuser") ? "/usr/sbin/runuser" : "/sbin/runuser"
    }

    func run(_ tool: String, _ arguments: [String], outputDirectory: String) throws -> ChildProcess.Outcome {
        let output = EmbeddedPostgres.scratchFile(in: outputDirectory, "tool")
        if isPostgresUser {
            return try ChildProcess(
                executable: Self.runuser, arguments: ["-u", "postgres", "--", tool] + arguments, outputPath: output
            ).run()
        }
        return try ChildProcess(executable: tool, arguments: arguments, outputPath: output).run()
    }

    /// Hands a path (recursively) to the server user, when that is not us.
    func takeOwnership(of path: String) throws {
        guard isPostgresUser else { return }
        if chown(path, uid, gid) != 0 { throw FileIO.ioError("chown", path) }
        if FileIO.isDirectory(path) {
            for name in try FileIO.list(path) { try takeOwnership(of: path + "/" + name) }
        }
    }

    /// The `postgres` user must be able to traverse every parent of the cluster directory.
    func checkReachable(_ directory: String) throws {
        guard isPostgresUser else { return }
        var prefix = ""
        for component in directory.split(separator: "/").dropLast() {
            prefix += "/" + component
            var info = stat()
            guard stat(prefix, &info) == 0 else { continue }
            let othersCanTraverse = info.st_mode & S_IXOTH != 0
            let ownerIsPostgres = info.st_uid == uid && info.st_mode & S_IXUSR != 0
            let groupIsPostgres = info.st_gid == gid && info.st_mode & S_IXGRP != 0
            if !(othersCanTraverse || ownerIsPostgres || groupIsPostgres) {
                throw RegistrationCenterError(
                    .postgresCommandFailed,
                    "the `postgres` user cannot reach \(directory): \(prefix) is not searchable by others "
                        + "(chmod o+x \(prefix)), or put the cluster elsewhere, or pass --database-url")
            }
        }
    }
}

/// The server's `postmaster.pid` lock file.
struct PostmasterPID {
    var pid: pid_t
    var port: Int

    static func read(dataDirectory: String) throws -> PostmasterPID? {
        guard let bytes = try? FileIO.readWholeFile(dataDirectory + "/postmaster.pid") else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, let pid = pid_t(lines[0]), let port = Int(lines[3]) else { return nil }
        return PostmasterPID(pid: pid, port: port)
    }

    /// Alive and really a PostgreSQL server (a reused PID after a reboot is not).
    var isAlive: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let cmdline = try? FileIO.readWholeFile("/proc/\(pid)/cmdline") else {
            return !FileIO.isDirectory("/proc/self")
        }
        let text = String(decoding: cmdline, as: UTF8.self)
        return text.contains("postgres") || text.contains("postmaster")
    }

    static func removeStale(dataDirectory: String, logger: Logger) {
        guard let pidFile = (try? read(dataDirectory: dataDirectory)) ?? nil, !pidFile.isAlive else { return }
        logger.warning(
            "Removing stale postmaster.pid", metadata: ["pg.data": "\(dataDirectory)", "pg.pid": "\(pidFile.pid)"])
        unlink(dataDirectory + "/postmaster.pid")
    }
}

/// Picks free loopback ports.
enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FileIO.ioError("socket", "127.0.0.1") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw FileIO.ioError("bind", "127.0.0.1:0") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw FileIO.ioError("getsockname", "127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command to completion with `posix_spawn`, its output captured in a file.
///
/// Used for the PostgreSQL tools (`initdb`, `pg_ctl`, `psql`): a handful of short-lived processes, never on a hot
/// path. Output goes to a file rather than a pipe so a chatty tool can never block on a full pipe. The child gets no
/// descriptor of ours beyond its standard input, output and error, and only this call waits for it (`waitpid` on its
/// pid), so nothing else can take its exit status first.
public struct ChildProcess: Sendable {
    /// What a finished command left behind.
    public struct Outcome: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        public var status: Int32
        /// What it wrote to standard output (and standard error, unless ``ChildProcess/errorPath`` is set).
        public var output: String
        public var succeeded: Bool { status == 0 }
    }

    public var executable: String
    public var arguments: [String]
    /// Where stdout (and stderr, without ``errorPath``) go; read back and deleted after the process exits.
    public var outputPath: String
    /// Where stderr goes, when not with stdout; left for the caller to read.
    public var errorPath: String?
    /// What the child reads as its standard input.
    public var inputPath: String
    /// The directory the child starts in (the parent's when `nil`).
    public var workingDirectory: String?

    public init(
        executable: String, arguments: [String], outputPath: String, errorPath: String? = nil, inputPath: String = "/dev/null",
        workingDirectory: String? = nil
    ) {
        self.workingDirectory = workingDirectory
        self.executable = executable
        self.arguments = arguments
        self.outputPath = outputPath
        self.errorPath = errorPath
        self.inputPath = inputPath
    }

    /// Runs the command and waits for it. Throws only when the process could not be started.
    public func run() throws -> Outcome {
        let running = try self.start()
        let exitStatus = running.waitForExit()
        var output = ""
        if outputPath != "/dev/null" {
            output = (try? FileIO.readWholeFile(outputPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            unlink(outputPath)
        }
        return Outcome(status: exitStatus, output: output)
    }

    /// Starts the command and returns at once; its output stays in ``outputPath`` (and ``errorPath``) for the caller.
    public func start() throws -> Running {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let errorPath {
            posix_spawn_file_actions_addopen(&fileActions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        }
        // Nothing else of ours goes to the child: without this, `pg_ctl` would hand the server every socket the process
        // holds (SwiftNIO's are not close-on-exec), and a connection closed here would stay open in PostgreSQL until
        // it stops — peers wait for an end of file that never comes, and a listening port stays taken.
        Self.closeInheritedDescriptors(&fileActions)
        if let workingDirectory {
            guard let addChdir = Self.addChdir, addChdir(&fileActions, workingDirectory) == 0 else {
                throw RegistrationCenterError(
                    .postgresCommandFailed, "cannot start \(executable) in \(workingDirectory): the C library cannot set a child's directory")
            }
        }

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawnStatus = posix_spawn(&pid, executable, &fileActions, nil, argv, environ)
        guard spawnStatus == 0 else {
            throw RegistrationCenterError(
                .postgresCommandFailed, "cannot start \(executable): \(String(cString: strerror(spawnStatus)))")
        }
        return Running(pid: pid)
    }

    /// A started child. Only this object reaps it (`waitpid` on its pid), so its exit is never taken by anyone else,
    /// and it is never signalled once reaped (when its pid may belong to another process).
    public final class Running: Sendable {
        public let pid: pid_t
        /// The exit status once reaped: as in ``Outcome/status``.
        private let reaped = Mutex<Int32?>(nil)

        init(pid: pid_t) {
            self.pid = pid
        }

        /// Whether it has not exited yet.
        public var isRunning: Bool { self.exitStatus == nil }

        /// Its exit status (128 + the signal that ended it; -1 when it was reaped elsewhere), or `nil` while it runs.
        /// Reaps it (`waitpid` without blocking, under the lock that ``send(signal:)`` takes) once it has exited.
        public var exitStatus: Int32? {
            self.reaped.withLock { status in
                if let status { return status }
                var waitStatus: Int32 = 0
                let result = waitpid(self.pid, &waitStatus, WNOHANG)
                if result == -1, errno == ECHILD {
                    status = -1  // someone else reaped it (SIGCHLD ignored): gone, status unknown
                } else if result == self.pid {
                    // WIFEXITED / WEXITSTATUS are macros: decode by hand.
                    status = (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
                }
                return status
            }
        }

        /// Blocks until it exits; its exit status. Polls: a blocking `waitpid` would have to run outside the lock,
        /// where ``exitStatus`` could take the exit first.
        public func waitForExit() -> Int32 {
            while true {
                if let status = self.exitStatus { return status }
                usleep(2_000)
            }
        }

        /// Sends `signal` unless it has already been reaped.
        public func send(signal: Int32) {
            self.reaped.withLock { status in
                if status == nil { _ = kill(self.pid, signal) }
            }
        }
    }

    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.29's `posix_spawn_file_actions_addchdir_np` and 2.34's `posix_spawn_file_actions_addclosefrom_np`,
    /// which the Swift overlay does not import.
    private static let addChdir = Self.cFunction("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)
    private static let addCloseFrom = Self.cFunction("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)

    /// The C library's function `name`, when it has one.
    private static func cFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
        #else
        return nil
        #endif
    }

    /// Closes every descriptor above stderr in the child: with `closefrom` where the C library has it, else one close
    /// per descriptor open now (listed in `/proc/self/fd`, or the first 1024).
    private static func closeInheritedDescriptors(_ fileActions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom, addCloseFrom(&fileActions, 3) == 0 { return }
        var descriptors: [Int32] = []
        if let directory = opendir("/proc/self/fd") {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if let fd = Int32(name), fd > 2 { descriptors.append(fd) }
            }
            closedir(directory)
        } else {
            descriptors = Array(3..<1024)
        }
        for fd in descriptors { posix_spawn_file_actions_addclose(&fileActions, fd) }
    }
}

/// Small blocking file helpers for cold paths (cluster setup, journal recovery).
enum FileIO {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func isExecutable(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open", path) }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ioError("read", path)
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    static func writeWholeFile(_ path: String, _ bytes: [UInt8], sync: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("open", path) }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        if sync, fsync(fd) != 0 { throw ioError("fsync", path) }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw ioError("write", path)
            }
            offset += written
        }
    }

    /// `mkdir -p`: missing parents get 0755, the directory itself `mode`.
    static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += "/" + component
            let isLast = index == components.count - 1
            if mkdir(prefix, isLast ? mode : 0o755) != 0 && errno != EEXIST {
                throw ioError("mkdir", prefix)
            }
        }
    }

    /// Lists a directory's entry names (without `.` and `..`).
    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw ioError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `rm -rf`, for directories this code created.
    static func removeTree(_ path: String) {
        if isDirectory(path) {
            for name in (try? list(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Opens (creating) a file for positional writes (`pwrite`; not `O_APPEND`).
    static func openForWriting(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("open", path) }
        return fd
    }

    /// Opens (creating) and `flock`s a file exclusively without waiting; the lock lasts until the descriptor is
    /// closed or the process exits.
    static func lockExclusively(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("open", path) }
        // Retried for a second: a child being spawned by another thread holds a copy of every descriptor (this one
        // included, with its lock) until it execs, and a process that just exited may not have let go yet.
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            attempts += 1
            guard errno == EWOULDBLOCK || errno == EINTR, attempts < 50 else {
                close(fd)
                throw RegistrationCenterError(
                    .journalIO, "\(path) is locked: another process is using this journal directory")
            }
            usleep(20_000)
        }
        return fd
    }

    static func closeDescriptor(_ fd: Int32) {
        close(fd)
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : currentDirectory() + "/" + path
    }

    static func ioError(_ operation: String, _ path: String) -> RegistrationCenterError {
        RegistrationCenterError(.journalIO, "\(operation) \(path): \(String(cString: strerror(errno)))")
    }
}

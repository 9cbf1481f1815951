import DigitalCurrency
import Histogram
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The append-only journal of one bank's books: every leg's effect, written and synced before the bank answers.
///
/// One file of lines `LLLLLLLL CCCCCCCC payload\n`: the payload's length and its CRC-32C as 8 hex digits each, then
/// the payload (ASCII, see ``BankBooks/Effect``). The first line is a header naming the bank and its seed, so a journal
/// is never replayed onto other books. Appends made while a sync is in flight are written and synced together (group
/// commit) on the journal's own thread; an append's promise completes once its line is durable (see ``Durability``).
///
/// Lines are written at the end of the content into space reserved ahead in chunks (``JournalSpace``), so that a sync
/// flushes data only; a clean close cuts the file back to its content. On open, lines are read until the first one whose
/// length, checksum or newline is wrong. Zero bytes from there on are reserved space a crash left behind; anything else
/// is a torn tail (a crash mid-write, never acknowledged), cut off so that new lines follow the last good one.
public final class BankJournal: Sendable {
    /// When a line counts as durable (when the leg it records may be answered).
    public enum Durability: Hashable, Sendable {
        /// Written and `fdatasync`ed: survives a power loss. Every answer waits for a sync (shared by the group).
        case synced
        /// Written to the file (the kernel's page cache): survives a crash of the bank process, not of the machine.
        /// Answers wait for a `write`, not for the disk.
        case written
    }

    /// What the journal has done so far.
    public struct Statistics: Equatable, Sendable {
        /// Lines appended since open.
        public var entries: Int = 0
        /// Bytes written since open.
        public var bytes: Int = 0
        /// `fdatasync` calls since open: entries / syncs is the mean group size.
        public var syncs: Int = 0
        /// Lines read back on open (the header excluded).
        public var recoveredEntries: Int = 0
        /// Bytes of a torn tail cut off on open.
        public var discardedBytes: Int = 0
        /// Per appended line: appended → durable (written, and synced when ``Durability/synced``), in nanoseconds.
        /// What a leg's answer waits for the journal.
        public var appendLatency = Histogram<UInt64>(numberOfSignificantValueDigits: .two)
        /// Per `fdatasync`: its duration in nanoseconds.
        public var syncLatency = Histogram<UInt64>(numberOfSignificantValueDigits: .two)

        public init() {}
    }

    private struct State {
        var pending: [UInt8] = []
        var waiters: [EventLoopPromise<Void>] = []
        /// When each line in `pending` was appended (monotonic nanoseconds).
        var appendedAt: [UInt64] = []
        var writerActive = false
        var closed = false
        var failure: BankJournalError?
        var closeWaiters: [EventLoopPromise<Void>] = []
        var statistics = Statistics()
    }

    /// The journal file.
    public let path: String
    /// When lines count as durable.
    public let durability: Durability
    private let descriptor: Int32
    private let state: NIOLockedValueBox<State>
    /// Where lines go: touched by the writer thread only (and by `close` once the writer is idle).
    private let space: SpaceBox
    private let writer: NIOThreadPool
    private let logger: Logger

    private init(path: String, space: JournalSpace, durability: Durability, statistics: Statistics, logger: Logger) {
        self.path = path
        self.durability = durability
        self.descriptor = space.descriptor
        self.space = SpaceBox(space)
        var state = State()
        state.statistics = statistics
        state.pending.reserveCapacity(1 << 16)
        self.state = NIOLockedValueBox(state)
        self.logger = logger
        self.writer = NIOThreadPool(numberOfThreads: 1)
        self.writer.start()
    }

    /// Opens (or creates) the journal at `path` and reads it back.
    ///
    /// - Parameters:
    ///   - path: the journal file; created (mode 0600) when missing.
    ///   - header: the first line's payload; a journal that starts with another one is refused.
    ///   - durability: when an appended line counts as durable; synced to disk by default.
    ///   - logger: told about a torn tail.
    /// - Returns: the journal, and the payloads after the header, in order.
    public static func open(
        path: String, header: String, durability: Durability = .synced, logger: Logger
    ) throws(BankJournalError) -> (journal: BankJournal, payloads: [String]) {
        let fd = posixOpen(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BankJournalError(.io, path: path, "cannot open the journal (errno \(errno))") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                posixClose(fd)
                throw BankJournalError(.io, path: path, "cannot read the journal (errno \(errno))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        var payloads: [String] = []
        let good = Self.scan(bytes) { range in
            payloads.append(String(decoding: bytes[range], as: UTF8.self))
        }
        var statistics = Statistics()
        var space = JournalSpace(descriptor: fd, end: good, fileBytes: bytes.count)
        if !JournalSpace.isUnused(bytes[good...]) {
            let torn = (bytes.lastIndex { $0 != 0 } ?? good) + 1 - good
            statistics.discardedBytes = torn
            logger.info(
                "journal has a torn tail, cut off",
                metadata: ["journal.path": "\(path)", "journal.kept_bytes": "\(good)", "journal.discarded_bytes": "\(torn)"]
            )
            guard ftruncate(fd, off_t(good)) == 0, Self.sync(fd) else {
                posixClose(fd)
                throw BankJournalError(.io, path: path, "cannot cut off the torn tail (errno \(errno))")
            }
            space = JournalSpace(descriptor: fd, end: good, fileBytes: good)
        }
        if payloads.isEmpty {
            let line = Self.line(header)
            let written = line.withUnsafeBytes { space.append($0) }
            guard written, Self.sync(fd) else {
                posixClose(fd)
                throw BankJournalError(.io, path: path, "cannot write the journal header (errno \(errno))")
            }
        } else if payloads[0] != header {
            posixClose(fd)
            throw BankJournalError(.foreign, path: path, "the journal belongs to other books: \(payloads[0].prefix(120))")
        } else {
            payloads.removeFirst()
        }
        statistics.recoveredEntries = payloads.count
        return (BankJournal(path: path, space: space, durability: durability, statistics: statistics, logger: logger), payloads)
    }

    /// Appends one line; `promise` (if any) succeeds once it is durable, or fails with ``BankJournalError``.
    ///
    /// Lines are written in the order of the calls: callers that need an order across threads (the books' lock)
    /// append while holding it.
    public func append(_ payload: String, promise: EventLoopPromise<Void>?) {
        let line = Self.line(payload)
        let (start, refusal) = self.state.withLockedValue { state -> (Bool, BankJournalError?) in
            if let failure = state.failure { return (false, failure) }
            guard !state.closed else { return (false, BankJournalError(.closed, path: self.path, "the journal is closed")) }
            state.pending.append(contentsOf: line)
            state.appendedAt.append(NIODeadline.now().uptimeNanoseconds)
            state.statistics.entries += 1
            if let promise { state.waiters.append(promise) }
            return (self.claimWriter(&state), nil)
        }
        if let refusal {
            promise?.fail(refusal)
            return
        }
        if start { self.startWriter() }
    }

    /// `promise` succeeds once every line appended before this call is durable.
    public func barrier(promise: EventLoopPromise<Void>) {
        let (start, outcome) = self.state.withLockedValue { state -> (Bool, Result<Void, BankJournalError>?) in
            if let failure = state.failure { return (false, .failure(failure)) }
            guard state.writerActive || !state.pending.isEmpty else { return (false, .success(())) }
            state.waiters.append(promise)
            return (self.claimWriter(&state), nil)
        }
        if let outcome { promise.completeWith(outcome.mapError { $0 as any Error }) }
        if start { self.startWriter() }
    }

    /// Writes and syncs what is pending, closes the file and stops the writer thread. Appends after this fail.
    public func close() async throws {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = eventLoop.makePromise(of: Void.self)
        let idle = self.state.withLockedValue { state -> Bool in
            state.closed = true
            if state.writerActive || !state.pending.isEmpty {
                state.closeWaiters.append(promise)
                return false
            }
            return true
        }
        if idle { promise.succeed(()) }
        try await promise.futureResult.get()
        self.space.value.release()
        if self.durability == .written { _ = Self.sync(self.descriptor) }
        posixClose(self.descriptor)
        try await self.writer.shutdownGracefully()
    }

    /// Closes the file at once, for a journal that was never appended to (recovery failed).
    func abandon() {
        self.state.withLockedValue { $0.closed = true }
        posixClose(self.descriptor)
        self.writer.shutdownGracefully { _ in }
    }

    /// The journal's counters.
    public var statistics: Statistics {
        self.state.withLockedValue { $0.statistics }
    }

    // MARK: Writer

    private func claimWriter(_ state: inout State) -> Bool {
        guard !state.writerActive else { return false }
        state.writerActive = true
        return true
    }

    private func startWriter() {
        self.writer.submit { _ in self.drain() }
    }

    /// Runs on the writer thread: writes and syncs batches until nothing is pending.
    private func drain() {
        var batch: [UInt8] = []
        batch.reserveCapacity(1 << 16)
        var appendedAt: [UInt64] = []
        while true {
            let (waiters, closeWaiters, failed) = self.state.withLockedValue {
                state -> ([EventLoopPromise<Void>], [EventLoopPromise<Void>], BankJournalError?) in
                if state.pending.isEmpty, state.waiters.isEmpty {
                    state.writerActive = false
                    let closeWaiters = state.closeWaiters
                    state.closeWaiters = []
                    return ([], closeWaiters, nil)
                }
                swap(&batch, &state.pending)
                swap(&appendedAt, &state.appendedAt)
                let waiters = state.waiters
                state.waiters = []
                return (waiters, [], state.failure)
            }
            if waiters.isEmpty, batch.isEmpty {
                for waiter in closeWaiters { waiter.succeed(()) }
                return
            }
            var failure = failed
            var syncNanos: UInt64?
            if failure == nil, !batch.isEmpty {
                let stored = batch.withUnsafeBytes { self.space.value.append($0) }
                var synced = true
                if stored, self.durability == .synced {
                    let started = NIODeadline.now().uptimeNanoseconds
                    synced = Self.sync(self.descriptor)
                    syncNanos = NIODeadline.now().uptimeNanoseconds &- started
                }
                if !(stored && synced) {
                    failure = BankJournalError(.io, path: self.path, "cannot write the journal (errno \(errno))")
                    self.logger.info("journal write failed; the bank stops answering legs", metadata: ["journal.path": "\(self.path)"])
                }
            }
            let written = batch.count
            batch.removeAll(keepingCapacity: true)
            let durableAt = NIODeadline.now().uptimeNanoseconds
            self.state.withLockedValue { state in
                if let failure {
                    state.failure = failure
                } else if written > 0 {
                    state.statistics.bytes += written
                    if let syncNanos {
                        state.statistics.syncs += 1
                        _ = state.statistics.syncLatency.record(syncNanos)
                    }
                    for appended in appendedAt {
                        _ = state.statistics.appendLatency.record(durableAt &- appended)
                    }
                }
            }
            appendedAt.removeAll(keepingCapacity: true)
            Self.complete(waiters, failure: failure)
        }
    }

    /// Completes `waiters` with one task per event loop rather than one cross-thread hop per promise.
    private static func complete(_ waiters: [EventLoopPromise<Void>], failure: BankJournalError?) {
        guard waiters.count > 1 else {
            if let waiter = waiters.first {
                if let failure { waiter.fail(failure) } else { waiter.succeed(()) }
            }
            return
        }
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, promises: [EventLoopPromise<Void>])] = [:]
        for waiter in waiters {
            let loop = waiter.futureResult.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].promises.append(waiter)
        }
        for (_, group) in byLoop {
            let promises = group.promises
            group.loop.execute {
                for promise in promises {
                    if let failure { promise.fail(failure) } else { promise.succeed(()) }
                }
            }
        }
    }

    // MARK: Lines

    static func line(_ payload: String) -> [UInt8] {
        var payload = payload
        return payload.withUTF8 { utf8 in
            var line: [UInt8] = []
            line.reserveCapacity(utf8.count + 19)
            Self.appendHex(UInt32(utf8.count), to: &line)
            line.append(32)
            Self.appendHex(CRC32C.checksum(UnsafeRawBufferPointer(utf8)), to: &line)
            line.append(32)
            line.append(contentsOf: utf8)
            line.append(10)
            return line
        }
    }

    /// Calls `body` with the payload range of each good line; returns the length of the good prefix.
    static func scan(_ bytes: [UInt8], _ body: (Range<Int>) -> Void) -> Int {
        var offset = 0
        while offset + 18 <= bytes.count {
            guard let length = Self.readHex(bytes, at: offset), bytes[offset + 8] == 32,
                let checksum = Self.readHex(bytes, at: offset + 9), bytes[offset + 17] == 32
            else { break }
            let start = offset + 18
            let end = start + Int(length)
            guard end < bytes.count, bytes[end] == 10 else { break }
            let valid = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) == checksum }
            guard valid, !bytes[start..<end].contains(10) else { break }
            body(start..<end)
            offset = end + 1
        }
        return offset
    }

    private static func appendHex(_ value: UInt32, to line: inout [UInt8]) {
        let digits: StaticString = "0123456789ABCDEF"
        for shift in stride(from: 28, through: 0, by: -4) {
            line.append(digits.utf8Start[Int((value >> UInt32(shift)) & 0xF)])
        }
    }

    private static func readHex(_ bytes: [UInt8], at offset: Int) -> UInt32? {
        var value: UInt32 = 0
        for i in offset..<(offset + 8) {
            let b = bytes[i]
            let nibble: UInt8
            switch b {
            case 48...57: nibble = b - 48
            case 65...70: nibble = b - 55
            default: return nil
            }
            value = value << 4 | UInt32(nibble)
        }
        return value
    }

    private static func sync(_ fd: Int32) -> Bool {
        #if os(Linux)
        return fdatasync(fd) == 0
        #else
        return fsync(fd) == 0
        #endif
    }
}

/// The journal's ``JournalSpace``, shared by reference between the writer thread and `close`, which never run at once.
private final class SpaceBox: @unchecked Sendable {
    var value: JournalSpace
    init(_ value: JournalSpace) { self.value = value }
}

private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Darwin)
    Darwin.open(path, flags, mode)
    #elseif canImport(Musl)
    Musl.open(path, flags, mode)
    #else
    Glibc.open(path, flags, mode)
    #endif
}

private func posixClose(_ fd: Int32) {
    #if canImport(Darwin)
    _ = Darwin.close(fd)
    #elseif canImport(Musl)
    _ = Musl.close(fd)
    #else
    _ = Glibc.close(fd)
    #endif
}

/// A journal that cannot be opened, read or written.
public struct BankJournalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// A system call failed.
        public static let io = Code("io")
        /// The journal's header names other books (another bank, or another seed).
        public static let foreign = Code("foreign")
        /// A line does not replay onto the books (corrupt or out of order).
        public static let replay = Code("replay")
        /// The journal is closed.
        public static let closed = Code("closed")
        public var description: String { self.raw }
    }

    public var code: Code
    public var path: String
    public var message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(self.path): \(self.code): \(self.message)" }
}

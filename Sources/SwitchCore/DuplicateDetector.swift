import Foundation
import ISO8583
import ISO8583Network
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Remembers requests by (acquirer, terminal, STAN, RRN, date) so that a repeated request gets the original
/// answer, never a second execution. A repeat that arrives while the original is still being processed waits
/// for the same answer.
///
/// With a log file, every answer is also appended to it (one line per answer, written before the answer leaves the
/// switch, not synced) and the table is rebuilt from it at start: a switch restarted after a crash of its process,
/// or a clean stop, still answers a repeat with the original answer. (A crash of the whole machine can lose the
/// last answers not yet written back by the kernel; the banks' own idempotency by transaction id does not cover
/// them, because a repeat gets a new transaction id.)
public final class DuplicateDetector: Sendable {
    public struct Key: Hashable, Sendable {
        var acquirer: String
        var terminal: String
        var stan: String
        var rrn: String
        var date: String

        public init?(_ request: ISO8583Message) {
            guard let stan = request[11] else { return nil }
            self.acquirer = request[32] ?? ""
            self.terminal = request[41] ?? ""
            self.stan = stan
            self.rrn = request[37] ?? ""
            self.date = request[13] ?? request[7].map { String($0.prefix(4)) } ?? ""
            self.mti = request.mti.value
        }

        var mti: UInt16

        init(mti: UInt16, acquirer: String, terminal: String, stan: String, rrn: String, date: String) {
            self.mti = mti
            self.acquirer = acquirer
            self.terminal = terminal
            self.stan = stan
            self.rrn = rrn
            self.date = date
        }
    }

    private enum Entry {
        case inProgress([EventLoopPromise<ISO8583Message>])
        /// The answer as encoded on the wire: a few hundred bytes in one allocation, where the message with its
        /// field table took several times that (the table is kept for every answer of the retention period).
        case done([UInt8], insertedAtNanos: UInt64)
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var order: [(Key, UInt64)] = []
        var head = 0
    }

    /// What to do with a request.
    public enum Verdict {
        /// New: process it, then call ``complete(_:with:)``.
        case process
        /// A repeat: answer with this future.
        case repeatOf(EventLoopFuture<ISO8583Message>)
    }

    private let state = Mutex(State())
    private let retentionNanos: UInt64
    private let capacity: Int
    private let log: AppendOnlyFile?
    private let spec: MessageSpec

    /// The default ``init(spec:retention:capacity:)`` capacity: acquirers repeat a request within their own timeout
    /// (seconds to a minute), and a million answers is minutes of traffic at the rates one switch process carries,
    /// held in a few hundred megabytes at most.
    public static let defaultCapacity = 1_000_000

    /// Keeps answers (encoded with `spec`) for `retention` (default 24 hours) and at most `capacity` of them (oldest
    /// dropped first), in memory only.
    public init(spec: MessageSpec, retention: TimeAmount = .hours(24), capacity: Int = DuplicateDetector.defaultCapacity) {
        self.retentionNanos = UInt64(retention.nanoseconds)
        self.capacity = capacity
        self.log = nil
        self.spec = spec
    }

    /// Keeps answers as ``init(spec:retention:capacity:)`` does, and in the log at `path` (created when missing): the
    /// answers it holds that are still within `retention` are loaded, and the file is rewritten with only them.
    /// A torn last line (a crash in the middle of a write) is skipped.
    public init(
        path: String, spec: MessageSpec, retention: TimeAmount = .hours(24), capacity: Int = DuplicateDetector.defaultCapacity
    ) throws(SwitchError) {
        self.retentionNanos = UInt64(retention.nanoseconds)
        self.capacity = capacity
        self.spec = spec
        let nowWall = UTCClock.nowNanoseconds()
        let nowMono = DispatchTimeNanos.now()
        var state = State()
        var kept: [String] = []
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") where !line.utf8.contains(0) {
                guard let (key, response, wall) = Self.parse(line) else { continue }
                let age = UInt64(max(0, nowWall - wall))
                guard age <= self.retentionNanos else { continue }
                let inserted = nowMono >= age ? nowMono - age : 0
                if state.entries[key] == nil { state.order.append((key, inserted)) }
                state.entries[key] = .done(response, insertedAtNanos: inserted)
                kept.append(String(line))
            }
        }
        if kept.count > capacity { kept.removeFirst(kept.count - capacity) }
        // Rewritten with the live entries only, then appended to.
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SwitchError(.storage, "cannot create \(temporary): errno \(errno)") }
        var body = kept.joined(separator: "\n")
        if !body.isEmpty { body += "\n" }
        let written = body.utf8.withContiguousStorageIfAvailable { write(fd, $0.baseAddress, $0.count) } ?? -1
        guard written == body.utf8.count, fsync(fd) == 0, close(fd) == 0, rename(temporary, path) == 0 else {
            throw SwitchError(.storage, "cannot write \(path): errno \(errno)")
        }
        self.log = try AppendOnlyFile(path: path)
        self.state.withLock { $0 = state }
    }

    public func check(_ key: Key, on eventLoop: any EventLoop) -> Verdict {
        let now = DispatchTimeNanos.now()
        let remembered = self.state.withLock { state -> Either in
            switch state.entries[key] {
            case .none:
                state.entries[key] = .inProgress([])
                self.evict(&state, now: now)
                return .verdict(.process)
            case .inProgress(var waiters):
                let promise = eventLoop.makePromise(of: ISO8583Message.self)
                waiters.append(promise)
                state.entries[key] = .inProgress(waiters)
                return .verdict(.repeatOf(promise.futureResult))
            case .done(let bytes, _):
                return .answer(bytes)
            }
        }
        switch remembered {
        case .verdict(let verdict):
            return verdict
        case .answer(let bytes):
            // Decoded outside the lock, which every request takes.
            do {
                return .repeatOf(eventLoop.makeSucceededFuture(try self.spec.decode(bytes: bytes)))
            } catch {
                // Bytes this detector encoded itself: not reached unless the codec breaks its own round trip.
                return .repeatOf(eventLoop.makeFailedFuture(error))
            }
        }
    }

    private enum Either {
        case verdict(Verdict)
        case answer([UInt8])
    }

    /// Stores the answer to a processed request and answers any repeats that waited for it.
    public func complete(_ key: Key, with response: ISO8583Message) {
        let now = DispatchTimeNanos.now()
        // An answer that cannot be encoded is given but not remembered: a repeat is then executed again (the switch
        // encodes every answer it sends, so this only happens to answers the link could not send either).
        let bytes = try? Array(self.spec.encode(response).readableBytesView)
        if let bytes, let log = self.log { Self.append(key, bytes, to: log) }
        let waiters = self.state.withLock { state -> [EventLoopPromise<ISO8583Message>] in
            guard case .inProgress(let waiters) = state.entries[key] else { return [] }
            if let bytes {
                state.entries[key] = .done(bytes, insertedAtNanos: now)
                state.order.append((key, now))
            } else {
                state.entries[key] = nil
            }
            return waiters
        }
        for waiter in waiters { waiter.succeed(response) }
    }

    /// Answers the repeats that waited for a request that did nothing (shed before it reached a bank) and forgets
    /// it: a later repeat is a new request. Nothing is logged or kept, so load shedding neither fills the table nor
    /// pushes out the answers it is there for.
    public func forget(_ key: Key, answering response: ISO8583Message) {
        let waiters = self.state.withLock { state -> [EventLoopPromise<ISO8583Message>] in
            guard case .inProgress(let waiters) = state.entries[key] else { return [] }
            state.entries[key] = nil
            return waiters
        }
        for waiter in waiters { waiter.succeed(response) }
    }

    /// Number of remembered answers.
    public var count: Int { self.state.withLock { $0.entries.count } }

    private func evict(_ state: inout State, now: UInt64) {
        while state.head < state.order.count {
            let (key, at) = state.order[state.head]
            let tooMany = state.order.count - state.head > self.capacity
            guard tooMany || now &- at > self.retentionNanos else { break }
            if case .done = state.entries[key] { state.entries[key] = nil }
            state.head += 1
        }
        if state.head > 4096, state.head * 2 > state.order.count {
            state.order.removeFirst(state.head)
            state.head = 0
        }
    }
}

// MARK: The log

extension DuplicateDetector {
    /// `WALLNANOS|MTI|ACQUIRER|TERMINAL|STAN|RRN|DATE|RESPONSE HEX`: `|` never occurs in those fields (DE 32 is n, DE
    /// 41 ans but the switch's acquirers use no `|`; a key that holds one is not logged).
    fileprivate static func append(_ key: Key, _ response: [UInt8], to log: AppendOnlyFile) {
        let fields = [key.acquirer, key.terminal, key.stan, key.rrn, key.date]
        guard !fields.contains(where: { $0.utf8.contains(124) || $0.utf8.contains(10) }) else { return }
        var line = String(UTCClock.nowNanoseconds()) + "|" + String(key.mti)
        for field in fields { line += "|" + field }
        line += "|"
        line += Hex.encode(response)
        line += "\n"
        // An answer that cannot be logged is still given: a repeat after a restart would then be executed again.
        try? log.append(line)
    }

    fileprivate static func parse(_ line: Substring) -> (Key, [UInt8], Int64)? {
        let parts = line.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 8, let wall = Int64(parts[0]), let mti = UInt16(parts[1]), let response = Hex.decode(parts[7]) else {
            return nil
        }
        let key = Key(mti: mti, acquirer: String(parts[2]), terminal: String(parts[3]), stan: String(parts[4]), rrn: String(parts[5]), date: String(parts[6]))
        return (key, response, wall)
    }
}

/// Monotonic nanoseconds.
enum DispatchTimeNanos {
    static func now() -> UInt64 {
        UInt64(NIODeadline.now().uptimeNanoseconds)
    }
}

import ISO8583
import NIOCore
import Synchronization

/// Remembers requests by (acquirer, terminal, STAN, RRN, date) so that a repeated request gets the original
/// answer, never a second execution. A repeat that arrives while the original is still being processed waits
/// for the same answer.
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
    }

    private enum Entry {
        case inProgress([EventLoopPromise<ISO8583Message>])
        case done(ISO8583Message, insertedAtNanos: UInt64)
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

    /// Keeps answers for `retention` (default 24 hours) and at most `capacity` of them (oldest dropped first).
    public init(retention: TimeAmount = .hours(24), capacity: Int = 2_000_000) {
        self.retentionNanos = UInt64(retention.nanoseconds)
        self.capacity = capacity
    }

    public func check(_ key: Key, on eventLoop: any EventLoop) -> Verdict {
        let now = DispatchTimeNanos.now()
        return self.state.withLock { state -> Verdict in
            switch state.entries[key] {
            case .none:
                state.entries[key] = .inProgress([])
                self.evict(&state, now: now)
                return .process
            case .inProgress(var waiters):
                let promise = eventLoop.makePromise(of: ISO8583Message.self)
                waiters.append(promise)
                state.entries[key] = .inProgress(waiters)
                return .repeatOf(promise.futureResult)
            case .done(let response, _):
                return .repeatOf(eventLoop.makeSucceededFuture(response))
            }
        }
    }

    /// Stores the answer to a processed request and answers any repeats that waited for it.
    public func complete(_ key: Key, with response: ISO8583Message) {
        let now = DispatchTimeNanos.now()
        let waiters = self.state.withLock { state -> [EventLoopPromise<ISO8583Message>] in
            guard case .inProgress(let waiters) = state.entries[key] else { return [] }
            state.entries[key] = .done(response, insertedAtNanos: now)
            state.order.append((key, now))
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

/// Monotonic nanoseconds.
enum DispatchTimeNanos {
    static func now() -> UInt64 {
        UInt64(NIODeadline.now().uptimeNanoseconds)
    }
}

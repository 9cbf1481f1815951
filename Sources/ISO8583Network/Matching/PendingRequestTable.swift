import NIOCore

/// The requests in flight on one connection, keyed by ``LinkMatchKey`` (or any key), each with
/// a deadline.
///
/// A plain value with no locks, no clock and no I/O: the link keeps it on its event loop (the
/// only thread that touches it) and completes the returned values (promises) after the mutating
/// call has returned, so a completion callback may safely start new requests.
///
/// Deadlines sit in a binary min-heap; completed entries leave stale heap nodes that are skipped
/// when they surface and compacted away when they outnumber the live ones.
public struct PendingRequestTable<Key: Hashable, Value> {
    /// Counters of what happened to requests on this table.
    public struct Counters: Hashable, Sendable {
        /// Requests accepted into the table.
        public var registered: Int = 0
        /// Requests completed by their response.
        public var matched: Int = 0
        /// Requests whose deadline passed first.
        public var timedOut: Int = 0
        /// Responses that matched no request in flight (late, after a timeout, or unsolicited).
        public var lateResponses: Int = 0
        /// Requests refused because their key was already in flight.
        public var duplicatesRejected: Int = 0

        /// Creates zeroed counters.
        public init() {}
    }

    struct Entry {
        var value: Value
        var deadline: NIODeadline
        var generation: UInt64
    }

    struct HeapNode {
        var deadline: NIODeadline
        var generation: UInt64
        var key: Key
    }

    private var entries: [Key: Entry] = [:]
    private var heap: [HeapNode] = []
    private var nextGeneration: UInt64 = 0

    /// What happened so far.
    public private(set) var counters = Counters()

    /// Creates an empty table.
    public init() {}

    /// The number of requests in flight.
    public var count: Int { self.entries.count }

    /// Whether no request is in flight.
    public var isEmpty: Bool { self.entries.isEmpty }

    /// The earliest deadline of a request in flight (possibly of one already completed; firing
    /// early is harmless).
    public var nextDeadline: NIODeadline? { self.heap.first?.deadline }

    /// Heap nodes held, live and stale (for tests of the compaction).
    var heapNodeCount: Int { self.heap.count }

    /// Whether a request with `key` is in flight.
    public func contains(_ key: Key) -> Bool {
        self.entries[key] != nil
    }

    /// Adds a request.
    ///
    /// - Throws: ``ISO8583NetworkError/Code/duplicateRequest`` when `key` is already in flight;
    ///   the table is unchanged and the first request stays in flight.
    public mutating func insert(_ value: Value, forKey key: Key, deadline: NIODeadline) throws(ISO8583NetworkError) {
        guard self.entries[key] == nil else {
            self.counters.duplicatesRejected += 1
            throw ISO8583NetworkError(code: .duplicateRequest, detail: "a request with key \(key) is already in flight")
        }
        let generation = self.nextGeneration
        self.nextGeneration &+= 1
        self.entries[key] = Entry(value: value, deadline: deadline, generation: generation)
        self.push(HeapNode(deadline: deadline, generation: generation, key: key))
        self.counters.registered += 1
        self.compactIfNeeded()
    }

    /// A response with `key` arrived: removes and returns its request, or returns `nil` (and
    /// counts a late response) when no request with that key is in flight.
    public mutating func complete(_ key: Key) -> Value? {
        guard let entry = self.entries.removeValue(forKey: key) else {
            self.counters.lateResponses += 1
            return nil
        }
        self.counters.matched += 1
        self.dropStaleTop()
        return entry.value
    }

    /// Removes a request without counting it as matched (its write failed, say).
    public mutating func cancel(_ key: Key) -> Value? {
        let value = self.entries.removeValue(forKey: key)?.value
        self.dropStaleTop()
        return value
    }

    /// Removes and returns every request whose deadline is at or before `now`, counting them as
    /// timed out.
    public mutating func removeExpired(now: NIODeadline) -> [(key: Key, value: Value)] {
        var expired: [(key: Key, value: Value)] = []
        while let top = self.heap.first, top.deadline <= now {
            self.popTop()
            if let entry = self.entries[top.key], entry.generation == top.generation {
                self.entries.removeValue(forKey: top.key)
                expired.append((top.key, entry.value))
            }
        }
        self.counters.timedOut += expired.count
        return expired
    }

    /// Removes and returns every request in flight (the connection closed).
    public mutating func removeAll() -> [(key: Key, value: Value)] {
        let all = self.entries.map { (key: $0.key, value: $0.value.value) }
        self.entries.removeAll()
        self.heap.removeAll()
        return all
    }

    // MARK: Heap

    private mutating func dropStaleTop() {
        while let top = self.heap.first, self.entries[top.key]?.generation != top.generation {
            self.popTop()
        }
    }

    private mutating func compactIfNeeded() {
        guard self.heap.count > 64, self.heap.count > 2 * self.entries.count else { return }
        self.heap = self.entries.map { HeapNode(deadline: $0.value.deadline, generation: $0.value.generation, key: $0.key) }
        var index = self.heap.count / 2
        while index > 0 {
            index -= 1
            self.siftDown(index)
        }
    }

    private mutating func push(_ node: HeapNode) {
        self.heap.append(node)
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.heap[child].deadline < self.heap[parent].deadline else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        let last = self.heap.removeLast()
        guard !self.heap.isEmpty else { return }
        self.heap[0] = last
        self.siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let count = self.heap.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            let right = left + 1
            if right < count, self.heap[right].deadline < self.heap[left].deadline {
                smallest = right
            }
            guard self.heap[smallest].deadline < self.heap[parent].deadline else { return }
            self.heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

extension PendingRequestTable: Sendable where Key: Sendable, Value: Sendable {}

extension PendingRequestTable.Entry: Sendable where Key: Sendable, Value: Sendable {}
extension PendingRequestTable.HeapNode: Sendable where Key: Sendable, Value: Sendable {}

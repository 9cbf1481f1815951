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

/// The local append-only journal in front of the registration center's database.
///
/// An approved transaction's owner-change records are durable once ``append(_:on:)`` succeeds: the bytes are
/// written and `fdatasync`ed. Appends that arrive while a sync is in flight are written and synced together
/// (group commit), so many appends share one sync.
///
/// On disk: segment files `segment-<first sequence, 16 hex digits>.journal` holding entries, and a `checkpoint` file
/// naming the last sequence whose records are committed in PostgreSQL. An entry is
/// `u32 magic "DCJ1" | u32 payload length | u64 sequence | u32 CRC-32C(payload ‖ sequence) | payload`; a torn or
/// corrupt tail (after a SIGKILL or power loss mid-write) fails the length or checksum test, is reported and cut
/// off, and was never acknowledged. ``open(_:logger:onDurable:)`` returns the entries after the checkpoint so the
/// caller replays only the tail; ``checkpoint(through:)`` deletes segments whose entries are all committed.
public final class RegistryJournal: Sendable {
    /// Where and how the journal writes.
    public struct Configuration: Sendable {
        /// The journal directory (created when missing).
        public var directory: String
        /// A segment is closed and a new one started once it holds this many bytes.
        public var segmentBytes: Int

        /// Creates a configuration; 64 MiB segments by default.
        public init(directory: String, segmentBytes: Int = 64 << 20) {
            self.directory = directory
            self.segmentBytes = segmentBytes
        }
    }

    /// One append: a sequence number and the records appended together.
    public struct Entry: Sendable, Hashable {
        /// Strictly increasing across the journal's life, starting at 1.
        public var sequence: UInt64
        public var records: [OwnerChangeRecord]

        public init(sequence: UInt64, records: [OwnerChangeRecord]) {
            self.sequence = sequence
            self.records = records
        }
    }

    /// Counters and latency of the journal so far.
    public struct Statistics: Sendable {
        /// Entries (appends) made durable.
        public var entries: UInt64 = 0
        /// Records made durable.
        public var records: UInt64 = 0
        /// Bytes written.
        public var bytes: UInt64 = 0
        /// `fdatasync` calls: entries / syncs is the mean group size.
        public var syncs: UInt64 = 0
        /// Append → durable, per append (the group-commit latency the switch waits for).
        public var appendLatency = DurationHistogram.twoDigits()
        /// Duration of each `fdatasync`.
        public var syncLatency = DurationHistogram.twoDigits()
        /// The last checkpointed sequence.
        public var checkpoint: UInt64 = 0
        /// Segment files on disk.
        public var segments: Int = 0
    }

    /// Called on the journal's writer thread with each group of entries, in sequence order, once they are durable
    /// and before their appends complete.
    public typealias DurableHandler = @Sendable ([Entry]) -> Void

    private enum Waiter: Sendable {
        case promise(EventLoopPromise<Void>)
        /// Unchecked: every waiter is resumed exactly once, by the writer thread or by `enqueue`'s refusal, and a
        /// checked continuation allocates a canary object per append.
        case continuation(UnsafeContinuation<Void, any Error>)

        func succeed() {
            switch self {
            case .promise(let promise): promise.succeed(())
            case .continuation(let continuation): continuation.resume()
            }
        }

        func fail(_ error: any Error) {
            switch self {
            case .promise(let promise): promise.fail(error)
            case .continuation(let continuation): continuation.resume(throwing: error)
            }
        }
    }

    private struct State {
        var nextSequence: UInt64
        var pending: ByteBuffer
        var pendingEntries: [Entry] = []
        var pendingWaiters: [(waiter: Waiter, enqueuedAt: UInt64)] = []
        var writerActive = false
        var closed = false
        var failure: OwnerChangeSinkError?
        var checkpointRequest: UInt64?
        var statistics = Statistics()
    }

    /// Files and descriptors, touched only on the writer thread (the single thread of `writerPool`) and by `open`
    /// before the journal is shared.
    private final class Files: @unchecked Sendable {
        struct Segment {
            var path: String
            var firstSequence: UInt64
            var lastSequence: UInt64
        }

        let directory: String
        let segmentBytes: Int
        var segments: [Segment] = []
        /// The segment being written, its space reserved ahead (see ``JournalSpace``).
        var active: JournalSpace?
        /// The directory lock (`LOCK`, flock'ed): one process writes a journal at a time.
        var lockFD: Int32 = -1
        var checkpoint: UInt64 = 0

        init(directory: String, segmentBytes: Int) {
            self.directory = directory
            self.segmentBytes = segmentBytes
        }
    }

    static let entryMagic: UInt32 = 0x4443_4A31  // "DCJ1"
    static let checkpointMagic: UInt32 = 0x4443_4A43  // "DCJC"
    static let headerBytes = 20

    /// The configuration in use.
    public let configuration: Configuration
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    private let files: Files
    private let writerPool: NIOThreadPool
    private let onDurable: DurableHandler

    private init(
        configuration: Configuration, logger: Logger, files: Files, nextSequence: UInt64,
        onDurable: @escaping DurableHandler
    ) {
        self.configuration = configuration
        self.logger = logger
        self.files = files
        self.onDurable = onDurable
        var state = State(nextSequence: nextSequence, pending: ByteBufferAllocator().buffer(capacity: 1 << 16))
        state.statistics.checkpoint = files.checkpoint
        state.statistics.segments = files.segments.count
        self.state = NIOLockedValueBox(state)
        self.writerPool = NIOThreadPool(numberOfThreads: 1)
        self.writerPool.start()
    }

    /// Opens (or creates) the journal in `configuration.directory` and recovers it.
    ///
    /// - Returns: The journal and the entries after the checkpoint, in order: written and synced before a crash or a
    ///   shutdown, maybe committed in PostgreSQL already (the writer is idempotent), to be replayed.
    public static func open(
        _ configuration: Configuration, logger: Logger, onDurable: @escaping DurableHandler
    ) throws -> (journal: RegistryJournal, recovered: [Entry]) {
        let directory = FileIO.absolute(configuration.directory)
        try FileIO.makeDirectories(directory)
        let files = Files(directory: directory, segmentBytes: max(configuration.segmentBytes, 1 << 16))
        files.lockFD = try FileIO.lockExclusively(directory + "/LOCK")
        files.checkpoint = readCheckpoint(directory: directory)
        var recovered: [Entry] = []
        var highest = files.checkpoint
        for name in try FileIO.list(directory) {
            if name.hasSuffix(".tmp") {
                unlink(directory + "/" + name)
                continue
            }
            guard name.hasPrefix("segment-"), name.hasSuffix(".journal"),
                let first = UInt64(name.dropFirst(8).dropLast(8), radix: 16)
            else { continue }
            let path = directory + "/" + name
            let scan = try scanSegment(path: path, logger: logger)
            var last = first
            for entry in scan.entries {
                last = max(last, entry.sequence)
                highest = max(highest, entry.sequence)
                if entry.sequence > files.checkpoint { recovered.append(entry) }
            }
            if scan.entries.isEmpty || last <= files.checkpoint {
                unlink(path)
            } else {
                files.segments.append(.init(path: path, firstSequence: first, lastSequence: last))
            }
        }
        recovered.sort { $0.sequence < $1.sequence }
        FileIO.syncDirectory(directory)
        if !recovered.isEmpty {
            logger.info(
                "Journal has uncommitted entries to replay",
                metadata: [
                    "journal.entries": "\(recovered.count)",
                    "journal.records": "\(recovered.reduce(0) { $0 + $1.records.count })",
                    "journal.checkpoint": "\(files.checkpoint)",
                ])
        }
        let journal = RegistryJournal(
            configuration: configuration, logger: logger, files: files, nextSequence: highest + 1,
            onDurable: onDurable)
        return (journal, recovered)
    }

    /// Appends records as one entry; the future succeeds once they are durable.
    ///
    /// Fails with ``OwnerChangeSinkError`` `.closed` after ``close()`` and `.ioFailure` once a write or sync has
    /// failed (the journal then refuses everything: after a failed `fsync` the page cache cannot be trusted).
    public func append(_ records: [OwnerChangeRecord], on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        enqueue(records, waiter: .promise(promise))
        return promise.futureResult
    }

    /// Appends records as one entry and returns once they are durable.
    public func append(_ records: [OwnerChangeRecord]) async throws {
        try await withUnsafeThrowingContinuation { continuation in
            enqueue(records, waiter: .continuation(continuation))
        }
    }

    /// Records that every entry up to `sequence` is committed in PostgreSQL: the checkpoint file is rewritten and
    /// segments holding only such entries are deleted, on the writer thread, soon.
    public func checkpoint(through sequence: UInt64) {
        let schedule = state.withLockedValue { state -> Bool in
            state.checkpointRequest = max(state.checkpointRequest ?? 0, sequence)
            guard !state.writerActive, !state.closed else { return false }
            state.writerActive = true
            return true
        }
        if schedule { scheduleDrain() }
    }

    /// A snapshot of the counters.
    public func statistics() -> Statistics {
        state.withLockedValue { $0.statistics }
    }

    /// Writes what is pending, applies the last checkpoint, closes the files and stops the writer thread. Appends
    /// after this fail with `.closed`.
    public func close() async {
        let alreadyClosed = state.withLockedValue { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        // The pool has one thread: this runs after any drain in progress, which ends once nothing is pending.
        let files = self.files
        try? await writerPool.runIfActive { [self] in
            self.drainOnWriterThread()
            if var active = files.active {
                active.release()
                FileIO.closeDescriptor(active.descriptor)
                files.active = nil
            }
            if files.lockFD >= 0 {
                FileIO.closeDescriptor(files.lockFD)
                files.lockFD = -1
            }
        }
        try? await writerPool.shutdownGracefully()
    }

    // MARK: - Writer

    private func enqueue(_ records: [OwnerChangeRecord], waiter: Waiter) {
        var payload = ByteBufferAllocator().buffer(capacity: 64 + records.count * 160)
        do {
            try JournalCoding.encode(records, into: &payload)
        } catch {
            waiter.fail(OwnerChangeSinkError(.ioFailure, "record not encodable: \(error)"))
            return
        }
        let payloadCRC = payload.withUnsafeReadableBytes { CRC32C.update(0, $0) }
        let now = Self.monotonicNanos()
        enum Outcome {
            case queued(scheduleWriter: Bool)
            case refused(OwnerChangeSinkError)
        }
        let outcome = state.withLockedValue { state -> Outcome in
            if state.closed { return .refused(OwnerChangeSinkError(.closed, "the registry journal is closed")) }
            if let failure = state.failure { return .refused(failure) }
            let sequence = state.nextSequence
            state.nextSequence += 1
            var sequenceBytes = sequence.bigEndian
            let crc = withUnsafeBytes(of: &sequenceBytes) { CRC32C.update(payloadCRC, $0) }
            state.pending.writeInteger(Self.entryMagic)
            state.pending.writeInteger(UInt32(payload.readableBytes))
            state.pending.writeInteger(sequence)
            state.pending.writeInteger(crc)
            state.pending.writeImmutableBuffer(payload)
            state.pendingEntries.append(Entry(sequence: sequence, records: records))
            state.pendingWaiters.append((waiter, now))
            if state.writerActive { return .queued(scheduleWriter: false) }
            state.writerActive = true
            return .queued(scheduleWriter: true)
        }
        switch outcome {
        case .refused(let error):
            waiter.fail(error)
        case .queued(let scheduleWriter):
            if scheduleWriter { scheduleDrain() }
        }
    }

    private func scheduleDrain() {
        writerPool.submit { [self] poolState in
            guard case .active = poolState else {
                self.failPending(OwnerChangeSinkError(.closed, "the registry journal is closed"))
                return
            }
            self.drainOnWriterThread()
        }
    }

    private func failPending(_ error: OwnerChangeSinkError) {
        let waiters = state.withLockedValue { state -> [Waiter] in
            defer {
                state.pendingWaiters.removeAll()
                state.pendingEntries.removeAll()
                state.pending.clear()
                state.writerActive = false
            }
            return state.pendingWaiters.map(\.waiter)
        }
        for waiter in waiters { waiter.fail(error) }
    }

    /// Writes and syncs pending groups until nothing is pending. Runs on the writer thread only.
    private func drainOnWriterThread() {
        var spare = ByteBufferAllocator().buffer(capacity: 1 << 16)
        while true {
            let taken = state.withLockedValue {
                state -> (ByteBuffer, [Entry], [(waiter: Waiter, enqueuedAt: UInt64)], UInt64?)? in
                if state.pending.readableBytes == 0 && state.checkpointRequest == nil {
                    state.writerActive = false
                    return nil
                }
                spare.clear()
                swap(&spare, &state.pending)
                let entries = state.pendingEntries
                let waiters = state.pendingWaiters
                let checkpoint = state.checkpointRequest
                state.pendingEntries.removeAll(keepingCapacity: true)
                state.pendingWaiters.removeAll(keepingCapacity: true)
                state.checkpointRequest = nil
                return (spare, entries, waiters, checkpoint)
            }
            guard let (buffer, entries, waiters, checkpoint) = taken else { return }

            if !entries.isEmpty {
                do {
                    let syncNanos = try writeAndSync(buffer, firstSequence: entries[0].sequence,
                                                     lastSequence: entries[entries.count - 1].sequence)
                    onDurable(entries)
                    let now = Self.monotonicNanos()
                    state.withLockedValue { state in
                        state.statistics.entries += UInt64(entries.count)
                        state.statistics.records += UInt64(entries.reduce(0) { $0 + $1.records.count })
                        state.statistics.bytes += UInt64(buffer.readableBytes)
                        state.statistics.syncs += 1
                        _ = state.statistics.syncLatency.record(syncNanos)
                        for waiter in waiters {
                            _ = state.statistics.appendLatency.record(now &- waiter.enqueuedAt)
                        }
                        state.statistics.segments = files.segments.count
                    }
                    for waiter in waiters { waiter.waiter.succeed() }
                } catch {
                    let failure = OwnerChangeSinkError(.ioFailure, "registry journal write failed: \(error)")
                    logger.error("Registry journal write failed; refusing further appends", metadata: ["error": "\(error)"])
                    state.withLockedValue { $0.failure = failure }
                    for waiter in waiters { waiter.waiter.fail(failure) }
                }
            }
            spare = buffer
            if let checkpoint { applyCheckpoint(checkpoint) }
        }
    }

    /// Returns the sync duration in nanoseconds.
    private func writeAndSync(_ buffer: ByteBuffer, firstSequence: UInt64, lastSequence: UInt64) throws -> UInt64 {
        if files.active == nil {
            let path = files.directory + "/segment-" + Self.hex16(firstSequence) + ".journal"
            let fd = try FileIO.openForWriting(path)
            files.active = JournalSpace(descriptor: fd, end: 0, fileBytes: 0, chunkBytes: min(files.segmentBytes, 16 << 20))
            files.segments.append(.init(path: path, firstSequence: firstSequence, lastSequence: firstSequence))
            // The new file's directory entry must be durable before anything in it is acknowledged.
            FileIO.syncDirectory(files.directory)
        }
        let path = files.segments[files.segments.count - 1].path
        guard buffer.withUnsafeReadableBytes({ files.active!.append($0) }) else { throw FileIO.ioError("write", path) }
        let descriptor = files.active!.descriptor
        let start = Self.monotonicNanos()
        #if canImport(Darwin)
        let synced = fsync(descriptor)
        #else
        let synced = fdatasync(descriptor)
        #endif
        guard synced == 0 else { throw FileIO.ioError("fdatasync", path) }
        let syncNanos = Self.monotonicNanos() &- start
        files.segments[files.segments.count - 1].lastSequence = lastSequence
        if files.active!.end >= files.segmentBytes {
            files.active!.release()
            FileIO.closeDescriptor(descriptor)
            files.active = nil
        }
        return syncNanos
    }

    private func applyCheckpoint(_ sequence: UInt64) {
        guard sequence > files.checkpoint else { return }
        files.checkpoint = sequence
        var bytes = ByteBufferAllocator().buffer(capacity: 16)
        bytes.writeInteger(Self.checkpointMagic)
        bytes.writeInteger(sequence)
        let crc = bytes.withUnsafeReadableBytes { CRC32C.update(0, $0) }
        bytes.writeInteger(crc)
        let path = files.directory + "/checkpoint"
        do {
            // Not synced: a lost checkpoint only means a longer (idempotent) replay.
            try FileIO.writeWholeFile(path + ".tmp", Array(bytes.readableBytesView))
            rename(path + ".tmp", path)
        } catch {
            logger.warning("Journal checkpoint not written", metadata: ["error": "\(error)"])
        }
        // Delete closed segments whose entries are all committed; the active one stays until it is rotated.
        var kept: [Files.Segment] = []
        for (index, segment) in files.segments.enumerated() {
            let isActive = files.active != nil && index == files.segments.count - 1
            if !isActive && segment.lastSequence <= sequence {
                unlink(segment.path)
            } else {
                kept.append(segment)
            }
        }
        files.segments = kept
        state.withLockedValue {
            $0.statistics.checkpoint = sequence
            $0.statistics.segments = kept.count
        }
    }

    // MARK: - Recovery

    struct SegmentScan {
        var entries: [Entry]
        var validBytes: Int
        var totalBytes: Int
    }

    /// Reads a segment's entries up to the first invalid one, and cuts the file there.
    static func scanSegment(path: String, logger: Logger) throws -> SegmentScan {
        let bytes = try FileIO.readWholeFile(path)
        var buffer = ByteBuffer(bytes: bytes)
        var entries: [Entry] = []
        var valid = 0
        while buffer.readableBytes >= headerBytes {
            let start = buffer.readerIndex
            guard let magic = buffer.readInteger(as: UInt32.self), magic == entryMagic,
                let length = buffer.readInteger(as: UInt32.self),
                let sequence = buffer.readInteger(as: UInt64.self),
                let crc = buffer.readInteger(as: UInt32.self),
                Int(length) <= buffer.readableBytes,
                var payload = buffer.readSlice(length: Int(length))
            else {
                buffer.moveReaderIndex(to: start)
                break
            }
            var sequenceBytes = sequence.bigEndian
            let computed = withUnsafeBytes(of: &sequenceBytes) { sequenceRaw in
                payload.withUnsafeReadableBytes { CRC32C.update(CRC32C.update(0, $0), sequenceRaw) }
            }
            guard computed == crc else {
                buffer.moveReaderIndex(to: start)
                break
            }
            guard let records = JournalCoding.decode(&payload) else {
                throw RegistrationCenterError(
                    .journalCorrupt, "\(path): entry \(sequence) has a valid checksum but does not decode")
            }
            entries.append(Entry(sequence: sequence, records: records))
            valid = buffer.readerIndex
        }
        if valid < bytes.count, JournalSpace.isUnused(bytes[valid...]) {
            // Space reserved ahead of the entries, left by a crash: nothing was written there.
            guard truncate(path, off_t(valid)) == 0 else { throw FileIO.ioError("truncate", path) }
        } else if valid < bytes.count {
            logger.warning(
                "Journal segment has a torn or corrupt tail; cutting it off (it was never acknowledged)",
                metadata: [
                    "journal.segment": "\(path)", "journal.valid_bytes": "\(valid)",
                    "journal.dropped_bytes": "\(bytes.count - valid)",
                ])
            guard truncate(path, off_t(valid)) == 0 else { throw FileIO.ioError("truncate", path) }
        }
        return SegmentScan(entries: entries, validBytes: valid, totalBytes: bytes.count)
    }

    static func readCheckpoint(directory: String) -> UInt64 {
        guard let bytes = try? FileIO.readWholeFile(directory + "/checkpoint"), bytes.count == 16 else { return 0 }
        var buffer = ByteBuffer(bytes: bytes)
        guard let magic = buffer.readInteger(as: UInt32.self), magic == checkpointMagic,
            let sequence = buffer.readInteger(as: UInt64.self),
            let crc = buffer.readInteger(as: UInt32.self),
            CRC32C.checksum(Array(bytes[0..<12])) == crc
        else { return 0 }
        return sequence
    }

    /// Reads a journal directory without opening it for writing: the entries after its checkpoint.
    /// For `dcswitch registry stats` in another process than the switch. Does not cut torn tails.
    public static func pendingEntries(directory: String) throws -> [Entry] {
        let checkpoint = readCheckpoint(directory: directory)
        var result: [Entry] = []
        for name in try FileIO.list(directory) where name.hasPrefix("segment-") && name.hasSuffix(".journal") {
            let bytes = try FileIO.readWholeFile(directory + "/" + name)
            var buffer = ByteBuffer(bytes: bytes)
            while buffer.readableBytes >= headerBytes {
                guard buffer.readInteger(as: UInt32.self) == entryMagic,
                    let length = buffer.readInteger(as: UInt32.self),
                    let sequence = buffer.readInteger(as: UInt64.self),
                    buffer.readInteger(as: UInt32.self) != nil,
                    var payload = buffer.readSlice(length: Int(length)),
                    let records = JournalCoding.decode(&payload)
                else { break }
                if sequence > checkpoint { result.append(Entry(sequence: sequence, records: records)) }
            }
        }
        return result.sorted { $0.sequence < $1.sequence }
    }

    static func monotonicNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

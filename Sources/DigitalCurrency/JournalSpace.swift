#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The write position of an append-only journal file whose space is reserved ahead of its content.
///
/// A sync after an append that grows the file must also make the new size and blocks durable; on ext4 that is a
/// commit of the file system's own journal, shared by every file on the disk. Reserving the space in large chunks
/// (`posix_fallocate`) and writing inside it leaves each `fdatasync` only the data to flush: with three journals and
/// PostgreSQL's WAL syncing side by side on this machine's disk, about a third more syncs a second at a lower median.
///
/// The reserved space past ``end`` reads as zero bytes, so after a crash a journal file ends in zeros. Readers tell
/// that apart from a torn write with ``isUnused(_:)``; ``release()`` cuts the file back to its content on a clean
/// close. Touched by one thread at a time (the journal's writer).
public struct JournalSpace: Sendable {
    /// The descriptor written to (owned by the journal).
    public let descriptor: Int32
    /// Where the next append goes: the length of the content.
    public private(set) var end: Int
    /// The file's length: content plus the space reserved after it.
    public private(set) var reserved: Int
    /// How much is reserved at a time.
    public let chunkBytes: Int
    /// `posix_fallocate` failed once (a file system without it): later appends simply grow the file.
    private var reservingFailed = false

    /// - Parameters:
    ///   - descriptor: open for writing, without `O_APPEND` (appends go to ``end``, not to the file's length).
    ///   - end: the length of the valid content.
    ///   - fileBytes: the file's current length (content plus any space reserved by an earlier run).
    ///   - chunkBytes: how much space to reserve at a time.
    public init(descriptor: Int32, end: Int, fileBytes: Int, chunkBytes: Int = 16 << 20) {
        self.descriptor = descriptor
        self.end = end
        self.reserved = max(end, fileBytes)
        self.chunkBytes = max(chunkBytes, 1 << 12)
    }

    /// Writes `bytes` at ``end`` (reserving more space first when they do not fit) and moves ``end`` past them.
    /// Not synced. Returns `false` with `errno` set when a write fails; ``end`` then stays where it was.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if self.end + bytes.count > self.reserved, !self.reservingFailed {
            let target = (self.end + bytes.count + self.chunkBytes - 1) / self.chunkBytes * self.chunkBytes
            if posix_fallocate(self.descriptor, off_t(self.reserved), off_t(target - self.reserved)) == 0 {
                self.reserved = target
            } else {
                self.reservingFailed = true
            }
        }
        var offset = 0
        while offset < bytes.count {
            let written = pwrite(self.descriptor, bytes.baseAddress! + offset, bytes.count - offset, off_t(self.end + offset))
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        self.end += bytes.count
        self.reserved = max(self.reserved, self.end)
        return true
    }

    /// Cuts the file back to its content (a clean close), so that it ends where its last entry does.
    public mutating func release() {
        guard self.reserved > self.end else { return }
        if ftruncate(self.descriptor, off_t(self.end)) == 0 {
            self.reserved = self.end
        }
    }

    /// Whether `tail` (what follows a journal's last valid entry) is only reserved space: all zero bytes, as opposed
    /// to the start of an entry a crash tore.
    public static func isUnused(_ tail: some Collection<UInt8>) -> Bool {
        tail.allSatisfy { $0 == 0 }
    }
}

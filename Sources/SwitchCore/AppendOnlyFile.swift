import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file the switch appends lines to (its answer log and its transaction log): one descriptor, appends serialized so
/// that lines never interleave, written to the kernel (they survive a crash of the process) and not synced.
final class AppendOnlyFile: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    /// Opens `path` for appending, creating it when missing.
    init(path: String) throws(SwitchError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SwitchError(.storage, "cannot open \(path): errno \(errno)") }
        self.path = path
        self.descriptor = Mutex(fd)
    }

    /// Appends `line` (which ends with a newline) in one `write`.
    func append(_ line: String) throws(SwitchError) {
        var line = line
        let ok = self.descriptor.withLock { fd in
            line.withUTF8 { bytes in Self.writeAll(fd, bytes) }
        }
        guard ok else { throw SwitchError(.storage, "cannot write \(self.path): errno \(errno)") }
    }

    /// Replaces the file with what `contents` returns (written to a temporary file, synced, renamed over it) and
    /// appends to the new file from then on. `contents` runs while appends wait, so no append falls between what it
    /// saw and the new file.
    func replace(with contents: () -> String) throws(SwitchError) {
        let temporary = self.path + ".tmp"
        let result: SwitchError? = self.descriptor.withLock { fd in
            var contents = contents()
            let fresh = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fresh >= 0 else { return SwitchError(.storage, "cannot create \(temporary): errno \(errno)") }
            let written = contents.withUTF8 { Self.writeAll(fresh, $0) }
            guard written, fsync(fresh) == 0, rename(temporary, self.path) == 0 else {
                close(fresh)
                return SwitchError(.storage, "cannot replace \(self.path): errno \(errno)")
            }
            close(fd)
            // O_APPEND on the new file: the descriptor from `open` above has none.
            close(fresh)
            let appender = open(self.path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard appender >= 0 else { return SwitchError(.storage, "cannot reopen \(self.path): errno \(errno)") }
            fd = appender
            return nil
        }
        if let result { throw result }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    deinit {
        self.descriptor.withLock { fd in _ = close(fd) }
    }
}

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file the switch appends lines to (its answer log and its transaction log), serialized so that lines never
/// interleave, and not synced.
///
/// An append is a copy into a shared memory mapping of the file, not a `write` call: the switch appends several lines
/// per transaction before the messages they announce leave it, and at these rates the system calls cost more than the
/// rest of the logging. A shared mapping's pages belong to the kernel's page cache as soon as they are written, so an
/// appended line survives a crash of the process exactly as a written one does (not a crash of the machine). The
/// file grows by ``window`` bytes at a time; what follows the last line is zeros until the file is closed, when it is
/// cut to its lines. A reader must treat a line with a NUL byte as the torn tail of a crash.
final class AppendOnlyFile: Sendable {
    /// How much of the file is mapped at a time (the file grows by this much).
    static let window = 8 << 20

    /// Only ever touched under the lock; the pointer is to the mapping this value owns.
    private struct Mapping: @unchecked Sendable {
        var fd: Int32
        /// The mapped window: `size` bytes of the file from offset `start`.
        var base: UnsafeMutableRawPointer
        var start: Int
        var size: Int
        /// Where the next line goes, from `start`.
        var position: Int
    }

    let path: String
    private let mapping: Mutex<Mapping?>

    /// Opens `path` for appending, creating it when missing; a tail of zeros (left by a crash) is cut off first.
    init(path: String) throws(SwitchError) {
        self.path = path
        self.mapping = Mutex(try Self.map(path: path))
    }

    /// Appends `line` (which ends with a newline).
    func append(_ line: String) throws(SwitchError) {
        var line = line
        let failure: SwitchError? = line.withUTF8 { bytes in
            self.mapping.withLock { mapping -> SwitchError? in
                guard var current = mapping else { return SwitchError(.storage, "\(self.path) is closed") }
                if current.position + bytes.count > current.size {
                    do throws(SwitchError) {
                        current = try Self.slide(current, toFit: bytes.count, path: self.path)
                    } catch {
                        mapping = nil
                        return error
                    }
                }
                if let source = bytes.baseAddress, !bytes.isEmpty {
                    (current.base + current.position).copyMemory(from: source, byteCount: bytes.count)
                }
                current.position += bytes.count
                mapping = current
                return nil
            }
        }
        if let failure { throw failure }
    }

    /// Replaces the file with what `contents` returns (written to a temporary file, synced, renamed over it) and
    /// appends to the new file from then on. `contents` runs while appends wait, so no append falls between what it
    /// saw and the new file.
    func replace(with contents: () -> String) throws(SwitchError) {
        let temporary = self.path + ".tmp"
        let failure: SwitchError? = self.mapping.withLock { mapping in
            var text = contents()
            let fresh = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fresh >= 0 else { return SwitchError(.storage, "cannot create \(temporary): errno \(errno)") }
            let written = text.withUTF8 { Self.writeAll(fresh, $0) }
            guard written, fsync(fresh) == 0, close(fresh) == 0 else {
                close(fresh)
                return SwitchError(.storage, "cannot write \(temporary): errno \(errno)")
            }
            if let old = mapping { Self.unmap(old, cut: false) }
            mapping = nil
            guard rename(temporary, self.path) == 0 else { return SwitchError(.storage, "cannot replace \(self.path): errno \(errno)") }
            do throws(SwitchError) {
                mapping = try Self.map(path: self.path)
            } catch {
                return error
            }
            return nil
        }
        if let failure { throw failure }
    }

    deinit {
        self.mapping.withLock { mapping in
            if let current = mapping { Self.unmap(current, cut: true) }
            mapping = nil
        }
    }

    // MARK: Mapping

    private static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
    /// `MAP_FAILED`, `(void *)-1`.
    private static var mapFailed: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: -1) }

    /// Opens the file and maps the window its end falls in.
    private static func map(path: String) throws(SwitchError) -> Mapping {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SwitchError(.storage, "cannot open \(path): errno \(errno)") }
        let end = Self.endOfLines(fd)
        guard end >= 0 else {
            close(fd)
            throw SwitchError(.storage, "cannot read \(path): errno \(errno)")
        }
        let start = end / Self.pageSize * Self.pageSize
        return try Self.mapWindow(fd: fd, start: start, position: end - start, path: path)
    }

    private static func mapWindow(fd: Int32, start: Int, position: Int, path: String) throws(SwitchError) -> Mapping {
        let size = max(Self.window, (position + Self.pageSize) / Self.pageSize * Self.pageSize)
        guard ftruncate(fd, off_t(start + size)) == 0 else {
            close(fd)
            throw SwitchError(.storage, "cannot grow \(path): errno \(errno)")
        }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(start)), base != Self.mapFailed else {
            close(fd)
            throw SwitchError(.storage, "cannot map \(path): errno \(errno)")
        }
        return Mapping(fd: fd, base: base, start: start, size: size, position: position)
    }

    /// The next window, holding the current position and room for `count` more bytes.
    private static func slide(_ current: Mapping, toFit count: Int, path: String) throws(SwitchError) -> Mapping {
        munmap(current.base, current.size)
        let offset = current.start + current.position
        let start = offset / Self.pageSize * Self.pageSize
        let position = offset - start
        var next = try Self.mapWindow(fd: current.fd, start: start, position: position, path: path)
        if next.position + count > next.size {
            munmap(next.base, next.size)
            let size = (position + count + Self.pageSize) / Self.pageSize * Self.pageSize
            guard ftruncate(current.fd, off_t(start + size)) == 0,
                  let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, current.fd, off_t(start)), base != Self.mapFailed else {
                close(current.fd)
                throw SwitchError(.storage, "cannot map \(path): errno \(errno)")
            }
            next = Mapping(fd: current.fd, base: base, start: start, size: size, position: position)
        }
        return next
    }

    /// Unmaps and closes; with `cut`, the file is first cut to its lines.
    private static func unmap(_ mapping: Mapping, cut: Bool) {
        munmap(mapping.base, mapping.size)
        if cut { _ = ftruncate(mapping.fd, off_t(mapping.start + mapping.position)) }
        close(mapping.fd)
    }

    /// The length of the file without its tail of zeros (-1 on a read error).
    private static func endOfLines(_ fd: Int32) -> Int {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return -1 }
        var end = Int(status.st_size)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while end > 0 {
            let from = max(0, end - chunk.count)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - from, off_t(from)) }
            guard n == end - from else { return -1 }
            if let last = chunk[0..<n].lastIndex(where: { $0 != 0 }) { return from + last + 1 }
            end = from
        }
        return 0
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
}

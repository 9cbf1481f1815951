import DigitalCurrency
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One approved transaction, as `--record` writes it and `dcswitch registry verify` reads it:
/// `{"txn":"<DE 124.05>","flow":"nfc","records":3,"rrn":"…","stan":"…"}`.
///
/// `records` is the number of owner-change records the approval implies: the items of the answer's DE 124.03
/// plus those of DE 124.11 (0 for an account opening).
public struct ApprovalRecord: Hashable, Sendable, Codable {
    /// DE 124.05 of the answer: the switch's transaction id.
    public var transactionID: String
    public var flow: Flow
    /// Owner-change records the approval implies.
    public var ownerChangeRecords: Int
    /// DE 37 of the request.
    public var rrn: String
    /// DE 11 of the request.
    public var stan: String

    public init(transactionID: String, flow: Flow, ownerChangeRecords: Int, rrn: String, stan: String) {
        self.transactionID = transactionID
        self.flow = flow
        self.ownerChangeRecords = ownerChangeRecords
        self.rrn = rrn
        self.stan = stan
    }

    enum CodingKeys: String, CodingKey {
        case transactionID = "txn"
        case flow
        case ownerChangeRecords = "records"
        case rrn, stan
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.transactionID = try c.decode(String.self, forKey: .transactionID)
        let name = try c.decode(String.self, forKey: .flow)
        guard let flow = Flow(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .flow, in: c, debugDescription: "unknown flow \(name)")
        }
        self.flow = flow
        self.ownerChangeRecords = try c.decode(Int.self, forKey: .ownerChangeRecords)
        self.rrn = try c.decode(String.self, forKey: .rrn)
        self.stan = try c.decode(String.self, forKey: .stan)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.transactionID, forKey: .transactionID)
        try c.encode(self.flow.rawValue, forKey: .flow)
        try c.encode(self.ownerChangeRecords, forKey: .ownerChangeRecords)
        try c.encode(self.rrn, forKey: .rrn)
        try c.encode(self.stan, forKey: .stan)
    }

    /// Appends the record's JSON line (newline included), without Foundation.
    public func appendJSONLine(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"txn":"#.utf8)
        TextFormatting.appendJSONString(self.transactionID, to: &bytes)
        bytes.append(contentsOf: #","flow":"#.utf8)
        TextFormatting.appendJSONString(self.flow.rawValue, to: &bytes)
        bytes.append(contentsOf: #","records":"#.utf8)
        TextFormatting.appendDecimal(self.ownerChangeRecords, to: &bytes)
        bytes.append(contentsOf: #","rrn":"#.utf8)
        TextFormatting.appendJSONString(self.rrn, to: &bytes)
        bytes.append(contentsOf: #","stan":"#.utf8)
        TextFormatting.appendJSONString(self.stan, to: &bytes)
        bytes.append(contentsOf: "}\n".utf8)
    }
}

/// A file that several threads append whole lines to: each writes complete buffers with `O_APPEND`, so lines of
/// different writers never interleave.
public final class AppendOnlyFile: Sendable {
    /// The file's path.
    public let path: String
    private let descriptor: NIOLockedValueBox<Int32>

    /// Creates (or truncates) the file at `path`.
    public init(path: String) throws(OutputFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputFileError(path: path, errno: errno) }
        self.path = path
        self.descriptor = NIOLockedValueBox(fd)
    }

    /// Appends `bytes` (blocking; the page cache takes it at once).
    public func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        self.descriptor.withLockedValue { fd in
            guard fd >= 0 else { return }
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }

    /// Closes the file; later appends are dropped.
    public func close() {
        self.descriptor.withLockedValue { fd in
            if fd >= 0 {
                closeFileDescriptor(fd)
                fd = -1
            }
        }
    }

    deinit {
        self.close()
    }
}

private func closeFileDescriptor(_ fd: Int32) {
    _ = close(fd)
}

/// A file the generator could not write.
public struct OutputFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public init(path: String, errno: Int32) {
        self.path = path
        self.errno = errno
    }
    public var description: String { "\(self.path): cannot write (\(String(cString: strerror(self.errno))))" }
}

/// A shard's buffer of approval lines, written to the shared file in blocks of about 64 KiB.
final class ApprovalRecordBuffer {
    private let file: AppendOnlyFile
    private var bytes: [UInt8] = []

    init(file: AppendOnlyFile) {
        self.file = file
        self.bytes.reserveCapacity(70_000)
    }

    func append(_ record: ApprovalRecord) {
        record.appendJSONLine(to: &self.bytes)
        if self.bytes.count >= 65_536 { self.flush() }
    }

    func flush() {
        self.file.append(self.bytes)
        self.bytes.removeAll(keepingCapacity: true)
    }
}

import Foundation
import ISO8583
import Logging
import NIOCore
import Synchronization

/// The store-and-forward queue of reversals: a 0420 is written to disk before the acquirer is answered, sent to
/// the bank, and repeated as 0421 until the bank answers (any DE 39: 00 reversed, 25 nothing to reverse).
/// After a restart the queue picks up where it was.
///
/// The file is an append-only log of `+ID BANK HEX` (enqueued) and `-ID` (acknowledged) lines, fsynced per
/// append; it is rewritten without the acknowledged entries when it has grown.
public final class ReversalQueue: Sendable {
    public struct Entry: Sendable {
        public var id: UInt64
        public var bankID: String
        public var message: ISO8583Message
        public var attempts: Int
    }

    private struct State {
        var pending: [UInt64: Entry] = [:]
        var inFlight: Set<UInt64> = []
        var nextID: UInt64 = 1
        var acknowledged = 0
        var appendedSinceCompaction = 0
        var task: RepeatedTask?
    }

    private let state = Mutex(State())
    private let path: String?
    private let spec: MessageSpec
    private let gateway: any BankGateway
    private let timeout: TimeAmount
    private let logger: Logger
    private let fileLock = Mutex(())

    /// Opens (or creates) the queue at `directory/reversals.log`; in memory only when `directory` is `nil`.
    public init(directory: String?, spec: MessageSpec, gateway: any BankGateway, timeout: TimeAmount, logger: Logger) throws {
        self.spec = spec
        self.gateway = gateway
        self.timeout = timeout
        self.logger = logger
        if let directory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            self.path = directory + "/reversals.log"
            try self.load()
        } else {
            self.path = nil
        }
    }

    /// Reversals not yet acknowledged by their bank.
    public var pendingCount: Int { self.state.withLock { $0.pending.count } }
    /// Reversals acknowledged since start.
    public var acknowledgedCount: Int { self.state.withLock { $0.acknowledged } }

    /// Durably queues `reversal` for `bankID` and sends it at once.
    public func enqueue(_ reversal: ISO8583Message, bankID: String) throws {
        let id = self.state.withLock { state -> UInt64 in
            let id = state.nextID
            state.nextID += 1
            state.pending[id] = Entry(id: id, bankID: bankID, message: reversal, attempts: 0)
            return id
        }
        try self.append("+\(id) \(bankID) \(try self.spec.encodeHex(reversal))\n")
        self.send(id)
    }

    /// Starts repeating unacknowledged reversals every `interval` on `eventLoop`.
    public func start(on eventLoop: any EventLoop, interval: TimeAmount = .seconds(2)) {
        let task = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(10), delay: interval) { [weak self] _ in
            self?.retryAll()
        }
        self.state.withLock { $0.task = task }
    }

    public func stop() {
        self.state.withLock { $0.task?.cancel(); $0.task = nil }
    }

    /// Completes when every queued reversal is acknowledged, checking every 50 ms, or after `timeout`.
    public func drain(on eventLoop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<Bool> {
        let deadline = NIODeadline.now() + timeout
        let promise = eventLoop.makePromise(of: Bool.self)
        func poll() {
            if self.pendingCount == 0 { promise.succeed(true); return }
            if NIODeadline.now() > deadline { promise.succeed(false); return }
            self.retryAll()
            eventLoop.scheduleTask(in: .milliseconds(50)) { poll() }
        }
        poll()
        return promise.futureResult
    }

    private func retryAll() {
        let ids = self.state.withLock { state in state.pending.keys.filter { !state.inFlight.contains($0) } }
        for id in ids { self.send(id) }
    }

    private func send(_ id: UInt64) {
        let entry = self.state.withLock { state -> Entry? in
            guard var entry = state.pending[id], !state.inFlight.contains(id) else { return nil }
            state.inFlight.insert(id)
            entry.attempts += 1
            state.pending[id] = entry
            return entry
        }
        guard let entry else { return }
        var message = entry.message
        if entry.attempts > 1 { message.mti = MTI(value: message.mti.value | 1) }  // 0420 → 0421
        self.gateway.send(message, to: entry.bankID, timeout: self.timeout).whenComplete { result in
            switch result {
            case .success(let answer):
                let code = answer.responseCode ?? ""
                // Reversed (00), or the bank never saw the leg (25). Any other answer (the bank cannot reverse now, e.g.
                // a credit of the same transaction it must undo first) leaves it queued, to repeat.
                guard code == "00" || code == "25" else {
                    self.state.withLock { _ = $0.inFlight.remove(id) }
                    self.logger.warning("reversal refused; it will be repeated", metadata: [
                        "bank.id": .string(entry.bankID), "reversal.id": .stringConvertible(id), "iso.rc": .string(code),
                    ])
                    return
                }
                self.acknowledge(id, code: code)
            case .failure(let error):
                self.state.withLock { _ = $0.inFlight.remove(id) }
                self.logger.debug("reversal not acknowledged yet", metadata: ["bank.id": .string(entry.bankID), "reversal.id": .stringConvertible(id), "error": .string("\(error)")])
            }
        }
    }

    private func acknowledge(_ id: UInt64, code: String) {
        let removed = self.state.withLock { state -> Bool in
            state.inFlight.remove(id)
            guard state.pending.removeValue(forKey: id) != nil else { return false }
            state.acknowledged += 1
            return true
        }
        guard removed else { return }
        do {
            try self.append("-\(id)\n")
        } catch {
            self.logger.error("cannot record a reversal acknowledgement", metadata: ["error": .string("\(error)")])
        }
        self.logger.debug("reversal acknowledged", metadata: ["reversal.id": .stringConvertible(id), "iso.rc": .string(code)])
    }

    private func append(_ line: String) throws {
        guard let path else { return }
        try self.fileLock.withLock { _ in
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard fd >= 0 else { throw SwitchError(.storage, "cannot open \(path): errno \(errno)") }
            defer { close(fd) }
            var bytes = Array(line.utf8)
            let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.count, fsync(fd) == 0 else { throw SwitchError(.storage, "cannot write \(path): errno \(errno)") }
        }
        let compact = self.state.withLock { state -> Bool in
            state.appendedSinceCompaction += 1
            return state.appendedSinceCompaction > 10_000
        }
        if compact { try self.compact() }
    }

    /// Rewrites the log with only the pending entries.
    private func compact() throws {
        guard let path else { return }
        let pending = self.state.withLock { state -> [Entry] in
            state.appendedSinceCompaction = 0
            return Array(state.pending.values)
        }
        var text = ""
        for entry in pending.sorted(by: { $0.id < $1.id }) {
            text += "+\(entry.id) \(entry.bankID) \(try self.spec.encodeHex(entry.message))\n"
        }
        try self.fileLock.withLock { _ in
            let temporary = path + ".tmp"
            try text.write(toFile: temporary, atomically: false, encoding: .utf8)
            let fd = open(temporary, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(temporary, path) == 0 else { throw SwitchError(.storage, "cannot replace \(path)") }
        }
    }

    private func load() throws {
        guard let path, FileManager.default.fileExists(atPath: path) else { return }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var pending: [UInt64: Entry] = [:]
        var maxID: UInt64 = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("+") {
                let parts = line.dropFirst().split(separator: " ")
                // A torn last line (crash mid-write) does not parse: it was never acknowledged to anyone.
                guard parts.count == 3, let id = UInt64(parts[0]), let message = try? self.spec.decode(hex: parts[2]) else { continue }
                pending[id] = Entry(id: id, bankID: String(parts[1]), message: message, attempts: 1)
                maxID = max(maxID, id)
            } else if line.hasPrefix("-"), let id = UInt64(line.dropFirst()) {
                pending[id] = nil
                maxID = max(maxID, id)
            }
        }
        self.state.withLock { state in
            state.pending = pending
            state.nextID = maxID + 1
        }
        if !pending.isEmpty {
            self.logger.info("reversals pending from the last run", metadata: ["reversal.count": .stringConvertible(pending.count)])
        }
    }
}

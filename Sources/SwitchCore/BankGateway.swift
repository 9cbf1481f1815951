import ISO8583
import ISO8583Network
import Logging
import NIOCore

/// How the switch reaches banks: one link per bank.
public protocol BankGateway: Sendable {
    /// Sends `request` on the link to `bankID` and completes with the bank's answer, or fails with an
    /// ``ISO8583NetworkError`` (`.timeout`, `.notSignedOn`, `.connectionClosed`, …).
    func send(_ request: ISO8583Message, to bankID: String, timeout: TimeAmount) -> EventLoopFuture<ISO8583Message>

    /// An event loop to run switch work for `bankID` on.
    func eventLoop(for bankID: String) -> any EventLoop
}

/// The switch's client links to the banks of a network, each signed on and kept alive by its own state machine.
public final class BankLinks: BankGateway {
    public let links: [String: ISO8583Link<ISO8583LinkCodec>]
    private let fallback: any EventLoop

    public init(banks: [(id: String, host: String, port: Int)], codec: ISO8583LinkCodec, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        var links: [String: ISO8583Link<ISO8583LinkCodec>] = [:]
        for bank in banks {
            var configuration = ISO8583Link<ISO8583LinkCodec>.Configuration(host: bank.host, port: bank.port, name: "bank-\(bank.id)")
            configuration.connectTimeout = .seconds(2)
            var linkLogger = logger
            linkLogger[metadataKey: "bank.id"] = .string(bank.id)
            links[bank.id] = ISO8583Link(configuration: configuration, codec: codec, eventLoopGroup: eventLoopGroup, logger: linkLogger)
        }
        self.links = links
        self.fallback = eventLoopGroup.next()
    }

    /// Connects and signs on every link (each keeps retrying with backoff while its bank is down).
    public func start() {
        for link in self.links.values { link.start() }
    }

    /// Completes when every link is signed on.
    public func waitForSignOn(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        EventLoopFuture.andAllSucceed(self.links.values.map { $0.waitForSignOn() }, on: eventLoop)
    }

    public func shutdown(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        EventLoopFuture.andAllComplete(self.links.values.map { $0.shutdown() }, on: eventLoop)
    }

    public func send(_ request: ISO8583Message, to bankID: String, timeout: TimeAmount) -> EventLoopFuture<ISO8583Message> {
        guard let link = self.links[bankID] else {
            return self.fallback.makeFailedFuture(ISO8583NetworkError(code: .notSignedOn, detail: "no link to bank \(bankID)"))
        }
        return link.send(request, timeout: timeout)
    }

    public func eventLoop(for bankID: String) -> any EventLoop {
        self.links[bankID]?.eventLoop ?? self.fallback
    }

    /// Each link's state, for metrics and `stats`.
    public var states: [String: LinkState] {
        self.links.mapValues(\.state)
    }
}

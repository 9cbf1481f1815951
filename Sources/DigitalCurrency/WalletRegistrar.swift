import NIOCore

/// Where account opening sends a new wallet's identity: the central bank's authentication center (the
/// registration center). The switch answers the acquirer only after the registration succeeded.
public protocol WalletRegistrar: Sendable {
    func registerWallet(
        address: String, publicKeyHex: String, bankInstitution: String, customerReference: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void>
}

import DigitalCurrency
import NIOCore

/// Account opening registers the new wallet's identity with the central bank (the paper, §3.2.1 step 3).
extension RegistrationCenter: WalletRegistrar {
    public func registerWallet(
        address: String, publicKeyHex: String, bankInstitution: String, customerReference: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let registration = WalletRegistration(
            address: address, publicKey: publicKeyHex, bank: bankInstitution, customerReference: customerReference,
            openedAtNanos: RegistrationCenter.wallClockNanos()
        )
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask {
            _ = try await self.database.register([registration])
        }
        return promise.futureResult
    }

    /// Registers every seeded wallet and issues every seeded coin of `network` (idempotent: a second run
    /// issues nothing new). Returns the number of coins newly issued.
    @discardableResult
    public func seed(network: NetworkConfiguration, seeds: [SeedData]) async throws -> Int {
        var issued = 0
        for seed in seeds {
            let bank = seed.bank
            var wallets = [WalletRegistration(address: seed.treasury.address, publicKey: seed.treasury.publicKeyHex, bank: bank.institution, customerReference: "treasury", openedAtNanos: 0)]
            wallets += seed.customers.map {
                WalletRegistration(address: $0.wallet.address, publicKey: $0.wallet.publicKeyHex, bank: bank.institution, customerReference: "customer-\($0.index)", openedAtNanos: 0)
            }
            wallets += seed.merchants.map {
                WalletRegistration(address: $0.wallet.address, publicKey: $0.wallet.publicKeyHex, bank: bank.institution, customerReference: "merchant-\($0.index)", openedAtNanos: 0)
            }
            for chunk in stride(from: 0, to: wallets.count, by: 5_000) {
                try await self.database.register(Array(wallets[chunk..<min(chunk + 5_000, wallets.count)]))
            }
            let coins = seed.allCoins
            for chunk in stride(from: 0, to: coins.count, by: 20_000) {
                let outcome = try await self.database.issue(Array(coins[chunk..<min(chunk + 20_000, coins.count)]), issuanceID: "ISSUE-\(bank.id)", bank: bank.institution)
                issued += outcome.issued
            }
        }
        return issued
    }
}

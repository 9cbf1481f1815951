import DigitalCurrency
import Synchronization

/// Where a card, a wallet or an institution code leads: which bank's link carries the leg.
///
/// Cards route by BIN (the first six digits), wallets by the institution code their address embeds, checked
/// against the public-key registry that account opening fills (the paper, §3.2.1 step 2), institutions (DE 100)
/// directly. Lookups happen on every request from any event loop; registrations are rare, so one mutex with
/// tiny critical sections serves.
public final class RoutingTable: Sendable {
    /// A wallet the switch knows: its bank and public key.
    public struct WalletRoute: Hashable, Sendable {
        public var bankID: String
        public var publicKeyHex: String
    }

    private struct State {
        var bins: [String: String] = [:]
        var institutions: [String: String] = [:]
        var wallets: [String: WalletRoute] = [:]
    }

    private let state: Mutex<State>

    public init(network: NetworkConfiguration) {
        var state = State()
        for bank in network.banks {
            for bin in bank.bins { state.bins[bin] = bank.id }
            state.institutions[bank.institution] = bank.id
        }
        self.state = Mutex(state)
    }

    /// The bank holding card `pan`.
    public func bank(forCard pan: String) -> String? {
        guard pan.utf8.count >= 6 else { return nil }
        let bin = String(pan.utf8.prefix(6))!
        return self.state.withLock { $0.bins[bin] }
    }

    /// The bank with institution code `code`.
    public func bank(forInstitution code: String) -> String? {
        self.state.withLock { $0.institutions[code] }
    }

    /// The bank holding wallet `address`: registered wallets first, then the institution code the address embeds.
    public func bank(forWallet address: String) -> String? {
        if let route = self.state.withLock({ $0.wallets[address] }) { return route.bankID }
        guard let institution = Wallet.institution(ofAddress: address) else { return nil }
        return self.bank(forInstitution: institution)
    }

    /// The public key a wallet registered with, if it did.
    public func wallet(_ address: String) -> WalletRoute? {
        self.state.withLock { $0.wallets[address] }
    }

    /// Records a wallet's public key for routing (account opening, or the seeded wallets at start).
    public func register(wallet address: String, bankID: String, publicKeyHex: String) {
        self.state.withLock { $0.wallets[address] = WalletRoute(bankID: bankID, publicKeyHex: publicKeyHex) }
    }

    /// Number of registered wallets.
    public var walletCount: Int { self.state.withLock { $0.wallets.count } }
}

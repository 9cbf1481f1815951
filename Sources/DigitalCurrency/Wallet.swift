import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A DC wallet: a P-256 key pair and the address derived from its public key.
///
/// The address is `DC` + the 11-digit institution code of the wallet's bank + the first 40 hex characters of
/// SHA-256 over the public key (X9.63 form): 53 characters, far longer than a card number, as the paper says
/// (§4.2.1), and routable by the institution code it embeds.
public struct Wallet: Sendable {
    public let privateKey: P256.Signing.PrivateKey
    public let address: String
    /// The public key, X9.63 uncompressed, as upper-case hex (130 characters).
    public let publicKeyHex: String

    public init(privateKey: P256.Signing.PrivateKey, institution: String) {
        self.privateKey = privateKey
        let publicKey = privateKey.publicKey.x963Representation
        self.publicKeyHex = Self.hex(publicKey)
        self.address = Self.address(publicKey: publicKey, institution: institution)
    }

    /// A new random wallet (account opening).
    public static func random(institution: String) -> Wallet {
        Wallet(privateKey: P256.Signing.PrivateKey(), institution: institution)
    }

    /// A wallet whose key is derived from `seed`: the same seed gives the same wallet in every process.
    public static func seeded(_ seed: String, institution: String) -> Wallet {
        var digest = Array(SHA256.hash(data: Array(seed.utf8)))
        // A scalar of 0 or ≥ the group order is astronomically unlikely; rehash if the key is refused.
        while true {
            if let key = try? P256.Signing.PrivateKey(rawRepresentation: digest) {
                return Wallet(privateKey: key, institution: institution)
            }
            digest = Array(SHA256.hash(data: digest))
        }
    }

    public static func address(publicKey: some DataProtocol, institution: String) -> String {
        let digest = Array(SHA256.hash(data: Array(publicKey)))
        return "DC" + institution + String(hex(digest).prefix(40))
    }

    /// The institution code embedded in a wallet address, or `nil` when `address` is not one.
    public static func institution(ofAddress address: String) -> String? {
        let utf8 = address.utf8
        guard utf8.count == 53, address.hasPrefix("DC") else { return nil }
        let start = address.index(address.startIndex, offsetBy: 2)
        let end = address.index(start, offsetBy: 11)
        let code = address[start..<end]
        guard code.allSatisfy(\.isNumber) else { return nil }
        return String(code)
    }

    /// Signs `message` (the payer's signature of a payment; the security issue verifies it at the payer bank).
    public func sign(_ message: some DataProtocol) throws -> String {
        Self.hex(try self.privateKey.signature(for: message).rawRepresentation)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

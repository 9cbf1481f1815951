import DigitalCurrency

/// A payer's signed authorization to pay: DE 124.02 (the signature) and DE 124.04 (the nonce) of a wallet-paid
/// request.
///
/// The wallet signs (ECDSA P-256, SHA-256) the bytes of ``signedMessage(payer:amount:nonce:)``:
/// `DCSIG1|<payer wallet address>|<DE 4, 12 digits>|<nonce>`. A bank can check it with the wallet's public key;
/// the nonce, used once, keeps a signed request from being replayed as a new payment.
public struct PayerAuthorization: Sendable {
    /// The paying wallet (an index into the shard's ``WorkloadModel/wallets``).
    public var wallet: Int
    /// DE 4, minor units.
    public var amount: Int64
    /// DE 124.04, 16 upper-case hex characters.
    public var nonce: String
    /// DE 124.02, hex of the 64-byte raw signature (never logged).
    public var signature: String

    public init(wallet: Int, amount: Int64, nonce: String, signature: String) {
        self.wallet = wallet
        self.amount = amount
        self.nonce = nonce
        self.signature = signature
    }

    /// The bytes a payer signs.
    public static func signedMessage(payer: String, amount: Int64, nonce: String) -> [UInt8] {
        var bytes: [UInt8] = Array("DCSIG1|".utf8)
        bytes.reserveCapacity(96)
        bytes.append(contentsOf: payer.utf8)
        bytes.append(UInt8(ascii: "|"))
        bytes.append(contentsOf: RequestBuilder.zeroPadded(UInt64(max(amount, 0)), width: 12).utf8)
        bytes.append(UInt8(ascii: "|"))
        bytes.append(contentsOf: nonce.utf8)
        return bytes
    }

    /// Signs as `wallet` (about 30 µs of CPU in a release build: why the generator signs payments ahead of a run).
    public static func sign(_ wallet: Wallet, amount: Int64, nonce: String) -> String {
        // P-256 signing over a digest cannot fail for a valid key.
        (try? wallet.sign(self.signedMessage(payer: wallet.address, amount: amount, nonce: nonce))) ?? ""
    }
}

/// Unique nonces: 16 hex characters of a bijective mix of a per-generator salt and a counter.
public struct NonceSource: Sendable {
    private let salt: UInt64
    private var counter: UInt64
    private let stride: UInt64

    /// Nonces from counter values `start`, `start + stride`, `start + 2·stride`, …: shards use different starts.
    public init(salt: UInt64, start: UInt64, stride: UInt64) {
        self.salt = salt
        self.counter = start
        self.stride = max(stride, 1)
    }

    /// The next nonce.
    public mutating func next() -> String {
        let value = LoadRandom.mix(self.counter ^ self.salt)
        self.counter &+= self.stride
        return Self.hex16(value)
    }

    static func hex16(_ value: UInt64) -> String {
        let digits: StaticString = "0123456789ABCDEF"
        return String(unsafeUninitializedCapacity: 16) { out in
            digits.withUTF8Buffer { table in
                for i in 0..<16 {
                    out[i] = table[Int((value >> UInt64(60 - 4 * i)) & 0xF)]
                }
            }
            return 16
        }
    }
}

/// Payment authorizations signed before a run, taken in order while it runs, so that P-256 signing (tens of
/// microseconds each) is not on the send path. Each entry names its payer and amount; an entry whose payer lacks
/// the money when it comes up goes to the back of the queue.
public struct AuthorizationPool: Sendable {
    private var entries: [PayerAuthorization]
    private var head = 0

    public init(_ entries: [PayerAuthorization] = []) {
        self.entries = entries
    }

    /// Entries not yet taken.
    public var count: Int { self.entries.count - self.head }

    /// Takes the first entry `accept` accepts among the next `attempts` (passing over the others, which go to the
    /// back), or `nil`.
    public mutating func take(attempts: Int, _ accept: (PayerAuthorization) -> Bool) -> PayerAuthorization? {
        var tries = 0
        while tries < attempts, self.head < self.entries.count {
            let entry = self.entries[self.head]
            self.head += 1
            if accept(entry) {
                self.compactIfNeeded()
                return entry
            }
            self.entries.append(entry)
            tries += 1
        }
        self.compactIfNeeded()
        return nil
    }

    private mutating func compactIfNeeded() {
        if self.head > 4096, self.head * 2 > self.entries.count {
            self.entries.removeFirst(self.head)
            self.head = 0
        }
    }

    /// Signs `count` payment authorizations for random payers among `model`'s customers, on all cores.
    public static func precompute(
        count: Int, model: WorkloadModel, amounts: ClosedRange<Int64>, nonces: NonceSource, seed: UInt64, parallelism: Int
    ) async -> AuthorizationPool {
        guard count > 0, !model.customers.isEmpty else { return AuthorizationPool() }
        // Draw payers, amounts and nonces up front (deterministic), then sign in parallel chunks.
        var random = LoadRandom(seed: seed)
        var nonces = nonces
        var plans: [(wallet: Int, amount: Int64, nonce: String)] = []
        plans.reserveCapacity(count)
        for _ in 0..<count {
            let wallet = model.customers[random.below(model.customers.count)].wallet
            plans.append((wallet, random.inRange(amounts), nonces.next()))
        }
        let signers = model.wallets.map(\.signer)
        let chunks = max(1, min(parallelism, count / 256 + 1))
        let chunkSize = (count + chunks - 1) / chunks
        let finishedPlans = plans
        let signed = await withTaskGroup(of: (Int, [PayerAuthorization]).self) { group in
            for c in 0..<chunks {
                let range = (c * chunkSize)..<min(count, (c + 1) * chunkSize)
                group.addTask {
                    var out: [PayerAuthorization] = []
                    out.reserveCapacity(range.count)
                    for i in range {
                        let plan = finishedPlans[i]
                        guard let signer = signers[plan.wallet] else { continue }
                        out.append(PayerAuthorization(
                            wallet: plan.wallet, amount: plan.amount, nonce: plan.nonce,
                            signature: PayerAuthorization.sign(signer, amount: plan.amount, nonce: plan.nonce)
                        ))
                    }
                    return (c, out)
                }
            }
            var parts: [[PayerAuthorization]] = Array(repeating: [], count: chunks)
            for await (c, part) in group { parts[c] = part }
            return parts.flatMap { $0 }
        }
        return AuthorizationPool(signed)
    }
}

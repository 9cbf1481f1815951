/// The coins one wallet owns, in the order they arrived: spending takes the oldest first.
///
/// A coin can be *pending*: owned, but not yet spendable. Coins a leg brings in (a credit leg's coins, a debit leg's
/// change) stay pending until the switch says the transaction is complete (its owner-change records are durable in the
/// registration center) or a reversal takes them away again. Spending one earlier would publish a record about a coin
/// the registry has not seen created yet, or make the reversal impossible.
///
/// Removal anywhere is O(1): an entry of `order` is live only while `live[id]` still carries its serial, so a coin
/// removed and later given back is never listed twice. Dead entries are compacted away as they accumulate.
struct CoinHoldings: Hashable, Sendable {
    private struct Entry: Hashable, Sendable {
        var value: Int64
        var serial: UInt64
        var pending: Bool
    }

    private var order: [(id: String, serial: UInt64)] = []
    private var head = 0
    private var live: [String: Entry] = [:]
    private var nextSerial: UInt64 = 0
    /// Sum of the values of the coins held, pending ones included.
    private(set) var total: Int64 = 0
    /// Sum of the values of the pending coins.
    private(set) var pendingTotal: Int64 = 0

    var count: Int { self.live.count }

    /// What the wallet may spend now: the coins held less the pending ones.
    var spendable: Int64 { self.total - self.pendingTotal }

    func contains(_ id: String) -> Bool { self.live[id] != nil }

    func value(of id: String) -> Int64? { self.live[id]?.value }

    func isPending(_ id: String) -> Bool { self.live[id]?.pending ?? false }

    /// Every coin held, in spending order.
    var coins: [(id: String, value: Int64)] {
        var result: [(id: String, value: Int64)] = []
        result.reserveCapacity(self.live.count)
        for entry in self.order[self.head...] {
            if let coin = self.live[entry.id], coin.serial == entry.serial { result.append((entry.id, coin.value)) }
        }
        return result
    }

    /// The pending coins' ids, in arrival order.
    var pendingIDs: [String] {
        self.order[self.head...].compactMap { entry in
            guard let coin = self.live[entry.id], coin.serial == entry.serial, coin.pending else { return nil }
            return entry.id
        }
    }

    mutating func add(_ id: String, value: Int64, pending: Bool = false) {
        let serial = self.nextSerial
        self.nextSerial += 1
        if let previous = self.live.updateValue(Entry(value: value, serial: serial, pending: pending), forKey: id) {
            self.total -= previous.value
            if previous.pending { self.pendingTotal -= previous.value }
        }
        self.order.append((id, serial))
        self.total += value
        if pending { self.pendingTotal += value }
    }

    @discardableResult
    mutating func remove(_ id: String) -> Int64? {
        guard let coin = self.live.removeValue(forKey: id) else { return nil }
        self.total -= coin.value
        if coin.pending { self.pendingTotal -= coin.value }
        self.skipDeadHead()
        self.compactIfSparse()
        return coin.value
    }

    /// Makes a pending coin spendable; `false` when the coin is not held or not pending.
    @discardableResult
    mutating func release(_ id: String) -> Bool {
        guard let index = self.live.index(forKey: id), self.live.values[index].pending else { return false }
        self.live.values[index].pending = false
        self.pendingTotal -= self.live.values[index].value
        return true
    }

    /// The oldest spendable coins whose values first reach `amount`, or `nil` when the wallet may spend less.
    func select(covering amount: Int64) -> [(id: String, value: Int64)]? {
        guard amount > 0, self.spendable >= amount else { return nil }
        var picked: [(id: String, value: Int64)] = []
        var sum: Int64 = 0
        var i = self.head
        while sum < amount, i < self.order.count {
            let entry = self.order[i]
            if let coin = self.live[entry.id], coin.serial == entry.serial, !coin.pending {
                picked.append((entry.id, coin.value))
                sum += coin.value
            }
            i += 1
        }
        return sum >= amount ? picked : nil
    }

    /// Spendable coins worth at least `amount`, as few as possible: the largest first (ties in arrival order). For
    /// when the oldest-first pick of ``select(covering:)`` lists too many coins for one message.
    func selectFewest(covering amount: Int64) -> [(id: String, value: Int64)]? {
        guard amount > 0, self.spendable >= amount else { return nil }
        var candidates: [(id: String, value: Int64, rank: Int)] = []
        var i = self.head
        while i < self.order.count {
            let entry = self.order[i]
            if let coin = self.live[entry.id], coin.serial == entry.serial, !coin.pending {
                candidates.append((entry.id, coin.value, i))
            }
            i += 1
        }
        candidates.sort { $0.value != $1.value ? $0.value > $1.value : $0.rank < $1.rank }
        var picked: [(id: String, value: Int64)] = []
        var sum: Int64 = 0
        for candidate in candidates where sum < amount {
            picked.append((candidate.id, candidate.value))
            sum += candidate.value
        }
        return sum >= amount ? picked : nil
    }

    private mutating func skipDeadHead() {
        while self.head < self.order.count {
            let entry = self.order[self.head]
            if let coin = self.live[entry.id], coin.serial == entry.serial { return }
            self.head += 1
        }
    }

    private mutating func compactIfSparse() {
        let entries = self.order.count - self.head
        guard entries > 64, entries > 2 * self.live.count else { return }
        self.order = self.order[self.head...].filter { entry in
            if let coin = self.live[entry.id], coin.serial == entry.serial { return true }
            return false
        }
        self.head = 0
    }

    static func == (lhs: CoinHoldings, rhs: CoinHoldings) -> Bool {
        lhs.pendingTotal == rhs.pendingTotal && lhs.pendingIDs == rhs.pendingIDs
            && lhs.coins.elementsEqual(rhs.coins) { $0.id == $1.id && $0.value == $1.value }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.count)
        hasher.combine(self.total)
        hasher.combine(self.pendingTotal)
    }
}

/// The coins one wallet owns, in the order they arrived: spending takes the oldest first.
///
/// Removal anywhere is O(1): an entry of `order` is live only while `live[id]` still carries its serial, so a coin
/// removed and later given back is never listed twice. Dead entries are compacted away as they accumulate.
struct CoinHoldings: Hashable, Sendable {
    private var order: [(id: String, serial: UInt64)] = []
    private var head = 0
    private var live: [String: (value: Int64, serial: UInt64)] = [:]
    private var nextSerial: UInt64 = 0
    /// Sum of the values of the coins held.
    private(set) var total: Int64 = 0

    var count: Int { self.live.count }

    func contains(_ id: String) -> Bool { self.live[id] != nil }

    func value(of id: String) -> Int64? { self.live[id]?.value }

    /// Every coin held, in spending order.
    var coins: [(id: String, value: Int64)] {
        var result: [(id: String, value: Int64)] = []
        result.reserveCapacity(self.live.count)
        for entry in self.order[self.head...] {
            if let coin = self.live[entry.id], coin.serial == entry.serial { result.append((entry.id, coin.value)) }
        }
        return result
    }

    mutating func add(_ id: String, value: Int64) {
        let serial = self.nextSerial
        self.nextSerial += 1
        if let previous = self.live.updateValue((value, serial), forKey: id) {
            self.total -= previous.value
        }
        self.order.append((id, serial))
        self.total += value
    }

    @discardableResult
    mutating func remove(_ id: String) -> Int64? {
        guard let coin = self.live.removeValue(forKey: id) else { return nil }
        self.total -= coin.value
        self.skipDeadHead()
        self.compactIfSparse()
        return coin.value
    }

    /// The oldest coins whose values first reach `amount`, or `nil` when the wallet holds less.
    func select(covering amount: Int64) -> [(id: String, value: Int64)]? {
        guard amount > 0, self.total >= amount else { return nil }
        var picked: [(id: String, value: Int64)] = []
        var sum: Int64 = 0
        var i = self.head
        while sum < amount, i < self.order.count {
            let entry = self.order[i]
            if let coin = self.live[entry.id], coin.serial == entry.serial {
                picked.append((entry.id, coin.value))
                sum += coin.value
            }
            i += 1
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
        lhs.coins.elementsEqual(rhs.coins) { $0.id == $1.id && $0.value == $1.value }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.count)
        hasher.combine(self.total)
    }
}

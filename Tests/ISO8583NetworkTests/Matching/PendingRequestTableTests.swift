import NIOCore
import Testing

@testable import ISO8583Network

@Suite("Pending request table")
struct PendingRequestTableTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func at(_ milliseconds: Int64) -> NIODeadline {
        self.t0 + .milliseconds(milliseconds)
    }

    func key(_ stan: UInt32, mti: UInt16 = 200) -> LinkMatchKey {
        LinkMatchKey(requestMTI: mti, terminalID: "TERM0001", stan: stan)
    }

    @Test("a response completes exactly its request")
    func match() throws {
        var table = PendingRequestTable<LinkMatchKey, String>()
        try table.insert("first", forKey: self.key(1), deadline: self.at(100))
        try table.insert("second", forKey: self.key(2), deadline: self.at(100))
        #expect(table.count == 2)
        #expect(table.complete(LinkMatchKey(responseMTI: 210, terminalID: "TERM0001", stan: 2)) == "second")
        #expect(table.complete(LinkMatchKey(responseMTI: 210, terminalID: "TERM0001", stan: 1)) == "first")
        #expect(table.isEmpty)
        #expect(table.counters.matched == 2)
        #expect(table.counters.registered == 2)
    }

    @Test("a duplicate in-flight key is rejected and the first request stays")
    func duplicate() throws {
        var table = PendingRequestTable<LinkMatchKey, String>()
        try table.insert("first", forKey: self.key(7), deadline: self.at(100))
        #expect {
            try table.insert("second", forKey: self.key(7), deadline: self.at(200))
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .duplicateRequest
        }
        #expect(table.counters.duplicatesRejected == 1)
        #expect(table.count == 1)
        #expect(table.complete(self.key(7)) == "first")
    }

    @Test("a 0430 does not complete a pending 0200 with the same terminal and STAN")
    func reversalResponseDoesNotMatchOriginal() throws {
        var table = PendingRequestTable<LinkMatchKey, String>()
        try table.insert("purchase", forKey: self.key(5), deadline: self.at(100))
        #expect(table.complete(LinkMatchKey(responseMTI: 430, terminalID: "TERM0001", stan: 5)) == nil)
        #expect(table.counters.lateResponses == 1)
        #expect(table.contains(self.key(5)))
        // A reversal with the same STAN may be in flight beside the original.
        try table.insert("reversal", forKey: self.key(5, mti: 420), deadline: self.at(100))
        #expect(table.complete(LinkMatchKey(responseMTI: 430, terminalID: "TERM0001", stan: 5)) == "reversal")
        #expect(table.complete(LinkMatchKey(responseMTI: 210, terminalID: "TERM0001", stan: 5)) == "purchase")
    }

    @Test("expired requests come out in deadline order; a late response afterwards is counted, completes nothing")
    func timeoutThenLate() throws {
        var table = PendingRequestTable<LinkMatchKey, String>()
        try table.insert("slow", forKey: self.key(1), deadline: self.at(300))
        try table.insert("fast", forKey: self.key(2), deadline: self.at(100))
        try table.insert("other", forKey: self.key(3), deadline: self.at(500))
        #expect(table.nextDeadline == self.at(100))
        #expect(table.removeExpired(now: self.at(99)).isEmpty)
        let expired = table.removeExpired(now: self.at(300))
        #expect(expired.map(\.value) == ["fast", "slow"])
        #expect(table.counters.timedOut == 2)
        #expect(table.complete(self.key(2)) == nil)
        #expect(table.counters.lateResponses == 1)
        #expect(table.count == 1)
        #expect(table.complete(self.key(3)) == "other")
    }

    @Test("a completed request never times out; removeAll empties the table")
    func completedDoesNotExpire() throws {
        var table = PendingRequestTable<LinkMatchKey, Int>()
        try table.insert(1, forKey: self.key(1), deadline: self.at(100))
        try table.insert(2, forKey: self.key(2), deadline: self.at(200))
        #expect(table.complete(self.key(1)) == 1)
        #expect(table.nextDeadline == self.at(200))
        #expect(table.cancel(self.key(9)) == nil)
        #expect(table.removeExpired(now: self.at(150)).isEmpty)
        #expect(table.removeAll().map(\.value) == [2])
        #expect(table.nextDeadline == nil)
        #expect(table.counters.timedOut == 0)
    }

    @Test("randomised against a simple model; stale heap nodes stay bounded", arguments: [11, 12, 13] as [UInt64])
    func model(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var table = PendingRequestTable<LinkMatchKey, UInt32>()
        var model: [UInt32: NIODeadline] = [:]
        var now = self.t0
        for _ in 0..<20_000 {
            let stan = UInt32(random.next() % 500)
            switch random.next() % 4 {
            case 0, 1:
                let deadline = now + .milliseconds(Int64(random.next() % 1_000))
                if model[stan] == nil {
                    try table.insert(stan, forKey: self.key(stan), deadline: deadline)
                    model[stan] = deadline
                } else {
                    #expect(throws: ISO8583NetworkError.self) {
                        try table.insert(stan, forKey: self.key(stan), deadline: deadline)
                    }
                }
            case 2:
                let completed = table.complete(self.key(stan))
                #expect(completed == (model.removeValue(forKey: stan) != nil ? stan : nil))
            default:
                now = now + .milliseconds(Int64(random.next() % 50))
                let expired = Set(table.removeExpired(now: now).map(\.value))
                let expected = Set(model.filter { $0.value <= now }.keys)
                #expect(expired == expected)
                for stan in expected { model.removeValue(forKey: stan) }
            }
            #expect(table.count == model.count)
            #expect(table.heapNodeCount <= max(64, 2 * table.count) + 1)
        }
    }
}

import Testing

@testable import ISO8583Network

@Suite("Match keys")
struct LinkMatchKeyTests {
    @Test(
        "response MTI = request MTI + 10, repeats answered like originals",
        arguments: [
            (UInt16(100), UInt16(110)), (200, 210), (201, 210), (220, 230), (221, 230), (420, 430), (421, 430),
            (800, 810), (1200, 1210), (1420, 1430), (500, 510), (202, 212),
        ]
    )
    func responseMTI(request: UInt16, response: UInt16) {
        #expect(LinkMatchKey.responseMTI(forRequest: request) == response)
    }

    @Test("a 0210 matches its 0200; a 0430 never matches a 0200 with the same terminal and STAN")
    func reversalNeverMatchesOriginal() {
        let purchase = LinkMatchKey(requestMTI: 200, terminalID: "TERM0001", stan: 123, retrievalReference: "000000000123")
        let reversal = LinkMatchKey(requestMTI: 420, terminalID: "TERM0001", stan: 123, retrievalReference: "000000000123")
        let purchaseResponse = LinkMatchKey(responseMTI: 210, terminalID: "TERM0001", stan: 123, retrievalReference: "000000000123")
        let reversalResponse = LinkMatchKey(responseMTI: 430, terminalID: "TERM0001", stan: 123, retrievalReference: "000000000123")
        let repeatedResponse = LinkMatchKey(responseMTI: 211, terminalID: "TERM0001", stan: 123, retrievalReference: "000000000123")
        #expect(purchase == purchaseResponse)
        #expect(reversal == reversalResponse)
        #expect(purchase != reversalResponse)
        #expect(reversal != purchaseResponse)
        #expect(purchase == repeatedResponse)
    }

    @Test("terminal, STAN, RRN and the discriminator all take part")
    func fieldsTakePart() {
        let base = LinkMatchKey(requestMTI: 200, terminalID: "T1", stan: 1)
        #expect(base != LinkMatchKey(requestMTI: 200, terminalID: "T2", stan: 1))
        #expect(base != LinkMatchKey(requestMTI: 200, terminalID: "T1", stan: 2))
        #expect(base != LinkMatchKey(requestMTI: 200, terminalID: "T1", stan: 1, retrievalReference: "R"))
        #expect(base != LinkMatchKey(requestMTI: 200, terminalID: "T1", stan: 1, discriminator: "X"))
    }

    @Test("descriptions and log metadata are zero-padded")
    func descriptions() {
        let key = LinkMatchKey(requestMTI: 200, terminalID: "TERM0001", stan: 42, retrievalReference: "RRN")
        #expect(key.description == "mti=0210 stan=000042 terminal=TERM0001 rrn=RRN")
        #expect(key.logMetadata["iso.mti"] == "0210")
        #expect(key.logMetadata["iso.stan"] == "000042")
        #expect(formatDigits(1234567, width: 6) == "1234567")
    }
}

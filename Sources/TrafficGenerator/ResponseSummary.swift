import ISO8583

/// What the generator reads from the switch's answer: DE 39, and for approvals the transaction id (DE 124.05),
/// how many owner-change records the approval implies (items of DE 124.03 plus DE 124.11) and, for an account
/// opening, the new wallet (DE 102).
///
/// DE 124 is scanned in place (tag, 3-digit length, value), without building subfield values.
public struct ResponseSummary: Hashable, Sendable {
    /// DE 39 as two ASCII bytes packed in an integer (see ``responseCodeText``); `0` when absent.
    public var responseCode: UInt16
    /// DE 124.05, when present.
    public var transactionID: String?
    /// Items in DE 124.03 plus items in DE 124.11.
    public var ownerChangeRecords: Int
    /// DE 102 of an account opening's answer.
    public var newWallet: String?

    /// Whether DE 39 is `00`.
    public var isApproved: Bool { self.responseCode == Self.approvedCode }

    static let approvedCode: UInt16 = UInt16(UInt8(ascii: "0")) << 8 | UInt16(UInt8(ascii: "0"))

    /// DE 39 as text (`"00"`, `"51"`), or `"none"` when the answer had none.
    public var responseCodeText: String {
        guard self.responseCode != 0 else { return "none" }
        return String(decoding: [UInt8(self.responseCode >> 8), UInt8(self.responseCode & 0xFF)], as: UTF8.self)
    }

    /// A summary with the given contents.
    public init(responseCode: UInt16, transactionID: String?, ownerChangeRecords: Int, newWallet: String?) {
        self.responseCode = responseCode
        self.transactionID = transactionID
        self.ownerChangeRecords = ownerChangeRecords
        self.newWallet = newWallet
    }

    /// Reads `response`; `accountOpen` says whether to read DE 102, `readsTransactionID` whether to keep DE 124.05
    /// (a string for each approval: only when someone records approvals).
    public init(response: ISO8583Message, accountOpen: Bool = false, readsTransactionID: Bool = true) {
        self.responseCode = response.withASCIIBytes(of: 39) { bytes -> UInt16 in
            guard bytes.count == 2 else { return 0 }
            return UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        } ?? 0
        self.transactionID = nil
        self.ownerChangeRecords = 0
        self.newWallet = nil
        guard self.responseCode == Self.approvedCode else { return }
        if accountOpen { self.newWallet = response[102] }
        var transactionID: String?
        var records = 0
        let scan = { (bytes: UnsafeRawBufferPointer) in
            Self.scanDE124(bytes) { tag, value in
                switch tag {
                case 5: if readsTransactionID { transactionID = String(decoding: value, as: UTF8.self) }
                case 3, 11: records += Self.itemCount(value)
                default: break
                }
            }
        }
        if response.withASCIIBytes(of: 124, scan) == nil, let text = response[124] {
            Array(text.utf8).withUnsafeBytes(scan)
        }
        self.transactionID = transactionID
        self.ownerChangeRecords = records
    }

    /// Calls `body` with each element's numeric tag and value bytes; stops at the first malformed element.
    static func scanDE124(_ bytes: UnsafeRawBufferPointer, _ body: (Int, UnsafeRawBufferPointer) -> Void) {
        var i = 0
        let n = bytes.count
        while n - i >= 5 {
            let t0 = bytes[i] &- 48
            let t1 = bytes[i + 1] &- 48
            let tag = t0 < 10 && t1 < 10 ? Int(t0) * 10 + Int(t1) : -1
            var length = 0
            for k in 2..<5 {
                let d = bytes[i + k] &- 48
                guard d < 10 else { return }
                length = length * 10 + Int(d)
            }
            let start = i + 5
            guard length <= n - start else { return }
            body(tag, UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]))
            i = start + length
        }
    }

    /// Non-empty `;`-separated items.
    static func itemCount(_ value: UnsafeRawBufferPointer) -> Int {
        var count = 0
        var inItem = false
        for b in value {
            if b == UInt8(ascii: ";") {
                inItem = false
            } else if !inItem {
                inItem = true
                count += 1
            }
        }
        return count
    }
}

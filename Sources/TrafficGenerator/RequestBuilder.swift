import DigitalCurrency
import ISO8583
import ISO8583Network

/// Builds the acquirer-facing request of each flow exactly as `Specs/FLOWS.md` lays it out.
///
/// | flow | MTI | DE 3 | DE 22 | parties | DE 124 |
/// |---|---|---|---|---|---|
/// | `account-open` | 0100 | 900000 | 012 | DE 48.01/02/03, DE 100 bank | 13 |
/// | `transfer-in` | 0200 | 401090 | 012 | DE 2 card (48.03 account) → DE 103 | 04, 13 |
/// | `redeem` | 0200 | 409010 | 012 | DE 102 → DE 2 card (48.03 account) | 02, 04, 13 |
/// | `nfc` | 0200 | 009000 | 071 | DE 102 → DE 103 merchant | 02, 04, 08, 13 |
/// | `qr-bsc` | 0200 | 009000 | 031 | 124.07 `DCQR1:B:<payer>:<nonce>` → DE 103 | 04, 07, 13 |
/// | `qr-csb` | 0200 | 009000 | 032 | DE 102 → 124.07 `DCQR1:C:<merchant>` | 02, 04, 07, 13 |
/// | `in-app` | 0200 | 009000 | 010 | DE 102 → DE 103 merchant | 02, 04, 13 |
///
/// Every request carries DE 7, 11, 12, 13, 32, 37, 41 and 49; payments add DE 42 and the merchant's terminal in
/// DE 41; the other flows use the generator's own terminal. DE 124.04 (the nonce) is on every financial request,
/// as the spec's message table asks.
public struct RequestBuilder: Sendable {
    /// DE 32, the acquiring institution the generator poses as.
    public var acquirer: String
    /// DE 49.
    public var currency: String

    /// Creates a builder.
    public init(acquirer: String = "30000000001", currency: String = "156") {
        self.acquirer = acquirer
        self.currency = currency
    }

    /// The identifiers and clock fields of one request.
    public struct Identifiers: Sendable {
        /// DE 11, six digits.
        public var stan: String
        /// DE 37, twelve characters.
        public var rrn: String
        /// DE 124.04 (and the QR code's nonce).
        public var nonce: String
        /// DE 41 for flows without a merchant.
        public var terminal: String
        /// DE 7, 12 and 13.
        public var clock: ClockFields

        public init(stan: String, rrn: String, nonce: String, terminal: String, clock: ClockFields) {
            self.stan = stan
            self.rrn = rrn
            self.nonce = nonce
            self.terminal = terminal
            self.clock = clock
        }
    }

    /// MTI, DE 3 and DE 22 of `flow`.
    static func codes(of flow: Flow) -> (mti: MTI, de3: String, de22: String) {
        switch flow {
        case .accountOpen: return (MTI(value: 100), "900000", "012")
        case .transferIn: return (MTI(value: 200), "401090", "012")
        case .redeem: return (MTI(value: 200), "409010", "012")
        case .nfc: return (MTI(value: 200), "009000", "071")
        case .qrBSC: return (MTI(value: 200), "009000", "031")
        case .qrCSB: return (MTI(value: 200), "009000", "032")
        case .inApp: return (MTI(value: 200), "009000", "010")
        }
    }

    /// Whether the payer signs the flow's request (DE 124.02).
    public static func isSigned(_ flow: Flow) -> Bool {
        switch flow {
        case .redeem, .nfc, .qrCSB, .inApp: return true
        case .accountOpen, .transferIn, .qrBSC: return false
        }
    }

    /// The request for `plan`.
    ///
    /// - Parameters:
    ///   - plan: what to ask for, with parties from `model`.
    ///   - model: the workload model that planned it.
    ///   - ids: STAN, RRN, nonce, terminal and clock.
    ///   - signature: DE 124.02, the payer's signature (hex), for signed flows.
    ///   - offlineCounter: DE 124.08 for NFC payments.
    public func request(
        for plan: PlannedTransaction, model: WorkloadModel, ids: Identifiers, signature: String?, offlineCounter: UInt32 = 0
    ) -> ISO8583Message {
        let codes = Self.codes(of: plan.flow)
        var message = ISO8583Message(mti: codes.mti, capacity: 512)
        message[3] = codes.de3
        if plan.flow != .accountOpen {
            message[4] = Self.zeroPadded(UInt64(max(plan.amount, 0)), width: 12)
        }
        message[7] = ids.clock.transmission
        message[11] = ids.stan
        message[12] = ids.clock.time
        message[13] = ids.clock.date
        message[22] = codes.de22
        message[32] = self.acquirer
        message[37] = ids.rrn
        message[49] = self.currency

        var tlv = TLVText(lengthDigits: 3)
        switch plan.flow {
        case .accountOpen:
            let customer = model.customers[plan.customer]
            message[41] = ids.terminal
            var de48 = TLVText(lengthDigits: 2)
            de48.append("01", customer.name)
            de48.append("02", "ID-" + customer.account)
            de48.append("03", customer.account)
            message[48] = de48.text
            message[100] = model.institutions[customer.bank]

        case .transferIn:
            let customer = model.customers[plan.customer]
            message[2] = customer.card
            message[41] = ids.terminal
            var de48 = TLVText(lengthDigits: 2)
            de48.append("03", customer.account)
            message[48] = de48.text
            message[103] = model.wallets[plan.payeeWallet].address
            tlv.append("04", ids.nonce)

        case .redeem:
            let customer = model.customers[plan.customer]
            message[2] = customer.card
            message[41] = ids.terminal
            var de48 = TLVText(lengthDigits: 2)
            de48.append("03", customer.account)
            message[48] = de48.text
            message[102] = model.wallets[plan.payerWallet].address
            tlv.append("02", signature ?? "")
            tlv.append("04", ids.nonce)

        case .nfc, .qrBSC, .qrCSB, .inApp:
            let merchant = model.merchants[plan.merchant]
            let payer = model.wallets[plan.payerWallet].address
            let payee = model.wallets[plan.payeeWallet].address
            message[41] = merchant.terminalID
            message[42] = merchant.merchantID
            switch plan.flow {
            case .nfc:
                message[102] = payer
                message[103] = payee
                tlv.append("02", signature ?? "")
                tlv.append("04", ids.nonce)
                tlv.append("08", Self.zeroPadded(UInt64(offlineCounter), width: 10))
            case .qrBSC:
                message[103] = payee
                tlv.append("04", ids.nonce)
                tlv.append("07", "DCQR1:B:", payer, ":", ids.nonce)
            case .qrCSB:
                message[102] = payer
                tlv.append("02", signature ?? "")
                tlv.append("04", ids.nonce)
                tlv.append("07", "DCQR1:C:", payee)
            default:
                message[102] = payer
                message[103] = payee
                tlv.append("02", signature ?? "")
                tlv.append("04", ids.nonce)
            }
        }
        tlv.append("13", plan.flow.rawValue)
        message[124] = tlv.text
        return message
    }

    /// `value` in decimal, left-padded with zeros to `width`, without Foundation (and, up to 15 digits, without
    /// a heap allocation).
    static func zeroPadded(_ value: UInt64, width: Int) -> String {
        String(unsafeUninitializedCapacity: width) { digits in
            var v = value
            var i = width - 1
            while i >= 0 {
                digits[i] = UInt8(truncatingIfNeeded: v % 10) &+ 48
                v /= 10
                i -= 1
            }
            return width
        }
    }
}

/// DE 7, 12 and 13 for one second of wall-clock time (UTC), computed once per second, not per message.
public struct ClockFields: Hashable, Sendable {
    /// DE 7, MMDDhhmmss.
    public var transmission: String
    /// DE 12, hhmmss.
    public var time: String
    /// DE 13, MMDD.
    public var date: String
    /// The wall-clock second these fields are for.
    public var second: Int64

    /// The fields for the second that contains `nanosecondsSinceEpoch`.
    public init(nanosecondsSinceEpoch: Int64) {
        let p = UTCClock.calendarParts(nanosecondsSinceEpoch: nanosecondsSinceEpoch)
        self.date = RequestBuilder.zeroPadded(UInt64(p.month * 100 + p.day), width: 4)
        self.time = RequestBuilder.zeroPadded(UInt64(p.hour * 10_000 + p.minute * 100 + p.second), width: 6)
        self.transmission = self.date + self.time
        self.second = nanosecondsSinceEpoch / 1_000_000_000
    }
}

/// Private TLV text (2-character tag, fixed-width decimal length, value) built by appending.
struct TLVText {
    let lengthDigits: Int
    private(set) var bytes: [UInt8] = []

    init(lengthDigits: Int) {
        self.lengthDigits = lengthDigits
        self.bytes.reserveCapacity(256)
    }

    mutating func append(_ tag: StaticString, _ value: String) {
        self.appendHeader(tag, count: value.utf8.count)
        self.bytes.append(contentsOf: value.utf8)
    }

    /// Appends one element whose value is `prefix`, `first`, `separator` and `second` one after the other, without
    /// concatenating them into a string first.
    mutating func append(_ tag: StaticString, _ prefix: StaticString, _ first: String, _ separator: StaticString = "", _ second: String = "") {
        self.appendHeader(tag, count: prefix.utf8CodeUnitCount + first.utf8.count + separator.utf8CodeUnitCount + second.utf8.count)
        prefix.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
        self.bytes.append(contentsOf: first.utf8)
        separator.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
        self.bytes.append(contentsOf: second.utf8)
    }

    private mutating func appendHeader(_ tag: StaticString, count: Int) {
        tag.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
        var count = count
        let end = self.bytes.count + self.lengthDigits
        for _ in 0..<self.lengthDigits { self.bytes.append(48) }
        var i = end - 1
        while count > 0, i >= end - self.lengthDigits {
            self.bytes[i] = UInt8(count % 10) + 48
            count /= 10
            i -= 1
        }
    }

    var text: String { String(decoding: self.bytes, as: UTF8.self) }
}

/// A network management information code (DE 70) carried by 0800/0810 messages.
public struct NetworkManagementCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The numeric code, `1` for sign-on.
    public var rawValue: UInt16

    /// Creates a code from its numeric value.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// `001`: sign-on; the link carries traffic once the peer approves it.
    public static let signOn = NetworkManagementCode(rawValue: 1)
    /// `002`: sign-off; the link stops carrying traffic.
    public static let signOff = NetworkManagementCode(rawValue: 2)
    /// `101`: key exchange.
    public static let keyExchange = NetworkManagementCode(rawValue: 101)
    /// `201`: cutover (new settlement date).
    public static let cutover = NetworkManagementCode(rawValue: 201)
    /// `301`: echo test, sent when the link has been idle.
    public static let echoTest = NetworkManagementCode(rawValue: 301)

    /// The code as three decimal digits, `"001"`.
    public var description: String {
        let value = Int(self.rawValue)
        if value >= 100 { return String(value) }
        return value >= 10 ? "0" + String(value) : "00" + String(value)
    }
}

/// A unit of digital currency as the paper's "currency string": an identifier, a value and an owner.
public struct Coin: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case live
        case retired
    }

    public var id: String
    /// Value in minor units.
    public var value: Int64
    /// The owning wallet's address.
    public var owner: String
    public var status: Status

    public init(id: String, value: Int64, owner: String, status: Status = .live) {
        self.id = id
        self.value = value
        self.owner = owner
        self.status = status
    }
}

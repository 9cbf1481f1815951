/// Why a link refused a request without handing it to the application.
public struct LinkRejectionReason: Hashable, Sendable, CustomStringConvertible {
    private enum Base: String, Hashable, Sendable {
        case notSignedOn
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// The peer sent traffic before signing on.
    public static let notSignedOn = LinkRejectionReason(.notSignedOn)

    public var description: String { self.base.rawValue }
}

import DigitalCurrency

/// The share of each flow in generated traffic, from `--mix nfc=3,qr-bsc=1,...`.
public struct TrafficMix: Hashable, Sendable {
    public var weights: [Flow: Int]

    public init(weights: [Flow: Int]) {
        self.weights = weights
    }

    /// All seven flows, weighted like a day of retail traffic: mostly payments, some exchange, few openings.
    public static let standard = TrafficMix(weights: [
        .accountOpen: 1, .transferIn: 2, .redeem: 1, .nfc: 6, .qrBSC: 4, .qrCSB: 4, .inApp: 2,
    ])

    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var item: String
        public var reason: String
        public var description: String { "--mix item \"\(item)\": \(reason)" }
    }

    /// Parses `FLOW=WEIGHT,...`.
    public init(parsing text: String) throws(ParseError) {
        var weights: [Flow: Int] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ParseError(item: String(item), reason: "expected FLOW=WEIGHT") }
            guard let flow = Flow(rawValue: String(parts[0])) else {
                throw ParseError(item: String(item), reason: "unknown flow; known: \(Flow.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let weight = Int(parts[1]), weight >= 0 else { throw ParseError(item: String(item), reason: "the weight must be a whole number ≥ 0") }
            weights[flow] = weight
        }
        guard weights.values.contains(where: { $0 > 0 }) else { throw ParseError(item: text, reason: "at least one flow needs a weight above 0") }
        self.weights = weights
    }

    /// The flows in a fixed order, each repeated by its weight: a cycle the generator walks through.
    public var schedule: [Flow] {
        Flow.allCases.flatMap { flow in Array(repeating: flow, count: self.weights[flow] ?? 0) }
    }
}

import Foundation

/// Text with `${…}` placeholders, parsed when a fixture loads and filled in when a step runs.
///
/// - `${name}`: a variable (the fixture's `variables`, `--var name=value`, or a capture of an earlier step);
/// - `${new.stan}`, `${new.rrn}`, `${new.nonce}`: a fresh value at each use (STAN 6 digits, RRN 12 digits,
///   nonce 16 upper-case hex);
/// - `${now.datetime}`, `${now.date}`, `${now.time}`: the UTC clock as DE 7 (MMDDhhmmss), DE 13 (MMDD) and
///   DE 12 (hhmmss);
/// - `${sign:SEED}`: the payer's signature (DE 124.02) of the request, by the wallet whose key is derived from
///   SEED (`dcswitch/BANKA/customer/0` for the seeded customers); it signs `DCSIG1|payer|DE 4|DE 124.04`.
/// - `$${` writes a literal `${`.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    /// A value the replay makes up.
    public enum Generator: Sendable, Hashable {
        case stan, rrn, nonce, dateTime, date, time
        case signature(seed: String)

        var name: String {
            switch self {
            case .stan: return "new.stan"
            case .rrn: return "new.rrn"
            case .nonce: return "new.nonce"
            case .dateTime: return "now.datetime"
            case .date: return "now.date"
            case .time: return "now.time"
            case .signature(let seed): return "sign:" + seed
            }
        }

        static let names = ["new.stan", "new.rrn", "new.nonce", "now.datetime", "now.date", "now.time", "sign:SEED"]
    }

    enum Part: Sendable, Hashable {
        case literal(String)
        case variable(String)
        case generator(Generator)
    }

    let parts: [Part]
    /// The text as written in the fixture.
    public let source: String

    /// A template with no placeholders.
    public init(literal text: String) {
        self.parts = text.isEmpty ? [] : [.literal(text)]
        self.source = text.replacingOccurrences(of: "${", with: "$${")
    }

    /// Parses `text`; the error's message says what is wrong (the caller adds the file and path).
    public init(parsing text: String) throws(FixtureError) {
        self.source = text
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            literal += rest[..<dollar]
            let after = rest[dollar...]
            if after.hasPrefix("$${") {
                literal += "${"
                rest = after.dropFirst(3)
                continue
            }
            guard after.hasPrefix("${") else {
                literal += "$"
                rest = after.dropFirst()
                continue
            }
            let body = after.dropFirst(2)
            guard let close = body.firstIndex(of: "}") else {
                throw FixtureError(.invalidTemplate, "\"${\" without a closing \"}\" in \(FixtureJSON.quote(text))")
            }
            let name = String(body[..<close])
            if !literal.isEmpty {
                parts.append(.literal(literal))
                literal = ""
            }
            parts.append(try Self.placeholder(name, in: text))
            rest = body[body.index(after: close)...]
        }
        literal += rest
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    private static func placeholder(_ name: String, in text: String) throws(FixtureError) -> Part {
        switch name {
        case "new.stan": return .generator(.stan)
        case "new.rrn": return .generator(.rrn)
        case "new.nonce": return .generator(.nonce)
        case "now.datetime": return .generator(.dateTime)
        case "now.date": return .generator(.date)
        case "now.time": return .generator(.time)
        default:
            if name.hasPrefix("sign:") {
                let seed = String(name.dropFirst(5))
                guard !seed.isEmpty else { throw FixtureError(.invalidTemplate, "${sign:SEED} needs the wallet's seed after \"sign:\"") }
                return .generator(.signature(seed: seed))
            }
            if name.hasPrefix("new.") || name.hasPrefix("now.") {
                throw FixtureError(.invalidTemplate, "unknown generator ${\(name)} (known: \(Generator.names.map { "${\($0)}" }.joined(separator: ", ")))")
            }
            guard let first = name.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII),
                  name.unicodeScalars.allSatisfy({ $0 == "_" || $0 == "-" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) })
            else {
                throw FixtureError(.invalidTemplate, "\"${\(name)}\" in \(FixtureJSON.quote(text)) is not a variable name (letters, digits, _ and -) or a generator")
            }
            return .variable(name)
        }
    }

    /// Whether the text has no placeholder.
    public var isLiteral: Bool {
        self.parts.allSatisfy { if case .literal = $0 { return true } else { return false } }
    }

    /// The variables the template reads.
    public var variables: [String] {
        self.parts.compactMap { if case .variable(let name) = $0 { return name } else { return nil } }
    }

    /// Whether the template signs the request (it is filled in after every other field).
    public var signs: Bool {
        self.parts.contains { if case .generator(.signature) = $0 { return true } else { return false } }
    }

    /// Fills in the placeholders. `sign` computes a `${sign:SEED}`; without it such a placeholder is an error.
    public func resolve(
        _ context: inout ReplayContext, sign: ((String) throws(FixtureError) -> String)? = nil
    ) throws(FixtureError) -> String {
        var out = ""
        for part in self.parts {
            switch part {
            case .literal(let text):
                out += text
            case .variable(let name):
                guard let value = context.variables[name] else {
                    let known = context.variables.keys.sorted()
                    throw FixtureError(
                        .undefinedVariable,
                        "variable ${\(name)} is not defined" + (known.isEmpty ? "" : " (defined: \(known.joined(separator: ", ")))")
                    )
                }
                out += value
            case .generator(.signature(let seed)):
                guard let sign else { throw FixtureError(.invalidTemplate, "${sign:\(seed)} is only allowed in a request field") }
                out += try sign(seed)
            case .generator(let generator):
                out += context.generate(generator)
            }
        }
        return out
    }

    public var description: String { self.source }
}

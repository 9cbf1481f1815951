#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The specs under `Specs/`, built into the binary.
public enum BuiltinSpecs {
    /// Built-in spec names, sorted.
    public static var names: [String] { Self.json.keys.sorted() }

    /// Every built-in spec, parsed once on first use.
    static let parsed: [String: Result<MessageSpec, ISO8583Error>] = {
        var result: [String: Result<MessageSpec, ISO8583Error>] = [:]
        for (name, text) in Self.json {
            result[name] = Result { () throws(ISO8583Error) -> MessageSpec in
                try MessageSpec.parse(json: Data(text.utf8), source: name) { parent throws(ISO8583Error) in
                    guard let parentText = Self.json[parent] else {
                        throw ISO8583Error(.specNotFound, expected: "a built-in spec to extend", found: parent)
                    }
                    return try SpecFile.parse(Data(parentText.utf8), source: parent)
                }
            }
        }
        return result
    }()

    /// The built-in spec called `name`, or `nil`. A built-in spec that fails to parse is a bug in this
    /// package, caught by its tests.
    public static func spec(named name: String) -> MessageSpec? {
        guard let result = Self.parsed[name] else { return nil }
        switch result {
        case .success(let spec): return spec
        case .failure(let error): preconditionFailure("built-in spec \(name) is invalid: \(error)")
        }
    }

    /// Parses every built-in spec and returns the first failure, for tests.
    public static func validateAll() -> [String: ISO8583Error] {
        var failures: [String: ISO8583Error] = [:]
        for (name, result) in Self.parsed {
            if case .failure(let error) = result { failures[name] = error }
        }
        return failures
    }
}

extension MessageSpec {
    /// The built-in spec called `name`, or `nil`.
    public static func builtin(_ name: String) -> MessageSpec? {
        BuiltinSpecs.spec(named: name)
    }
}

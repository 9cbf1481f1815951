/// How sensitive values are shown: card numbers keep their first six and last four digits, track data keeps
/// a masked card number and hides the rest, everything else sensitive is all asterisks.
public enum Masking {
    /// `value` masked as `sensitivity` says.
    public static func mask(_ value: String, as sensitivity: Sensitivity) -> String {
        switch sensitivity {
        case .none:
            return value
        case .pan:
            return maskPAN(value)
        case .track:
            // Track 2 is PAN=rest, track 1 is B PAN^NAME^rest: keep the separator, mask both sides.
            if let separator = value.firstIndex(where: { $0 == "=" || $0 == "D" || $0 == "^" }) {
                let pan = value[value.startIndex..<separator].filter(\.isNumber)
                let rest = value[separator...].dropFirst()
                return maskPAN(String(pan)) + String(value[separator]) + String(repeating: "*", count: rest.count)
            }
            return String(repeating: "*", count: value.count)
        case .pin, .key, .signature, .full:
            return String(repeating: "*", count: value.count)
        }
    }

    static func maskPAN(_ pan: String) -> String {
        let count = pan.count
        guard count > 10 else { return String(repeating: "*", count: count) }
        return String(pan.prefix(6)) + String(repeating: "*", count: count - 10) + String(pan.suffix(4))
    }

    /// Fields masked when a message has no spec to say: PAN, track data, PIN block, keys and MACs, EMV data.
    static func defaultSensitivity(of field: Int) -> Sensitivity {
        switch field {
        case 2, 34: return .pan
        case 35, 36, 45: return .track
        case 52: return .pin
        case 53, 64, 96, 128: return .key
        case 55: return .full
        default: return .none
        }
    }
}

extension MessageSpec {
    /// How field or subfield `path` is masked under this spec.
    public func sensitivity(of path: FieldPath) -> Sensitivity {
        guard let field = self.field(path.field) else { return Masking.defaultSensitivity(of: path.field) }
        if let sub = path.subfield, let element = field.subfields?.element(sub) {
            return element.sensitivity
        }
        return field.sensitivity
    }
}

extension ISO8583Message: CustomStringConvertible {
    /// `0200 2=476173******0119 3=000000 …`: sensitive values masked.
    public var description: String {
        var text = self.mti.description
        for entry in self.entries {
            let number = Int(entry.number)
            let sensitivity = self.spec?.sensitivity(of: FieldPath(field: number)) ?? Masking.defaultSensitivity(of: number)
            text += " \(number)=" + Masking.mask(self.text(of: entry), as: sensitivity)
        }
        return text
    }

    /// The same as ``description`` but with every value in clear. For debugging only: never log it.
    public var unmaskedDescription: String {
        var text = self.mti.description
        for entry in self.entries {
            text += " \(entry.number)=" + self.text(of: entry)
        }
        return text
    }
}

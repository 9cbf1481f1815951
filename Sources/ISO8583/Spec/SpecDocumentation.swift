/// Renders the interface specification (`Specs/README.md`) from spec files, so the document a bank's
/// integration team reads cannot drift from what the codec does.
public enum SpecDocumentation {
    public static func markdown(specs: [MessageSpec]) -> String {
        var out = """
        # DCSwitch interface specification

        Generated from the spec files in this directory by `dcswitch iso docs --output Specs/README.md`; do not edit
        by hand. The file format is described in [SCHEMA.md](SCHEMA.md).

        DCSwitch speaks ISO 8583. Acquirers and banks connect over TCP; each message is framed by a 2-byte binary
        length (other framings per link: 4-byte ASCII, 2-byte BCD, optional TPDU). The digital-currency network uses
        the spec `dcswitch-1987`: the ISO 8583:1987 ASCII layout with widened wallet-address fields and the
        blockchain data of a payment in DE 124.

        Formats read as in the standard: `n` numeric, `a` alphabetic, `an` alphanumeric, `ans` with special
        characters, `z` track-2 code set, `x+n` a C/D sign and digits, `b` binary; `n 6` is fixed at 6,
        `ans..99 LL` varies up to 99 with a two-digit length prefix. Sensitive fields are masked in every output of
        the tools (`pan`: first six and last four digits shown).

        ## Specs

        | spec | description |
        |---|---|

        """
        for spec in specs {
            out += "| [`\(spec.name)`](#\(spec.name)) | \(cell(spec.description)) |\n"
        }
        for spec in specs where !spec.messages.isEmpty {
            out += "\n## Message catalogue (`\(spec.name)`)\n\n| MTI | name | mandatory | optional | description |\n|---|---|---|---|---|\n"
            for doc in spec.messages {
                out += "| \(doc.mti) | \(cell(doc.name)) | \(doc.mandatory.joined(separator: ", ")) | \(doc.optional.joined(separator: ", ")) | \(cell(doc.description)) |\n"
            }
        }
        for spec in specs {
            out += "\n## \(spec.name)\n\n\(spec.description)\n\n"
            if let parent = spec.parent { out += "Extends `\(parent)`.\n\n" }
            let header: String
            switch spec.header {
            case .none: header = "none"
            case .tpdu: header = "5-byte TPDU"
            case .fixed(let length): header = "\(length) bytes, fixed"
            }
            out += "MTI: \(spec.mtiEncoding.rawValue). Bitmaps: \(spec.bitmapEncoding.rawValue)\(spec.tertiaryBitmap ? ", tertiary bitmap at bit 65" : ""). Header: \(header).\n\n"
            out += "| DE | name | format | encoding | prefix | sensitive | description |\n|---|---|---|---|---|---|---|\n"
            for field in spec.fields {
                let encoding = field.encoding.specName + (field.encoding == .bcd ? " (\(field.padding.specName) pad)" : "")
                let prefix = field.prefix == .fixed ? "—" : "\(field.prefix.specName) \(field.prefixEncoding.specName), counts \(field.unit.specName)"
                out += "| \(field.number) | \(cell(field.name)) | \(field.formatSummary) | \(encoding) | \(prefix) | \(field.sensitivity == .none ? "" : field.sensitivity.specName) | \(cell(field.description)) |\n"
            }
            for field in spec.fields {
                guard let subfields = field.subfields else { continue }
                switch subfields {
                case .berTLV(let tags):
                    out += "\n### DE \(field.number) subfields (BER-TLV)\n\nUnknown tags are accepted and kept in place.\n\n| tag | name | sensitive |\n|---|---|---|\n"
                    for tag in tags {
                        out += "| \(field.number).\(tag.tag) | \(cell(tag.name)) | \(tag.sensitivity == .none ? "" : tag.sensitivity.specName) |\n"
                    }
                case .tlv(let format, let elements):
                    out += "\n### DE \(field.number) subfields (TLV: \(format.tagLength)-character tag, \(format.lengthLength)-digit length)\n\n"
                    out += "| path | name | format | sensitive | description |\n|---|---|---|---|---|\n"
                    for element in elements {
                        out += "| \(field.number).\(element.id) | \(cell(element.name)) | \(element.contentClass.specName)..\(element.length) | \(element.sensitivity == .none ? "" : element.sensitivity.specName) | \(cell(element.description)) |\n"
                    }
                case .positional(let elements):
                    out += "\n### DE \(field.number) subfields (positional)\n\n| path | name | format | description |\n|---|---|---|---|\n"
                    for element in elements {
                        out += "| \(field.number).\(element.id) | \(cell(element.name)) | \(element.contentClass.specName) \(element.length) | \(cell(element.description)) |\n"
                    }
                }
            }
        }
        return out
    }

    private static func cell(_ text: String) -> String {
        String(text.map { $0 == "|" ? "/" : ($0 == "\n" ? " " : $0) })
    }
}

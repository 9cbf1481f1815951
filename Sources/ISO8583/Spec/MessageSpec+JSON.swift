#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Spec files as JSON (see Specs/SCHEMA.md). Every attribute is optional in the file; defaults are applied
// when a spec is resolved, after `extends` has been followed, so a child spec can override one attribute of
// one field and keep the rest of its parent's definition.

struct SpecFile: Decodable {
    var name: String?
    var description: String?
    var version: Int?
    var extends: String?
    var header: HeaderFile?
    var mti: MTIFile?
    var bitmap: BitmapFile?
    var defaults: DefaultsFile?
    var fields: [String: FieldFile]?
    var messages: [MessageDocFile]?

    struct HeaderFile: Decodable {
        var kind: String
        var length: Int?
    }

    struct MTIFile: Decodable {
        var encoding: String
    }

    struct BitmapFile: Decodable {
        var encoding: String?
        var tertiary: Bool?
    }

    struct DefaultsFile: Decodable {
        var encoding: String?
        var prefixEncoding: String?
    }

    struct FieldFile: Decodable {
        var name: String?
        var description: String?
        var `class`: String?
        var length: Int?
        var prefix: String?
        var prefixEncoding: String?
        var encoding: String?
        var counts: String?
        var padding: String?
        var padChar: String?
        var validation: String?
        var sensitive: SensitiveValue?
        var subfields: SubfieldsFile?

        /// Overlays the attributes `child` states on this definition.
        func overlaid(by child: FieldFile) -> FieldFile {
            FieldFile(
                name: child.name ?? self.name,
                description: child.description ?? self.description,
                class: child.class ?? self.class,
                length: child.length ?? self.length,
                prefix: child.prefix ?? self.prefix,
                prefixEncoding: child.prefixEncoding ?? self.prefixEncoding,
                encoding: child.encoding ?? self.encoding,
                counts: child.counts ?? self.counts,
                padding: child.padding ?? self.padding,
                padChar: child.padChar ?? self.padChar,
                validation: child.validation ?? self.validation,
                sensitive: child.sensitive ?? self.sensitive,
                subfields: child.subfields ?? self.subfields
            )
        }
    }

    /// `"sensitive": "pan"`, `true` (fully masked) or `false`.
    enum SensitiveValue: Decodable {
        case kind(String)
        case flag(Bool)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .flag(flag)
            } else {
                self = .kind(try container.decode(String.self))
            }
        }
    }

    struct SubfieldsFile: Decodable {
        var format: String
        var tags: [String: TagFile]?
        var tagLength: Int?
        var lengthLength: Int?
        var tagEncoding: String?
        var lengthEncoding: String?
        var elements: ElementsFile?
    }

    struct TagFile: Decodable {
        var name: String
        var sensitive: SensitiveValue?

        init(from decoder: any Decoder) throws {
            // A tag may be given as just its name.
            if let name = try? decoder.singleValueContainer().decode(String.self) {
                self.name = name
                self.sensitive = nil
                return
            }
            enum Keys: String, CodingKey { case name, sensitive }
            let container = try decoder.container(keyedBy: Keys.self)
            self.name = try container.decode(String.self, forKey: .name)
            self.sensitive = try container.decodeIfPresent(SensitiveValue.self, forKey: .sensitive)
        }
    }

    struct ElementFile: Decodable {
        var id: String?
        var name: String
        var description: String?
        var `class`: String?
        var length: Int?
        var sensitive: SensitiveValue?
    }

    /// Elements as an object keyed by id, or as an array of objects with an `id`.
    struct ElementsFile: Decodable {
        var elements: [ElementFile]

        init(from decoder: any Decoder) throws {
            if let list = try? decoder.singleValueContainer().decode([ElementFile].self) {
                self.elements = list
                return
            }
            let keyed = try decoder.singleValueContainer().decode([String: ElementFile].self)
            self.elements = keyed.map { id, element in
                var element = element
                element.id = id
                return element
            }.sorted { ($0.id ?? "") < ($1.id ?? "") }
        }
    }

    struct MessageDocFile: Decodable {
        var mti: FlexibleString
        var name: String?
        var description: String?
        var mandatory: [FlexibleString]?
        var optional: [FlexibleString]?
    }

    /// A string or a number in the file, read as text.
    struct FlexibleString: Decodable {
        var value: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self.value = text
            } else {
                self.value = String(try container.decode(Int.self))
            }
        }
    }
}

extension MessageSpec {
    /// Loads a spec by built-in name or by file path. A file's `extends` is resolved against the built-in specs
    /// and against the JSON files in the same directory.
    public static func load(nameOrPath: String) throws(ISO8583Error) -> MessageSpec {
        if let builtin = BuiltinSpecs.spec(named: nameOrPath) {
            return builtin
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: nameOrPath))
        } catch {
            let names = BuiltinSpecs.names.joined(separator: ", ")
            throw ISO8583Error(.specNotFound, expected: "a built-in spec (\(names)) or a readable spec file", found: nameOrPath)
        }
        let directory = URL(fileURLWithPath: nameOrPath).deletingLastPathComponent()
        return try MessageSpec.parse(json: data, source: nameOrPath) { parentName throws(ISO8583Error) in
            if let text = BuiltinSpecs.json[parentName] {
                return try SpecFile.parse(Data(text.utf8), source: parentName)
            }
            let sibling = directory.appendingPathComponent(parentName.hasSuffix(".json") ? parentName : parentName + ".json")
            guard let data = try? Data(contentsOf: sibling) else {
                throw ISO8583Error(.specNotFound, expected: "a spec to extend", found: parentName)
            }
            return try SpecFile.parse(data, source: sibling.path)
        }
    }

    /// Parses a spec from JSON text. `resolveParent` supplies the file of a spec named in `extends`.
    static func parse(
        json data: Data,
        source: String,
        resolveParent: (String) throws(ISO8583Error) -> SpecFile
    ) throws(ISO8583Error) -> MessageSpec {
        var file = try SpecFile.parse(data, source: source)
        var seen: Set<String> = [file.name ?? source]
        var parentName = file.extends
        var chain = [file]
        while let name = parentName {
            guard seen.insert(name).inserted else {
                throw ISO8583Error(.invalidSpec, field: nil, expected: "no cycle in extends", found: name)
            }
            let parent = try resolveParent(name)
            chain.append(parent)
            parentName = parent.extends
        }
        // Merge from the root of the chain down to the file itself.
        file = chain.reversed().dropFirst().reduce(chain.last!) { merged, child in merged.overlaid(by: child) }
        file.extends = chain.count > 1 ? chain[0].extends : nil
        return try file.resolve(source: source)
    }
}

extension SpecFile {
    static func parse(_ data: Data, source: String) throws(ISO8583Error) -> SpecFile {
        do {
            return try JSONDecoder().decode(SpecFile.self, from: data)
        } catch {
            throw ISO8583Error(.invalidSpec, expected: "a spec file as described in Specs/SCHEMA.md", found: "\(source): \(error)")
        }
    }

    func overlaid(by child: SpecFile) -> SpecFile {
        var merged = self
        merged.name = child.name ?? self.name
        merged.description = child.description ?? self.description
        merged.version = child.version ?? self.version
        merged.header = child.header ?? self.header
        merged.mti = child.mti ?? self.mti
        merged.bitmap = child.bitmap ?? self.bitmap
        merged.defaults = child.defaults ?? self.defaults
        var fields = self.fields ?? [:]
        for (number, field) in child.fields ?? [:] {
            fields[number] = fields[number].map { $0.overlaid(by: field) } ?? field
        }
        merged.fields = fields
        merged.messages = child.messages ?? self.messages
        return merged
    }

    func resolve(source: String) throws(ISO8583Error) -> MessageSpec {
        func invalid(_ field: String?, _ expected: String, _ found: String) -> ISO8583Error {
            ISO8583Error(.invalidSpec, field: field, expected: expected, found: "\(found) (in \(source))")
        }
        guard let name = self.name, !name.isEmpty else { throw invalid(nil, "a \"name\"", "none") }

        let header: MessageSpec.Header
        switch self.header?.kind ?? "none" {
        case "none": header = .none
        case "tpdu": header = .tpdu
        case "fixed":
            guard let length = self.header?.length, length > 0 else { throw invalid(nil, "header.length > 0", "none") }
            header = .fixed(length: length)
        case let other: throw invalid(nil, "header.kind none, tpdu or fixed", other)
        }
        guard let mtiEncoding = MessageSpec.MTIEncoding(rawValue: self.mti?.encoding ?? "ascii") else {
            throw invalid(nil, "mti.encoding ascii, bcd, ebcdic037 or ebcdic1047", self.mti?.encoding ?? "")
        }
        guard let bitmapEncoding = MessageSpec.BitmapEncoding(rawValue: self.bitmap?.encoding ?? "hex") else {
            throw invalid(nil, "bitmap.encoding hex or binary", self.bitmap?.encoding ?? "")
        }
        let defaultEncoding = self.defaults?.encoding ?? "ascii"
        let defaultPrefixEncoding = self.defaults?.prefixEncoding ?? "ascii"

        var fields: [FieldSpec] = []
        for (key, file) in self.fields ?? [:] {
            guard let number = Int(key), number >= 2, number <= 192 else {
                throw invalid(key, "a field number 2–192", key)
            }
            fields.append(try file.resolve(number: number, defaultEncoding: defaultEncoding, defaultPrefixEncoding: defaultPrefixEncoding, invalid: invalid))
        }
        fields.sort { $0.number < $1.number }

        let messages = (self.messages ?? []).map { doc in
            MessageSpec.MessageDoc(
                mti: doc.mti.value,
                name: doc.name ?? "",
                description: doc.description ?? "",
                mandatory: (doc.mandatory ?? []).map(\.value),
                optional: (doc.optional ?? []).map(\.value)
            )
        }
        return MessageSpec(
            name: name,
            description: self.description ?? "",
            version: self.version ?? 1,
            parent: self.extends,
            header: header,
            mtiEncoding: mtiEncoding,
            bitmapEncoding: bitmapEncoding,
            tertiaryBitmap: self.bitmap?.tertiary ?? false,
            fields: fields,
            messages: messages
        )
    }
}

extension SpecFile.SensitiveValue {
    func resolve() -> Sensitivity? {
        switch self {
        case .flag(let flag): return flag ? .full : Sensitivity.none
        case .kind(let name): return Sensitivity(specName: name)
        }
    }
}

extension SpecFile.FieldFile {
    func resolve(
        number: Int,
        defaultEncoding: String,
        defaultPrefixEncoding: String,
        invalid: (String?, String, String) -> ISO8583Error
    ) throws(ISO8583Error) -> FieldSpec {
        let path = String(number)
        guard let className = self.class, let contentClass = ContentClass(specName: className) else {
            throw invalid(path, "class n, a, an, ans, as, ns, b, z or xn", self.class ?? "none")
        }
        guard let length = self.length, length >= 0 else { throw invalid(path, "a length", "none") }
        guard let prefix = PrefixKind(specName: self.prefix ?? "fixed") else {
            throw invalid(path, "prefix fixed, L, LL, LLL or LLLL", self.prefix ?? "")
        }
        guard let encoding = FieldEncoding(specName: self.encoding ?? defaultEncoding) else {
            throw invalid(path, "encoding ascii, ebcdic037, ebcdic1047, bcd, binary or hex", self.encoding ?? defaultEncoding)
        }
        guard let prefixEncoding = PrefixEncoding(specName: self.prefixEncoding ?? defaultPrefixEncoding) else {
            throw invalid(path, "prefixEncoding ascii, bcd, binary, ebcdic037 or ebcdic1047", self.prefixEncoding ?? defaultPrefixEncoding)
        }
        var unit: LengthUnit?
        if let counts = self.counts {
            guard let parsed = LengthUnit(specName: counts) else { throw invalid(path, "counts characters, digits or bytes", counts) }
            unit = parsed
        }
        var padding: Padding?
        if let text = self.padding {
            guard let parsed = Padding(specName: text) else { throw invalid(path, "padding left, right or none", text) }
            padding = parsed
        }
        var padCharacter: UInt8?
        if let text = self.padChar {
            guard text.utf8.count == 1, let byte = text.utf8.first else { throw invalid(path, "padChar as one character", text) }
            padCharacter = byte
        }
        guard let validation = Validation(specName: self.validation ?? "strict") else {
            throw invalid(path, "validation strict, lenient or none", self.validation ?? "")
        }
        var sensitivity = Sensitivity.none
        if let value = self.sensitive {
            guard let parsed = value.resolve() else { throw invalid(path, "sensitive pan, track, pin, key, signature or full", "\(value)") }
            sensitivity = parsed
        }
        if prefix != .fixed, length > prefix.maximumValue {
            throw invalid(path, "a length a \(prefix.specName) prefix can state (≤ \(prefix.maximumValue))", String(length))
        }
        if encoding == .bcd, ![.n, .z, .xn].contains(contentClass) {
            throw invalid(path, "bcd encoding only for n, z or xn fields", className)
        }
        if encoding.carriesBytes != (contentClass == .b) {
            throw invalid(path, "class b exactly for binary and hex encodings", "class \(className) with encoding \(encoding.specName)")
        }

        var subfields: SubfieldSpec?
        if let file = self.subfields {
            subfields = try file.resolve(path: path, invalid: invalid)
        }
        return FieldSpec(
            number: number,
            name: self.name ?? "Field \(number)",
            description: self.description ?? "",
            contentClass: contentClass,
            length: length,
            prefix: prefix,
            prefixEncoding: prefixEncoding,
            encoding: encoding,
            unit: unit,
            padding: padding,
            padCharacter: padCharacter,
            validation: validation,
            sensitivity: sensitivity,
            subfields: subfields
        )
    }
}

extension SpecFile.SubfieldsFile {
    func resolve(path: String, invalid: (String?, String, String) -> ISO8583Error) throws(ISO8583Error) -> SubfieldSpec {
        func elements() throws(ISO8583Error) -> [ElementSpec] {
            var result: [ElementSpec] = []
            for element in self.elements?.elements ?? [] {
                guard let id = element.id else { throw invalid(path, "an id for every element", element.name) }
                guard let contentClass = ContentClass(specName: element.class ?? "ans") else {
                    throw invalid("\(path).\(id)", "class n, a, an, ans, as, ns, b, z or xn", element.class ?? "")
                }
                result.append(ElementSpec(
                    id: id,
                    name: element.name,
                    description: element.description ?? "",
                    contentClass: contentClass,
                    length: element.length ?? 999,
                    sensitivity: element.sensitive?.resolve() ?? .none
                ))
            }
            return result
        }
        switch self.format {
        case "ber-tlv":
            let tags = (self.tags ?? [:]).map { tag, info in
                TagInfo(tag: tag.uppercased(), name: info.name, sensitivity: info.sensitive?.resolve() ?? .none)
            }.sorted { $0.tag < $1.tag }
            return .berTLV(tags: tags)
        case "tlv":
            guard let tagEncoding = FieldEncoding(specName: self.tagEncoding ?? "ascii"), [.ascii, .ebcdic037, .ebcdic1047, .binary].contains(tagEncoding) else {
                throw invalid(path, "tagEncoding ascii, ebcdic037, ebcdic1047 or binary", self.tagEncoding ?? "")
            }
            guard let lengthEncoding = PrefixEncoding(specName: self.lengthEncoding ?? "ascii") else {
                throw invalid(path, "lengthEncoding ascii, bcd, binary, ebcdic037 or ebcdic1047", self.lengthEncoding ?? "")
            }
            let format = TLVFormat(tagLength: self.tagLength ?? 2, lengthLength: self.lengthLength ?? 3, tagEncoding: tagEncoding, lengthEncoding: lengthEncoding)
            guard format.tagLength > 0, format.lengthLength > 0, format.lengthLength <= 4 else {
                throw invalid(path, "tagLength > 0 and lengthLength 1–4", "\(format.tagLength)/\(format.lengthLength)")
            }
            return .tlv(format, elements: try elements())
        case "positional":
            return .positional(elements: try elements())
        default:
            throw invalid(path, "subfields.format ber-tlv, tlv or positional", self.format)
        }
    }
}

extension MessageSpec {
    /// Parses a spec from JSON text; `extends` is resolved against the built-in specs.
    public static func fromJSON(_ text: String) throws(ISO8583Error) -> MessageSpec {
        try MessageSpec.parse(json: Data(text.utf8), source: "inline spec") { parent throws(ISO8583Error) in
            guard let parentText = BuiltinSpecs.json[parent] else {
                throw ISO8583Error(.specNotFound, expected: "a built-in spec to extend", found: parent)
            }
            return try SpecFile.parse(Data(parentText.utf8), source: parent)
        }
    }
}

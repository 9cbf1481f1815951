import ISO8583

extension FixtureJSON {
    /// A step's `request` for bytes seen on the wire: the `iso decode` form (`{"mti": …, "fields": {…}}`, composite
    /// fields as objects of subfields) when it encodes back to exactly these bytes, `{"hex": …}` otherwise (a
    /// message that breaks the spec is sent again as it was). Values are in clear and `${` is escaped as `$${`.
    static func request(_ frame: ReplayFrame, spec: MessageSpec) -> FixtureJSON {
        let hex = FixtureJSON.object([("hex", .string(Hex.encode(frame.bytes)))])
        guard let message = frame.message, frame.strictError == nil,
              let encoded = try? spec.encode(message), encoded.readableBytesView.elementsEqual(frame.bytes) else { return hex }
        var members: [(String, FixtureJSON)] = [("mti", .string(message.mti.description))]
        if let header = message.header { members.append(("header", .string(Hex.encode(header)))) }
        var fields: [(String, FixtureJSON)] = []
        for number in message.fieldNumbers {
            let text = message[number] ?? ""
            if let layout = spec.field(number)?.subfields, let elements = try? Subfields.parse(text, as: layout, field: number), !elements.isEmpty,
               (try? Subfields.build(elements, as: layout, field: number)) == text {
                fields.append((String(number), .object(elements.map { ($0.id, .string($0.value.replacingDollarBraces())) })))
            } else {
                fields.append((String(number), .string(text.replacingDollarBraces())))
            }
        }
        members.append(("fields", .object(fields)))
        return .object(members)
    }
}

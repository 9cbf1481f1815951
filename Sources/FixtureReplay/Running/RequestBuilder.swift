import DigitalCurrency
import ISO8583
import TrafficGenerator

/// A request ready to send: its bytes, and the message they decode to (for `echo` matchers and captures).
public struct BuiltRequest: Sendable {
    /// The message, when the bytes decode (leniently) with the fixture's spec.
    public var message: ISO8583Message?
    /// What goes on the wire, without framing.
    public var bytes: [UInt8]
}

extension RequestSource {
    /// Fills in the placeholders and encodes the request.
    ///
    /// - Parameters:
    ///   - spec: the fixture's spec.
    ///   - context: variables and generators.
    ///   - earlier: the requests earlier steps sent (for `repeat`).
    ///   - path: the step's JSON path, for errors.
    func build(spec: MessageSpec, context: inout ReplayContext, earlier: [BuiltRequest?], path: String) throws(FixtureError) -> BuiltRequest {
        switch self {
        case .repeatStep(let index):
            guard index < earlier.count, let request = earlier[index] else {
                throw FixtureError(.invalidValue, path: joinPath(path, "repeat"), "the step to repeat sent nothing")
            }
            return request
        case .hex(let template):
            let text: String
            do {
                text = try template.resolve(&context)
            } catch {
                throw FixtureError(error.code, path: joinPath(path, "request.hex"), error.message)
            }
            guard let bytes = Hex.decode(text) else {
                throw FixtureError(.invalidRequest, path: joinPath(path, "request.hex"), "not hex once the placeholders are filled in")
            }
            let message = try? spec.decode(bytes: bytes, options: DecodeOptions(contentValidation: .lenient, allowTrailingBytes: true))
            return BuiltRequest(message: message, bytes: bytes)
        case .message(let template):
            return try template.build(spec: spec, context: &context, path: joinPath(path, "request"))
        }
    }
}

extension MessageTemplate {
    func build(spec: MessageSpec, context: inout ReplayContext, path: String) throws(FixtureError) -> BuiltRequest {
        func resolve(_ template: Template, _ at: String) throws(FixtureError) -> String {
            do {
                return try template.resolve(&context)
            } catch {
                throw FixtureError(error.code, path: at, error.message)
            }
        }
        let mtiText = try resolve(self.mti, path + ".mti")
        guard let mti = MTI(mtiText) else {
            throw FixtureError(.invalidRequest, path: path + ".mti", "expected four digits, found \(FixtureJSON.quote(mtiText))")
        }
        // Every value but the signatures first: a signature covers the other fields.
        var texts: [Int: String] = [:]
        var elements: [Int: [(id: String, value: String?)]] = [:]
        for (number, value) in self.fields {
            switch value {
            case .text(let template):
                if !template.signs { texts[number] = try resolve(template, "\(path).fields.\(number)") }
            case .subfields(let items):
                var resolved: [(id: String, value: String?)] = []
                for (id, template) in items {
                    resolved.append((id, template.signs ? nil : try resolve(template, "\(path).fields.\(number).\(id)")))
                }
                elements[number] = resolved
            }
        }
        let signer = Signer(texts: texts, elements: elements)
        for (number, value) in self.fields {
            switch value {
            case .text(let template) where template.signs:
                texts[number] = try signer.resolve(template, context: &context, path: "\(path).fields.\(number)")
            case .subfields(let items):
                for (i, item) in items.enumerated() where item.value.signs {
                    elements[number]![i].value = try signer.resolve(item.value, context: &context, path: "\(path).fields.\(number).\(item.id)")
                }
            default:
                break
            }
        }

        var message = ISO8583Message(mti: mti)
        if let header = self.header {
            guard let bytes = Hex.decode(try resolve(header, path + ".header")) else {
                throw FixtureError(.invalidRequest, path: path + ".header", "expected hex text")
            }
            message.header = bytes
        }
        var errors: [String] = []
        for (number, _) in self.fields {
            if let text = texts[number] {
                message[number] = text
            } else if let items = elements[number], let layout = spec.field(number)?.subfields {
                do throws(ISO8583Error) {
                    message[number] = try Subfields.build(items.map { Subfield(id: $0.id, value: $0.value ?? "") }, as: layout, field: number)
                } catch {
                    errors.append(error.description)
                }
            }
        }
        if !errors.isEmpty {
            throw FixtureError(.invalidRequest, path: path + ".fields", "the request does not fit \(spec.name): \(errors.joined(separator: "; "))")
        }
        let bytes: [UInt8]
        do throws(ISO8583Error) {
            let buffer = try spec.encode(message)
            bytes = Array(buffer.readableBytesView)
        } catch {
            throw FixtureError(.invalidRequest, path: path, "the request does not fit \(spec.name): \(error)")
        }
        let decoded = try? spec.decode(bytes: bytes, options: .lenient)
        return BuiltRequest(message: decoded ?? message, bytes: bytes)
    }
}

/// Computes `${sign:SEED}`: the payer's signature over `DCSIG1|payer|DE 4|DE 124.04`, as the wallet SDK makes it.
private struct Signer {
    let texts: [Int: String]
    let elements: [Int: [(id: String, value: String?)]]

    func element(_ field: Int, _ id: String) -> String? {
        self.elements[field]?.first(where: { $0.id == id })?.value ?? nil
    }

    func resolve(_ template: Template, context: inout ReplayContext, path: String) throws(FixtureError) -> String {
        do {
            return try template.resolve(&context) { seed throws(FixtureError) in
                try self.sign(seed: seed)
            }
        } catch {
            throw FixtureError(error.code, path: path, error.message)
        }
    }

    func sign(seed: String) throws(FixtureError) -> String {
        // The payer: DE 102, or the wallet in a payer's dynamic QR code (DCQR1:B:<wallet>:<nonce>).
        var payer = self.texts[102]
        if payer == nil, let qr = self.element(124, "07"), qr.hasPrefix("DCQR1:B:") {
            payer = qr.dropFirst(8).split(separator: ":").first.map(String.init)
        }
        guard let payer else { throw FixtureError(.invalidRequest, "${sign:\(seed)} needs the payer's wallet in DE 102") }
        guard let amountText = self.texts[4], let amount = Int64(amountText) else {
            throw FixtureError(.invalidRequest, "${sign:\(seed)} needs the amount in DE 4")
        }
        guard let nonce = self.element(124, "04") else { throw FixtureError(.invalidRequest, "${sign:\(seed)} needs the nonce in DE 124.04") }
        // The key depends on the seed only; the institution merely shapes the address, which is not used here.
        let wallet = Wallet.seeded(seed, institution: "00000000000")
        do {
            return try wallet.sign(PayerAuthorization.signedMessage(payer: payer, amount: amount, nonce: nonce))
        } catch {
            throw FixtureError(.invalidRequest, "signing as \(seed) failed: \(error)")
        }
    }
}

import Benchmark
import ISO8583
import NIOCore

// Decode and encode of the reference 0200 message (shared/reference: 329 bytes, ISO 8583:1987 ASCII,
// 20 fields with a 44-byte EMV DE 55). Peers on this message: jPOS ISO87APackager 0.98 µs unpack and
// 1.18 µs pack; j8583 1.65 / 1.39 µs. Target: ≤ 300 ns each, no allocation per field.

let referenceHex = "3032303037323343343438313238453039323030313634373631373339303031303130313139303030303030303030303030303130303030303631353132333435363132333435363132333435363036313532353132353939393035313030313131323334353637383930313334343736313733393030313031303131393D32353132323031313735383932383838393132333435363738393031325445524D303030314D45524348414E543030303030303141434D452053544F52452034322020202020202020202020535052494E474649454C4420202055533834303031323334353637383941424344454630383839463236303841314232433344344535463630373138394632373031383039463130303730363031304130334130303030303946333730344445414442454546394633363032303030313935303530303030303030303030"

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(3)
    )

    let spec = MessageSpec.builtin("iso8583-1987-ascii")!
    let input: ByteBuffer = {
        let message = try! spec.decode(hex: referenceHex)
        return try! spec.encode(message)
    }()
    let decoded = try! spec.decode(input)
    var built = ISO8583Message(mti: decoded.mti)
    for number in decoded.fieldNumbers { built[number] = decoded[number] }
    let message = built

    Benchmark("Decode reference 0200") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! spec.decode(input))
        }
    }

    Benchmark("Encode reference 0200 from field values") { benchmark in
        var output = ByteBufferAllocator().buffer(capacity: 512)
        for _ in benchmark.scaledIterations {
            output.clear()
            try! spec.encode(message, into: &output)
            blackHole(output.readableBytes)
        }
    }

    Benchmark("Re-encode decoded 0200 (unchanged fields)") { benchmark in
        var output = ByteBufferAllocator().buffer(capacity: 512)
        for _ in benchmark.scaledIterations {
            output.clear()
            try! spec.encode(decoded, into: &output)
            blackHole(output.readableBytes)
        }
    }

    Benchmark("Decode and read DE 4, 11, 41 (switch hot path)") { benchmark in
        for _ in benchmark.scaledIterations {
            let m = try! spec.decode(input)
            blackHole(m.amount)
            blackHole(m.numericValue(11))
            blackHole(m.contains(41))
        }
    }
}

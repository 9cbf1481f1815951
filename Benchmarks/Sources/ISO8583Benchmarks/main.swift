import ISO8583
import NIOCore

// A plain loop over the codec on the reference 0200, for instruction counts under valgrind where the
// machine has no hardware counters (package-benchmark then reports none):
//
//     valgrind --tool=cachegrind --cache-sim=no ISO8583CodecLoop decode 1000
//     valgrind --tool=cachegrind --cache-sim=no ISO8583CodecLoop decode 11000
//
// The difference of the two totals over 10,000 is the count per operation, free of start-up cost.
// Single-threaded and nothing else linked, so that valgrind runs it.

let referenceHex = "3032303037323343343438313238453039323030313634373631373339303031303130313139303030303030303030303030303130303030303631353132333435363132333435363132333435363036313532353132353939393035313030313131323334353637383930313334343736313733393030313031303131393D32353132323031313735383932383838393132333435363738393031325445524D303030314D45524348414E543030303030303141434D452053544F52452034322020202020202020202020535052494E474649454C4420202055533834303031323334353637383941424344454630383839463236303841314232433344344535463630373138394632373031383039463130303730363031304130334130303030303946333730344445414442454546394633363032303030313935303530303030303030303030"

let arguments = CommandLine.arguments
guard arguments.count == 3, let iterations = Int(arguments[2]), ["decode", "encode", "reencode"].contains(arguments[1]) else {
    fatalError("usage: ISO8583CodecLoop decode|encode|reencode ITERATIONS")
}

// Everything in a function: top-level variables are globals, and each access to one would be checked
// for exclusivity at run time, which is no cost of the codec's.
func run(_ mode: String, iterations: Int) -> Int {
    let spec = MessageSpec.builtin("iso8583-1987-ascii")!
    let input = try! spec.encode(spec.decode(hex: referenceHex))
    let decoded = try! spec.decode(input)
    var built = ISO8583Message(mti: decoded.mti)
    for number in decoded.fieldNumbers { built[number] = decoded[number] }
    let message = built
    var output = ByteBufferAllocator().buffer(capacity: 1024)
    var sink = 0
    switch mode {
    case "decode":
        for _ in 0..<iterations { sink &+= Int(try! spec.decode(input).mti.value) }
    case "encode":
        for _ in 0..<iterations {
            output.clear()
            try! spec.encode(message, into: &output)
            sink &+= output.readableBytes
        }
    default:
        for _ in 0..<iterations {
            output.clear()
            try! spec.encode(decoded, into: &output)
            sink &+= output.readableBytes
        }
    }
    return sink
}

print(run(arguments[1], iterations: iterations))

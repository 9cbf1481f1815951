import ISO8583
import NIOCore

/// In-process timing of decode and encode of one message, for `dcswitch iso bench`.
enum CodecBenchmark {
    struct Result {
        var decodeNanos: Int
        var encodeNanos: Int
        var reencodeNanos: Int
    }

    static func run(spec: MessageSpec, message bytes: [UInt8], iterations: Int, passes: Int) -> Result {
        var input = ByteBufferAllocator().buffer(capacity: bytes.count)
        input.writeBytes(bytes)
        let decoded = try! spec.decode(input)
        // The same message built from its field values, as a switch builds a response.
        var built = ISO8583Message(mti: decoded.mti)
        for number in decoded.fieldNumbers { built[number] = decoded[number] }
        var output = ByteBufferAllocator().buffer(capacity: bytes.count * 2)

        func median(_ body: () -> Void) -> Int {
            var samples: [Int] = []
            for _ in 0..<passes {
                let start = ContinuousClock.now
                body()
                let elapsed = ContinuousClock.now - start
                let nanos = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
                samples.append(Int(nanos) / iterations)
            }
            samples.sort()
            return samples[samples.count / 2]
        }

        var sink = 0
        let decodeNanos = median {
            for _ in 0..<iterations {
                let message = try! spec.decode(input)
                sink &+= Int(message.mti.value)
            }
        }
        let encodeNanos = median {
            for _ in 0..<iterations {
                output.clear()
                try! spec.encode(built, into: &output)
                sink &+= output.readableBytes
            }
        }
        let reencodeNanos = median {
            for _ in 0..<iterations {
                output.clear()
                try! spec.encode(decoded, into: &output)
                sink &+= output.readableBytes
            }
        }
        precondition(sink != 0)
        return Result(decodeNanos: decodeNanos, encodeNanos: encodeNanos, reencodeNanos: reencodeNanos)
    }
}

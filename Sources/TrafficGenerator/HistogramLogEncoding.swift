import Histogram

/// HdrHistogram's V2 compressed encoding, as the `Interval_Compressed_Histogram` column of an interval log
/// carries it (and as Java's `Histogram.encodeIntoCompressedByteBuffer` writes it): base64 of
/// `0x1c849314`, the length of what follows, and a zlib stream of the uncompressed V2 encoding
/// (`0x1c849313`, payload length, normalizing offset 0, significant digits, lowest and highest trackable value,
/// conversion ratio 1.0, then the counts as ZigZag LEB128 with runs of zeros as negative run lengths).
///
/// hdrhistogram-swift 0.2.0 has no encoder, and this package links no zlib: the zlib stream uses stored
/// (uncompressed) deflate blocks, which every inflater reads. Java's `HistogramLogReader`, HdrHistogram_c, Python's
/// `hdrhistogram` and HdrHistogram.js decode these lines.
public enum HistogramLogEncoding {
    static let v2Cookie: UInt32 = 0x1C84_9303 | 0x10
    static let v2CompressedCookie: UInt32 = 0x1C84_9304 | 0x10

    /// The base64 text of `histogram`'s compressed V2 encoding (`HISTF…`).
    public static func compressedBase64(_ histogram: Histogram<UInt64>) -> String {
        Base64.encode(self.compressed(histogram))
    }

    /// The compressed V2 encoding's bytes.
    public static func compressed(_ histogram: Histogram<UInt64>) -> [UInt8] {
        let raw = self.uncompressed(histogram)
        let z = ZlibStored.wrap(raw)
        var out: [UInt8] = []
        out.reserveCapacity(z.count + 8)
        appendBigEndian(v2CompressedCookie, to: &out)
        appendBigEndian(UInt32(z.count), to: &out)
        out += z
        return out
    }

    /// The uncompressed V2 encoding's bytes.
    public static func uncompressed(_ histogram: Histogram<UInt64>) -> [UInt8] {
        let layout = Layout(histogram)
        // Counts by index, up to the index of the largest value.
        var counts: [UInt64] = []
        if histogram.totalCount > 0 {
            counts = Array(repeating: 0, count: layout.index(of: histogram.max) + 1)
            for value in histogram.recordedValues() {
                let i = layout.index(of: value.value)
                if i < counts.count { counts[i] += UInt64(value.count) }
            }
        }
        var payload: [UInt8] = []
        var i = 0
        while i < counts.count {
            let count = counts[i]
            i += 1
            if count == 0 {
                var zeros: Int64 = 1
                while i < counts.count, counts[i] == 0 {
                    zeros += 1
                    i += 1
                }
                appendZigZag(zeros > 1 ? -zeros : 0, to: &payload)
            } else {
                appendZigZag(Int64(truncatingIfNeeded: count), to: &payload)
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(40 + payload.count)
        appendBigEndian(v2Cookie, to: &out)
        appendBigEndian(UInt32(payload.count), to: &out)
        appendBigEndian(UInt32(0), to: &out)
        appendBigEndian(UInt32(histogram.numberOfSignificantValueDigits.rawValue), to: &out)
        appendBigEndian(histogram.lowestDiscernibleValue, to: &out)
        appendBigEndian(histogram.highestTrackableValue, to: &out)
        appendBigEndian((1.0 as Double).bitPattern, to: &out)
        out += payload
        return out
    }

    /// The counts-array layout HdrHistogram implementations share (Java's `countsArrayIndex`).
    struct Layout {
        let unitMagnitude: Int
        let subBucketHalfCountMagnitude: Int
        let subBucketHalfCount: Int
        let subBucketMask: UInt64
        let leadingZeroCountBase: Int

        init(_ histogram: Histogram<UInt64>) {
            self.init(lowestDiscernibleValue: histogram.lowestDiscernibleValue, significantDigits: Int(histogram.numberOfSignificantValueDigits.rawValue))
        }

        init(lowestDiscernibleValue: UInt64, significantDigits: Int) {
            var largest: UInt64 = 2
            for _ in 0..<significantDigits { largest *= 10 }
            // ceil(log2(largest))
            var subBucketCountMagnitude = 0
            while (UInt64(1) << UInt64(subBucketCountMagnitude)) < largest { subBucketCountMagnitude += 1 }
            self.unitMagnitude = 63 - lowestDiscernibleValue.leadingZeroBitCount
            self.subBucketHalfCountMagnitude = max(subBucketCountMagnitude, 1) - 1
            self.subBucketHalfCount = 1 << self.subBucketHalfCountMagnitude
            self.subBucketMask = (UInt64(1 << subBucketCountMagnitude) - 1) << UInt64(self.unitMagnitude)
            self.leadingZeroCountBase = 64 - self.unitMagnitude - subBucketCountMagnitude
        }

        func index(of value: UInt64) -> Int {
            let bucket = self.leadingZeroCountBase - (value | self.subBucketMask).leadingZeroBitCount
            let subBucket = Int(value >> UInt64(bucket + self.unitMagnitude))
            return ((bucket + 1) << self.subBucketHalfCountMagnitude) + (subBucket - self.subBucketHalfCount)
        }

        /// The lowest value that lands on `index` (the inverse of ``index(of:)``).
        func value(at index: Int) -> UInt64 {
            var bucket = (index >> self.subBucketHalfCountMagnitude) - 1
            var subBucket = (index & (self.subBucketHalfCount - 1)) + self.subBucketHalfCount
            if bucket < 0 {
                subBucket -= self.subBucketHalfCount
                bucket = 0
            }
            return UInt64(subBucket) << UInt64(bucket + self.unitMagnitude)
        }
    }

    static func appendZigZag(_ value: Int64, to bytes: inout [UInt8]) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        // Java's ZigZagEncoding writes at most 9 bytes, the 9th with all 8 bits.
        for _ in 0..<8 {
            if v < 0x80 {
                bytes.append(UInt8(v))
                return
            }
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        let big = value.bigEndian
        withUnsafeBytes(of: big) { bytes.append(contentsOf: $0) }
    }
}

/// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, BTYPE 00): valid input for every inflater.
enum ZlibStored {
    static func wrap(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out.reserveCapacity(data.count + 16)
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let final = offset + length == data.count
            out.append(final ? 0x01 : 0x00)
            out.append(UInt8(length & 0xFF))
            out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xFF))
            out.append(UInt8((~length >> 8) & 0xFF))
            out += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        HistogramLogEncoding.appendBigEndian(adler32(data), to: &out)
        return out
    }

    /// Inflates a zlib stream made of stored blocks (what ``wrap(_:)`` writes); `nil` for anything else.
    static func unwrapStored(_ z: [UInt8]) -> [UInt8]? {
        guard z.count >= 6, z[0] & 0x0F == 8, (UInt16(z[0]) << 8 | UInt16(z[1])) % 31 == 0 else { return nil }
        var i = 2
        var out: [UInt8] = []
        while true {
            guard i + 5 <= z.count else { return nil }
            let header = z[i]
            guard header & 0x06 == 0 else { return nil }
            let length = Int(z[i + 1]) | Int(z[i + 2]) << 8
            let check = Int(z[i + 3]) | Int(z[i + 4]) << 8
            guard length == ~check & 0xFFFF, i + 5 + length <= z.count else { return nil }
            out += z[(i + 5)..<(i + 5 + length)]
            i += 5 + length
            if header & 1 == 1 { break }
        }
        guard i + 4 <= z.count else { return nil }
        let sum = UInt32(z[i]) << 24 | UInt32(z[i + 1]) << 16 | UInt32(z[i + 2]) << 8 | UInt32(z[i + 3])
        return sum == adler32(out) ? out : nil
    }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }
}

/// Standard base64 (RFC 4648, with padding), without Foundation.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ data: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= data.count {
            let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = data.count - i
        if rest == 1 {
            let n = UInt32(data[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], 61, 61]
        } else if rest == 2 {
            let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], 61]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            if c == 61 { break }
            let v = table[Int(c)]
            guard v >= 0 else { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }
}

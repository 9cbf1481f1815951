/// How ISO 8583 messages are delimited on one TCP link: the length prefix, an optional TPDU header
/// and the largest frame the link accepts.
///
/// The length prefix counts every byte after itself: the TPDU (when present) and the message.
/// A frame whose declared length exceeds ``maximumFrameLength``, or whose prefix cannot be read,
/// is a framing error: the stream can no longer be delimited, so the connection is closed.
public struct ISO8583Framing: Hashable, Sendable {
    /// The encoding of the length prefix in front of each message.
    public enum LengthPrefix: Hashable, Sendable, CaseIterable {
        /// Two bytes, unsigned binary, big-endian (up to 65,535). The common default.
        case binary2
        /// Four bytes, unsigned binary, big-endian.
        case binary4
        /// Four ASCII decimal digits, `"0123"` (up to 9,999).
        case ascii4
        /// Two bytes of packed BCD, `0x01 0x23` for 123 (up to 9,999).
        case bcd2

        /// The size of the prefix on the wire.
        public var byteCount: Int {
            switch self {
            case .binary2, .bcd2: 2
            case .binary4, .ascii4: 4
            }
        }

        /// The largest length this prefix can express.
        public var largestEncodableLength: Int {
            switch self {
            case .binary2: Int(UInt16.max)
            case .binary4: Int(Int32.max)
            case .ascii4, .bcd2: 9_999
            }
        }
    }

    /// The default maximum frame length: 16 KiB, room for the digital-currency fields.
    public static let defaultMaximumFrameLength = 16 * 1024

    /// The length prefix encoding.
    public var lengthPrefix: LengthPrefix
    /// Whether a 5-byte ``TPDU`` follows the length prefix.
    public var hasTPDU: Bool
    /// The largest frame accepted or produced, counting the TPDU and the message but not the prefix.
    /// Never more than the prefix can express.
    public var maximumFrameLength: Int

    /// Creates a framing.
    ///
    /// - Parameters:
    ///   - lengthPrefix: the length prefix encoding (default: 2-byte binary).
    ///   - hasTPDU: whether a 5-byte TPDU follows the prefix.
    ///   - maximumFrameLength: the largest frame (TPDU and message), clamped to what the prefix can express.
    public init(
        lengthPrefix: LengthPrefix = .binary2,
        hasTPDU: Bool = false,
        maximumFrameLength: Int = ISO8583Framing.defaultMaximumFrameLength
    ) {
        precondition(maximumFrameLength > 0, "maximumFrameLength must be positive")
        self.lengthPrefix = lengthPrefix
        self.hasTPDU = hasTPDU
        self.maximumFrameLength = min(maximumFrameLength, lengthPrefix.largestEncodableLength)
    }

    /// The default framing: 2-byte binary length, no TPDU, 16 KiB maximum.
    public static let `default` = ISO8583Framing()

    /// The number of bytes before the message: the prefix and the TPDU when present.
    public var headerByteCount: Int {
        self.lengthPrefix.byteCount + (self.hasTPDU ? TPDU.byteCount : 0)
    }
}

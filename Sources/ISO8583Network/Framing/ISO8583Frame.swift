import NIOCore

/// One ISO 8583 message as it travels on a link, without its length prefix.
///
/// ``payload`` is a slice of the buffer the bytes arrived in: decoding a frame copies nothing.
public struct ISO8583Frame: Hashable, Sendable {
    /// The TPDU header, when the link's framing has one.
    public var tpdu: TPDU?
    /// The message bytes (MTI, bitmap, fields), without prefix or TPDU.
    public var payload: ByteBuffer

    /// Creates a frame.
    public init(tpdu: TPDU? = nil, payload: ByteBuffer) {
        self.tpdu = tpdu
        self.payload = payload
    }
}

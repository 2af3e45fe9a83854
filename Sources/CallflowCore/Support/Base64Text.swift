/// Standard base64 (RFC 4648 alphabet, padding required), the one implementation in the binary:
/// `client_state` (which Telnyx requires base64), stored revisions and request bodies, and the
/// webhook signature and public key (`WebhookSignature` uses it too).
///
/// Hand-written rather than swift-extras-base64, on purpose: that library's decoder is not strict
/// (it accepts `AB=C`, a pad followed by data, and bits left over after the last byte), and
/// strictness is what the signature check relies on. Rather than libsodium's
/// `sodium_base642bin`: the core has no C, and one pure decoder serves both sides. It works on
/// the string's UTF-8 in place with a 256-entry table, since `StepTag` decodes `client_state`
/// on every webhook.
public enum Base64Text {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// A byte's six bits, or `invalid`.
    static let values: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()
    static let invalid: UInt8 = 0xFF
    static let pad = UInt8(ascii: "=")

    /// Standard base64 with padding (what `client_state` and the stored flow files use).
    public static func encode(_ bytes: [UInt8]) -> String {
        let length = (bytes.count + 2) / 3 * 4
        guard length > 0 else { return "" }
        return alphabet.withUnsafeBufferPointer { a in
            bytes.withUnsafeBufferPointer { input in
                String(unsafeUninitializedCapacity: length) { out in
                    var i = 0
                    var o = 0
                    while i + 2 < input.count {
                        let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                        out[o] = a[Int(n >> 18 & 63)]
                        out[o + 1] = a[Int(n >> 12 & 63)]
                        out[o + 2] = a[Int(n >> 6 & 63)]
                        out[o + 3] = a[Int(n & 63)]
                        i += 3
                        o += 4
                    }
                    let rest = input.count - i
                    if rest > 0 {
                        let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                        out[o] = a[Int(n >> 18 & 63)]
                        out[o + 1] = a[Int(n >> 12 & 63)]
                        out[o + 2] = rest == 2 ? a[Int(n >> 6 & 63)] : pad
                        out[o + 3] = pad
                        o += 4
                    }
                    return o
                }
            }
        }
    }

    /// Strict decode; `nil` for anything that is not canonical padded base64: empty text, a length
    /// that is not a multiple of 4, a byte outside the alphabet (whitespace included), a pad
    /// anywhere but the last one or two places, or bits set after the last byte (so every byte
    /// string has exactly one accepted text, as with libsodium's strict decoder). `maxBytes`
    /// refuses longer results before decoding anything (a hostile header is not decoded in full).
    public static func decode(_ text: String, maxBytes: Int = .max) -> [UInt8]? {
        var text = text
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ decode($0, maxBytes: maxBytes) }) { return decoded }
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { decode($0, maxBytes: maxBytes) } ?? nil
    }

    /// `decode(_:maxBytes:)` over bytes.
    public static func decode(_ input: UnsafeBufferPointer<UInt8>, maxBytes: Int = .max) -> [UInt8]? {
        let count = input.count
        guard count > 0, count % 4 == 0 else { return nil }
        let pads = input[count - 1] != pad ? 0 : input[count - 2] != pad ? 1 : 2
        let length = count / 4 * 3 - pads
        guard length <= maxBytes else { return nil }
        return values.withUnsafeBufferPointer { v -> [UInt8]? in
            var ok = true
            let out = [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
                var i = 0
                var o = 0
                // Every quantum but the last: four alphabet bytes, three bytes out.
                while i + 4 < count {
                    let a = v[Int(input[i])], b = v[Int(input[i + 1])], c = v[Int(input[i + 2])], d = v[Int(input[i + 3])]
                    guard (a | b | c | d) & 0xC0 == 0 else {
                        ok = false
                        break
                    }
                    let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[o] = UInt8(truncatingIfNeeded: n >> 16)
                    out[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: n)
                    i += 4
                    o += 3
                }
                // The last quantum: its pads (counted above) stand for zero bits, which must be
                // all the bits left over after the last byte.
                if ok {
                    let a = v[Int(input[i])], b = v[Int(input[i + 1])]
                    let c = pads == 2 ? 0 : v[Int(input[i + 2])]
                    let d = pads >= 1 ? 0 : v[Int(input[i + 3])]
                    let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    let leftover: UInt32 = pads == 2 ? 0xFFFF : pads == 1 ? 0xFF : 0
                    if (a | b | c | d) & 0xC0 != 0 || n & leftover != 0 {
                        ok = false
                    } else {
                        out[o] = UInt8(truncatingIfNeeded: n >> 16)
                        if pads < 2 { out[o + 1] = UInt8(truncatingIfNeeded: n >> 8) }
                        if pads < 1 { out[o + 2] = UInt8(truncatingIfNeeded: n) }
                        o += 3 - pads
                    }
                }
                initialized = ok ? o : 0
            }
            return ok ? out : nil
        }
    }
}

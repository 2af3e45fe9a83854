import CSodium
import CallflowCore

/// Signs webhooks the way Telnyx does. Production never signs; the Telnyx emulator, the
/// benchmarks and the tests do, so they exercise the real verification path instead of skipping it.
public struct WebhookSigner: Sendable {
    private let secretKey: [UInt8]
    public let publicKey: [UInt8]

    /// Derives the key pair from a 32-byte seed.
    public init(seed: [UInt8]) throws(PublicKeyError) {
        guard sodium_init() >= 0 else { throw .sodiumInitFailed(-1) }
        guard seed.count == Int(crypto_sign_SEEDBYTES) else { throw .wrongLength(seed.count) }
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        _ = crypto_sign_seed_keypair(&pk, &sk, seed)
        publicKey = pk
        secretKey = sk
    }

    /// A fresh random key pair.
    public static func random() throws(PublicKeyError) -> WebhookSigner {
        guard sodium_init() >= 0 else { throw .sodiumInitFailed(-1) }
        var seed = [UInt8](repeating: 0, count: Int(crypto_sign_SEEDBYTES))
        randombytes_buf(&seed, seed.count)
        return try WebhookSigner(seed: seed)
    }

    public var publicKeyBase64: String { Base64Text.encode(publicKey) }

    /// The `telnyx-signature-ed25519` header value for `body` sent at `timestamp`.
    public func signature(timestamp: String, body: [UInt8]) -> String {
        var message = Array(timestamp.utf8)
        message.append(UInt8(ascii: "|"))
        message.append(contentsOf: body)
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return Base64Text.encode(signature)
    }
}

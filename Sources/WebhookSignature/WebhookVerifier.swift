import CSodium
import CallflowCore

/// Why a webhook's signature was refused. Each case names the check that failed so the 401 body
/// and the log say exactly what to fix (clock skew, wrong key, a proxy rewriting the body).
public enum SignatureFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// No `telnyx-signature-ed25519` header, or it is empty.
    case missingSignatureHeader
    /// No `telnyx-timestamp` header, or it is empty.
    case missingTimestampHeader
    /// `telnyx-timestamp` is not a decimal Unix time.
    case timestampNotInteger
    /// The timestamp is older than the tolerance allows (a replay, or a badly skewed clock).
    case staleTimestamp(ageSeconds: Int64, toleranceSeconds: Int64)
    /// The timestamp is further in the future than the tolerance allows.
    case futureTimestamp(aheadSeconds: Int64, toleranceSeconds: Int64)
    /// The signature header is not strict (padded, standard-alphabet) base64.
    case signatureNotBase64
    /// The signature decodes to something other than 64 bytes.
    case signatureWrongLength(Int)
    /// Ed25519 verification failed: wrong key, or the body or timestamp changed in transit.
    case badSignature

    public var description: String {
        switch self {
        case .missingSignatureHeader: return "missing header telnyx-signature-ed25519"
        case .missingTimestampHeader: return "missing header telnyx-timestamp"
        case .timestampNotInteger: return "bad encoding: telnyx-timestamp is not an integer"
        case .staleTimestamp(let age, let tol): return "stale timestamp: \(age) s old, tolerance \(tol) s"
        case .futureTimestamp(let ahead, let tol): return "future timestamp: \(ahead) s ahead, tolerance \(tol) s"
        case .signatureNotBase64: return "bad encoding: telnyx-signature-ed25519 is not base64"
        case .signatureWrongLength(let n): return "bad encoding: signature is \(n) bytes, expected 64"
        case .badSignature: return "bad signature"
        }
    }
}

/// Why a configured public key is unusable.
public enum PublicKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key is not strict base64.
    case notBase64
    /// The key does not decode to 32 bytes.
    case wrongLength(Int)
    /// `sodium_init` failed: the library cannot be used at all.
    case sodiumInitFailed(Int32)

    public var description: String {
        switch self {
        case .notBase64: return "public key is not base64"
        case .wrongLength(let n): return "public key is \(n) bytes, expected 32 (the base64 Ed25519 key from the Telnyx portal)"
        case .sodiumInitFailed(let rc): return "sodium_init failed with \(rc)"
        }
    }
}

private let sodiumInitResult: Int32 = sodium_init()

/// Verifies Telnyx webhook signatures: Ed25519 over `"<telnyx-timestamp>|<raw body>"`, with the
/// timestamp checked against a tolerance window. Immutable, so one instance serves every thread.
public struct WebhookVerifier: Sendable {
    public let publicKey: [UInt8]
    public let toleranceSeconds: Int64

    public init(publicKeyBase64: String, toleranceSeconds: Int64 = 300) throws(PublicKeyError) {
        guard sodiumInitResult >= 0 else { throw .sodiumInitFailed(sodiumInitResult) }
        guard let key = Base64Text.decode(publicKeyBase64, maxBytes: 64) else { throw .notBase64 }
        guard key.count == Int(crypto_sign_PUBLICKEYBYTES) else { throw .wrongLength(key.count) }
        self.publicKey = key
        self.toleranceSeconds = toleranceSeconds
    }

    /// Checks the headers and the timestamp window: everything but the signature itself. Returns
    /// the decoded 64-byte signature.
    public func precheck(signature: String?, timestamp: String?, now: Int64) throws(SignatureFailure) -> [UInt8] {
        guard let signature, !signature.isEmpty else { throw .missingSignatureHeader }
        guard let timestamp, !timestamp.isEmpty else { throw .missingTimestampHeader }
        guard timestamp.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), timestamp.utf8.count <= 18,
            let seconds = Int64(timestamp)
        else { throw .timestampNotInteger }
        if now - seconds > toleranceSeconds {
            throw .staleTimestamp(ageSeconds: now - seconds, toleranceSeconds: toleranceSeconds)
        }
        if seconds - now > toleranceSeconds {
            throw .futureTimestamp(aheadSeconds: seconds - now, toleranceSeconds: toleranceSeconds)
        }
        guard let sig = Base64Text.decode(signature, maxBytes: 96) else { throw .signatureNotBase64 }
        guard sig.count == Int(crypto_sign_BYTES) else { throw .signatureWrongLength(sig.count) }
        return sig
    }

    /// Verifies a webhook when the caller already holds `"<timestamp>|<body>"` contiguously
    /// (the server builds it in the request buffer, so the body is never copied for this).
    public func verify(
        signature: String?, timestamp: String?, signedMessage: UnsafeRawBufferPointer, now: Int64
    ) throws(SignatureFailure) {
        let sig = try precheck(signature: signature, timestamp: timestamp, now: now)
        let rc = sig.withUnsafeBufferPointer { s in
            publicKey.withUnsafeBufferPointer { k in
                crypto_sign_verify_detached(
                    s.baseAddress!, signedMessage.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(signedMessage.count), k.baseAddress!)
            }
        }
        guard rc == 0 else { throw .badSignature }
    }

    /// Verifies a webhook from its headers and raw body bytes.
    public func verify(signature: String?, timestamp: String?, body: [UInt8], now: Int64) throws(SignatureFailure) {
        var message = Array((timestamp ?? "").utf8)
        message.append(UInt8(ascii: "|"))
        message.append(contentsOf: body)
        let outcome = message.withUnsafeBytes { raw in
            Result { () throws(SignatureFailure) in
                try verify(signature: signature, timestamp: timestamp, signedMessage: raw, now: now)
            }
        }
        try outcome.get()
    }
}

import CallflowCore
import CallflowTestSupport
import Foundation
import Testing
import WebhookSignature

struct SignatureVector: Sendable, CustomTestStringConvertible {
    let name: String
    let publicKey: String
    let timestamp: String
    let payload: String
    let signature: String
    let now: Int64
    let tolerance: Int64
    let expectedValid: Bool
    var testDescription: String { name }

    static func all() throws -> [SignatureVector] {
        var vectors: [SignatureVector] = []
        let main = try Fixtures.json("signature-vectors.json") as! [String: Any]
        for v in main["vectors"] as! [[String: Any]] {
            vectors.append(
                SignatureVector(
                    name: v["name"] as! String, publicKey: v["public_key"] as! String, timestamp: v["timestamp"] as! String,
                    payload: v["payload"] as! String, signature: v["signature"] as! String,
                    now: (v["now"] as! NSNumber).int64Value, tolerance: (v["tolerance_secs"] as! NSNumber).int64Value,
                    expectedValid: v["expected_valid"] as! Bool))
        }
        for v in try Fixtures.json("telnyx-vectors.json") as! [[String: Any]] {
            let timestamp = v["timestamp"] as! String
            // These vectors are old captures: the clock is pinned to the vector's own timestamp.
            let pinned = Int64(timestamp) ?? 0
            let expected = (v["expected_valid"] as? Bool) ?? ((v["expected_valid"] as? String) == "True")
            vectors.append(
                SignatureVector(
                    name: v["id"] as! String, publicKey: v["public_key"] as! String, timestamp: timestamp,
                    payload: v["payload"] as! String, signature: v["signature"] as! String, now: pinned, tolerance: 300,
                    expectedValid: expected))
        }
        return vectors
    }
}

@Suite struct SignatureVectorTests {
    @Test(arguments: try SignatureVector.all())
    func vectorGivesItsVerdict(_ vector: SignatureVector) throws {
        let verifier = try WebhookVerifier(publicKeyBase64: vector.publicKey, toleranceSeconds: vector.tolerance)
        let outcome = Result { () throws(SignatureFailure) in
            try verifier.verify(
                signature: vector.signature, timestamp: vector.timestamp, body: Array(vector.payload.utf8), now: vector.now)
        }
        switch outcome {
        case .success: #expect(vector.expectedValid, "\(vector.name) verified but should not")
        case .failure(let failure): #expect(!vector.expectedValid, "\(vector.name) refused: \(failure)")
        }
    }

    @Test func vectorsAreAllLoaded() throws {
        #expect(try SignatureVector.all().count == 23)
    }

    @Test func failuresNameTheCheck() throws {
        let signer = try WebhookSigner.random()
        let verifier = try WebhookVerifier(publicKeyBase64: signer.publicKeyBase64)
        let body = Array(#"{"data":{}}"#.utf8)
        let good = signer.signature(timestamp: "1000", body: body)
        func failure(_ sig: String?, _ ts: String?, now: Int64 = 1000) -> SignatureFailure? {
            do throws(SignatureFailure) {
                try verifier.verify(signature: sig, timestamp: ts, body: body, now: now)
                return nil
            } catch { return error }
        }
        #expect(failure(good, "1000") == nil)
        #expect(failure(nil, "1000") == .missingSignatureHeader)
        #expect(failure("", "1000") == .missingSignatureHeader)
        #expect(failure(good, nil) == .missingTimestampHeader)
        #expect(failure(good, "1e3") == .timestampNotInteger)
        #expect(failure(good, "-1000") == .timestampNotInteger)
        #expect(failure(good, "1000", now: 1301) == .staleTimestamp(ageSeconds: 301, toleranceSeconds: 300))
        #expect(failure(good, "1000", now: 699) == .futureTimestamp(aheadSeconds: 301, toleranceSeconds: 300))
        #expect(failure("not base64!", "1000") == .signatureNotBase64)
        #expect(failure(String(good.dropLast(2)), "1000") == .signatureNotBase64)  // padding stripped
        #expect(failure(Base64Text.encode(Array(repeating: 1, count: 63)), "1000") == .signatureWrongLength(63))
        #expect(failure(signer.signature(timestamp: "1001", body: body), "1000") == .badSignature)
        #expect(failure("\n" + good, "1000") == .signatureNotBase64)
    }

    /// The one base64 of the binary (the core's) agrees with Foundation on every length, and is
    /// strict where libsodium's decoder, which the verifier used before, was strict.
    @Test func base64IsStandardAndStrict() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64Text.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString())
            #expect(Base64Text.decode(text) == (length == 0 ? nil : bytes))
        }
        #expect(Base64Text.decode("QQ==") == [0x41])
        #expect(Base64Text.decode("QUI=") == [0x41, 0x42])
        for bad in ["", "Q", "QQ=", "QR==", "QUJ=", "AB=C", "A===", "====", "QQ==QQ==", "QQ=\n", " QQ=", "QQ-_", "QUJD\n"] {
            #expect(Base64Text.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64Text.decode("QUJD", maxBytes: 2) == nil)
        #expect(Base64Text.decode("QUI=", maxBytes: 2) == [0x41, 0x42])
    }

    @Test func keyErrors() {
        #expect(throws: PublicKeyError.notBase64) { try WebhookVerifier(publicKeyBase64: "%%%") }
        #expect(throws: PublicKeyError.wrongLength(31)) {
            try WebhookVerifier(publicKeyBase64: Base64Text.encode(Array(repeating: 7, count: 31)))
        }
    }
}

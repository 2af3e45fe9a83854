/// Phone-number and SIP-address rules shared by config, flow checks and the control API.
public enum E164 {
    /// `+` then 2 to 15 digits, the first not 0.
    public static func isValid(_ number: String) -> Bool {
        let bytes = Array(number.utf8)
        guard bytes.count >= 3, bytes.count <= 16, bytes[0] == UInt8(ascii: "+") else { return false }
        guard bytes[1] != UInt8(ascii: "0") else { return false }
        return bytes.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// A dialable destination: E.164, or a `sip:`/`sips:` URI with a user or host part.
    public static func isDialable(_ target: String) -> Bool {
        if isValid(target) { return true }
        for scheme in ["sip:", "sips:"] where target.hasPrefix(scheme) {
            let rest = target.dropFirst(scheme.count)
            return !rest.isEmpty && !rest.contains(where: { $0 == " " })
        }
        return false
    }
}

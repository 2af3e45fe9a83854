/// RFC 6901 JSON pointers: how every diagnostic names the place it is about.
public enum JSONPointer {
    /// `["nodes", "a/b"]` → `/nodes/a~1b`.
    public static func string(_ tokens: [String]) -> String {
        var out = ""
        for token in tokens {
            out += "/"
            out += escape(token)
        }
        return out
    }

    /// One reference token escaped: `~` → `~0`, `/` → `~1`.
    public static func escape(_ token: String) -> String {
        guard token.contains(where: { $0 == "~" || $0 == "/" }) else { return token }
        var out = ""
        for c in token {
            switch c {
            case "~": out += "~0"
            case "/": out += "~1"
            default: out.append(c)
            }
        }
        return out
    }
}

/// Matching what a caller said against the phrases a flow expects. Transcripts differ from the
/// written phrase in case, punctuation and filler ("Billing, please."), so both sides are reduced
/// to lowercase words and a phrase matches when its words appear in order, side by side.
public enum Speech {
    /// Lowercase words: letters and digits, everything else a separator.
    public static func words(_ text: String) -> [Substring] {
        let lowered = text.lowercased()
        return lowered.split { !($0.isLetter || $0.isNumber || $0 == "'") }.map { $0.filter { $0 != "'" }[...] }.filter { !$0.isEmpty }
    }

    /// Whether `phrase`'s words occur together in `heard`.
    public static func says(_ heard: String, _ phrase: String) -> Bool {
        let h = words(heard), p = words(phrase)
        guard !p.isEmpty, h.count >= p.count else { return false }
        for start in 0...(h.count - p.count) where h[start..<(start + p.count)].elementsEqual(p) { return true }
        return false
    }
}

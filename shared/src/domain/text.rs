//! Cutting text for fields with a length limit, always on character boundaries (a byte cut
//! panics inside a multi-byte character: Japanese, emoji, an accented name).

/// At most `max_chars` characters of `text`; a cut text ends with `…` (counted in the limit).
pub fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    if max_chars > 0 {
        out.push('…');
    }
    out
}

/// A one-line subject: control characters and line breaks (`\n`, and Unicode's line and
/// paragraph separators U+2028 and U+2029) become spaces; under SNS's limit of 100 (counted in
/// bytes here, the stricter reading), cut on a character boundary.
pub fn subject(text: &str) -> String {
    const MAX_BYTES: usize = 99;
    let line = text.replace(|c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'), " ");
    if line.len() <= MAX_BYTES {
        return line;
    }
    let mut out = String::new();
    for c in line.chars() {
        if out.len() + c.len_utf8() + '…'.len_utf8() > MAX_BYTES {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// At most `max_chars` characters of `text`, cut without a mark (identifiers).
pub fn prefix(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("日本語のサービス", 4), "日本語…");
        assert_eq!(clip("🚀🚀🚀", 2), "🚀…");
        assert_eq!(clip("x", 0), "");
        assert_eq!(prefix("日本語", 2), "日本");
        assert_eq!(prefix("ab", 5), "ab");
        let long = subject(&"日本語🚀\n".repeat(40));
        assert!(long.len() <= 99 && long.ends_with('…') && !long.contains('\n'), "{long}");
        assert_eq!(subject("a\u{2028}b\u{2029}c\u{85}d"), "a b c d");
    }
}

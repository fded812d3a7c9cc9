//! Line lookup in the raw YAML text, for errors found after deserialization
//! (when serde's positions are gone).

/// First line (1-based) that defines `key:`.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':'))
                || t.strip_prefix(&format!("\"{key}\"")).is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

/// First line at or after the line defining `section:` that mentions `value`
/// as a whole word.
pub fn value_line(text: &str, section: &str, value: &str) -> Option<usize> {
    let start = key_line(text, section).unwrap_or(1) - 1;
    text.lines().enumerate().skip(start).find(|(_, l)| contains_word(l, value)).map(|(i, _)| i + 1)
}

fn contains_word(line: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_values() {
        let t = "name: x\naxes:\n  model: [a-b, a]\n  workload:\n    - a\nmodels:\n  a:\n";
        assert_eq!(key_line(t, "axes"), Some(2));
        assert_eq!(key_line(t, "a"), Some(7));
        assert_eq!(value_line(t, "workload", "a"), Some(5));
        assert_eq!(value_line(t, "axes", "a-b"), Some(3));
    }
}

//! The wildcard matcher of the policy language: `*` matches any run of characters (also none),
//! `?` exactly one character; everything else matches itself.
//!
//! RAM documents that values of Action are case-insensitive in most services and that resource
//! ARNs are compared as written, so a [`Pattern`] carries its [`Case`] rule. A case-insensitive
//! pattern is folded once when compiled; only ASCII letters fold, because actions and condition
//! keys are ASCII. Matching allocates nothing and runs in O(pattern × text) at worst (the
//! classic single-backtrack glob algorithm), so a hostile pattern cannot make a request slow.

/// Whether letters must match in case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `A` and `a` are different (resources, string conditions).
    Sensitive,
    /// ASCII letters match whatever their case (actions, `StringEqualsIgnoreCase`).
    Insensitive,
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    case: Case,
    /// True when the pattern has no wildcard: matching is a plain comparison.
    literal: bool,
}

impl Pattern {
    /// Compiles `text` under `case`.
    pub fn new(text: &str, case: Case) -> Self {
        let text = match case {
            Case::Sensitive => text.to_owned(),
            Case::Insensitive => text.to_ascii_lowercase(),
        };
        let literal = !text.contains(['*', '?']);
        Self {
            text,
            case,
            literal,
        }
    }

    /// The pattern as compiled (folded to lower case when case-insensitive).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `candidate` matches the whole pattern.
    pub fn matches(&self, candidate: &str) -> bool {
        match (self.literal, self.case) {
            (true, Case::Sensitive) => self.text == candidate,
            (true, Case::Insensitive) => self.text.eq_ignore_ascii_case(candidate),
            (false, case) => glob(&self.text, candidate, case),
        }
    }
}

/// Matches `text` against `pattern` with one remembered `*` to backtrack to: when a later
/// mismatch happens, the last star absorbs one more character and matching resumes. Earlier
/// stars never need revisiting, which bounds the work.
fn glob(pattern: &str, text: &str, case: Case) -> bool {
    let mut p = 0usize; // byte offset in pattern
    let mut t = 0usize; // byte offset in text
    let mut star: Option<(usize, usize)> = None; // (pattern offset after '*', text offset)
    loop {
        let text_char = text.get(t..).and_then(|rest| rest.chars().next());
        let pat_char = pattern.get(p..).and_then(|rest| rest.chars().next());
        match (pat_char, text_char) {
            (Some('*'), _) => {
                p = p.saturating_add(1);
                star = Some((p, t));
                continue;
            }
            (Some('?'), Some(tc)) => {
                p = p.saturating_add(1);
                t = t.saturating_add(tc.len_utf8());
                continue;
            }
            (Some(pc), Some(tc)) if same(pc, tc, case) => {
                p = p.saturating_add(pc.len_utf8());
                t = t.saturating_add(tc.len_utf8());
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        // Mismatch: let the last star swallow one more character of the text, if any remain.
        match star {
            Some((sp, st)) => match text.get(st..).and_then(|rest| rest.chars().next()) {
                Some(c) => {
                    let next = st.saturating_add(c.len_utf8());
                    star = Some((sp, next));
                    p = sp;
                    t = next;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

fn same(pattern_char: char, text_char: char, case: Case) -> bool {
    match case {
        Case::Sensitive => pattern_char == text_char,
        // The pattern was folded when compiled; fold the text character the same way.
        Case::Insensitive => pattern_char == text_char.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern, Case::Sensitive).matches(text)
    }

    /// A reference matcher: plain recursion over characters, exponential but obviously right.
    fn reference(pattern: &[char], text: &[char], case: Case) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|i| reference(rest, &text[i..], case)),
            Some(('?', rest)) => !text.is_empty() && reference(rest, &text[1..], case),
            Some((pc, rest)) => match text.split_first() {
                Some((tc, trest)) => {
                    let eq = match case {
                        Case::Sensitive => pc == tc,
                        Case::Insensitive => pc.eq_ignore_ascii_case(tc),
                    };
                    eq && reference(rest, trest, case)
                }
                None => false,
            },
        }
    }

    #[test]
    fn star_matches_any_run_including_none() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m(
            "acs:kms:*:*:secret/app/*",
            "acs:kms:cn-hangzhou:1234:secret/app/db"
        ));
        assert!(m(
            "acs:kms:*:*:secret/app/*",
            "acs:kms:cn-hangzhou:1234:secret/app/"
        ));
        assert!(!m(
            "acs:kms:*:*:secret/app/*",
            "acs:kms:cn-hangzhou:1234:secret/other"
        ));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("acs:kms:*:*:secret*", "acs:kms:r:1:secret/x"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(m("key-?", "key-a"));
        assert!(!m("key-?", "key-"));
        assert!(!m("key-?", "key-ab"));
        assert!(m("??", "é!"));
    }

    #[test]
    fn resources_are_case_sensitive_and_actions_are_not() {
        assert!(!m("acs:kms:*:*:secret/App/*", "acs:kms:r:1:secret/app/x"));
        let action = Pattern::new("kms:Get*", Case::Insensitive);
        assert!(action.matches("kms:GetSecretValue"));
        assert!(action.matches("KMS:getsecretvalue"));
        assert!(!action.matches("kms:PutSecretValue"));
        assert!(Pattern::new("KMS:GETSECRETVALUE", Case::Insensitive).matches("kms:GetSecretValue"));
    }

    #[test]
    fn many_stars_on_a_long_text_stay_fast() {
        let pattern = "*a".repeat(50);
        let text = "a".repeat(49) + &"b".repeat(5000);
        assert!(!m(&pattern, &text));
    }

    proptest! {
        #[test]
        fn glob_agrees_with_the_reference_matcher(
            pattern in "[ab*?/]{0,10}",
            text in "[abAB/]{0,12}",
            insensitive in any::<bool>(),
        ) {
            let case = if insensitive { Case::Insensitive } else { Case::Sensitive };
            let compiled = Pattern::new(&pattern, case);
            let folded: Vec<char> = compiled.as_str().chars().collect();
            let chars: Vec<char> = text.chars().collect();
            prop_assert_eq!(compiled.matches(&text), reference(&folded, &chars, case));
        }

        #[test]
        fn a_pattern_without_wildcards_matches_only_itself(text in "[a-zA-Z:/.-]{0,20}", other in "[a-zA-Z:/.-]{0,20}") {
            prop_assert!(m(&text, &text));
            prop_assert_eq!(m(&text, &other), text == other);
        }

        #[test]
        fn star_prefix_and_suffix_match_any_infix(prefix in "[a-z]{0,5}", mid in "[a-z*?]{0,5}", suffix in "[a-z]{0,5}") {
            let text = format!("{prefix}{mid}{suffix}");
            let pattern = format!("{prefix}*{suffix}");
            prop_assert!(m(&pattern, &text));
        }

        #[test]
        fn any_unicode_input_never_panics(pattern in ".{0,12}", text in ".{0,12}") {
            let _ = Pattern::new(&pattern, Case::Insensitive).matches(&text);
            let _ = m(&pattern, &text);
        }
    }
}

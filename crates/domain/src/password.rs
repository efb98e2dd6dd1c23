//! GetRandomPassword's rules: which characters a password may use, and how random bytes
//! become characters. The bytes come from the caller (the service draws them from the OS
//! CSPRNG), so the selection is a pure function and testable.
//!
//! Selection is by rejection sampling: a byte is used only when it is below the largest
//! multiple of the alphabet size that fits in 256, so every character is equally likely (no
//! modulo bias). With RequireEachIncludedType, a whole candidate that misses a class is
//! discarded and a new one drawn, which keeps the result uniform over the valid passwords.
//!
//! Decisions (kms-api.md §3.1 leaves them open): punctuation is the 32 printable ASCII
//! punctuation characters; ExcludeCharacters removes any character it contains; a class that
//! ExcludeCharacters empties counts as excluded for RequireEachIncludedType; a request that
//! leaves no character at all is an InvalidParameter.

use crate::error::ValidationError;

/// Default PasswordLength.
pub const DEFAULT_LENGTH: u64 = 32;
/// Shortest PasswordLength.
pub const MIN_LENGTH: u64 = 8;
/// Longest PasswordLength.
pub const MAX_LENGTH: u64 = 128;

const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMBERS: &str = "0123456789";
/// Printable ASCII punctuation.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// GetRandomPassword parameters as received.
#[derive(Debug, Clone, Default)]
pub struct PasswordRequest<'a> {
    pub length: Option<u64>,
    pub exclude_lowercase: bool,
    pub exclude_uppercase: bool,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_characters: &'a str,
    pub require_each_included_type: bool,
}

/// Validated password rules: the length and the characters of each included class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRules {
    length: usize,
    /// Non-empty classes, in a fixed order.
    classes: Vec<Vec<char>>,
    alphabet: Vec<char>,
    require_each: bool,
}

impl PasswordRules {
    /// Validates a request: length 8–128 (default 32) and at least one character left.
    pub fn parse(req: &PasswordRequest<'_>) -> Result<Self, ValidationError> {
        let length = req.length.unwrap_or(DEFAULT_LENGTH);
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
            return Err(ValidationError::OutOfRange {
                param: "PasswordLength",
                min: "8",
                max: "128",
            });
        }
        let classes: Vec<Vec<char>> = [
            (LOWERCASE, req.exclude_lowercase),
            (UPPERCASE, req.exclude_uppercase),
            (NUMBERS, req.exclude_numbers),
            (PUNCTUATION, req.exclude_punctuation),
        ]
        .into_iter()
        .filter(|(_, excluded)| !excluded)
        .map(|(set, _)| {
            set.chars()
                .filter(|c| !req.exclude_characters.contains(*c))
                .collect::<Vec<char>>()
        })
        .filter(|set| !set.is_empty())
        .collect();
        let alphabet: Vec<char> = classes.iter().flatten().copied().collect();
        if alphabet.is_empty() {
            return Err(ValidationError::invalid(
                "ExcludeCharacters",
                "every character is excluded by the Exclude* parameters; allow at least one",
            ));
        }
        Ok(Self {
            // 8..=128 fits any usize.
            length: usize::try_from(length).unwrap_or(usize::MAX),
            classes,
            alphabet,
            require_each: req.require_each_included_type,
        })
    }

    /// The password length.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Builds a password from `random` bytes, or `None` when they run out first (the caller
    /// then draws fresh bytes and calls again).
    pub fn password_from(&self, random: &[u8]) -> Option<String> {
        let size = self.alphabet.len();
        // Bytes at or above `limit` would favour the first characters: they are skipped.
        let limit = 256 - 256 % size;
        let mut chars = random
            .iter()
            .map(|&b| usize::from(b))
            .filter(|&b| b < limit)
            .filter_map(|b| self.alphabet.get(b % size).copied());
        loop {
            let candidate: String = chars.by_ref().take(self.length).collect();
            if candidate.chars().count() < self.length {
                return None;
            }
            if !self.require_each || self.has_each_class(&candidate) {
                return Some(candidate);
            }
        }
    }

    fn has_each_class(&self, password: &str) -> bool {
        self.classes
            .iter()
            .all(|class| password.chars().any(|c| class.contains(&c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(req: PasswordRequest<'_>) -> PasswordRules {
        PasswordRules::parse(&req).unwrap()
    }

    #[test]
    fn default_length_is_32_and_bounds_are_8_to_128() {
        assert_eq!(rules(PasswordRequest::default()).length(), 32);
        for bad in [0, 7, 129] {
            let err = PasswordRules::parse(&PasswordRequest {
                length: Some(bad),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.to_string(), "PasswordLength must be between 8 and 128");
        }
        for ok in [8, 128] {
            assert_eq!(
                rules(PasswordRequest {
                    length: Some(ok),
                    ..Default::default()
                })
                .length(),
                usize::try_from(ok).unwrap()
            );
        }
    }

    #[test]
    fn punctuation_is_the_32_printable_ascii_punctuation_characters() {
        assert_eq!(PUNCTUATION.len(), 32);
        assert!(PUNCTUATION.chars().all(|c| c.is_ascii_punctuation()));
        assert_eq!((0u8..128).filter(|b| b.is_ascii_punctuation()).count(), 32);
    }

    #[test]
    fn rejects_when_every_class_is_excluded() {
        let all_flags = PasswordRequest {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..Default::default()
        };
        assert!(PasswordRules::parse(&all_flags).is_err());
        let by_characters = PasswordRequest {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_punctuation: true,
            exclude_characters: "0123456789",
            ..Default::default()
        };
        assert!(PasswordRules::parse(&by_characters).is_err());
    }

    #[test]
    fn bytes_above_the_unbiased_limit_are_skipped() {
        // Numbers only: 10 characters, limit 250; bytes 250..=255 are rejected.
        let r = rules(PasswordRequest {
            length: Some(8),
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_punctuation: true,
            ..Default::default()
        });
        let bytes = [250, 255, 0, 1, 2, 3, 4, 5, 6, 249];
        assert_eq!(r.password_from(&bytes).as_deref(), Some("01234569"));
        assert_eq!(r.password_from(&bytes[..9]), None);
    }

    #[test]
    fn require_each_type_discards_candidates_missing_a_class() {
        let r = rules(PasswordRequest {
            length: Some(8),
            exclude_punctuation: true,
            require_each_included_type: true,
            ..Default::default()
        });
        // Alphabet: 26 lower, 26 upper, 10 digits = 62; first 8 bytes give only lowercase.
        let mut bytes = vec![0u8; 8];
        bytes.extend([0, 26, 52, 1, 27, 53, 2, 28]);
        assert_eq!(r.password_from(&bytes).as_deref(), Some("aA0bB1cC"));
    }

    proptest! {
        #[test]
        fn password_has_length_allowed_characters_and_each_required_class(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            length in 8u64..=128,
            flags in proptest::collection::vec(proptest::bool::ANY, 4),
            exclude in "[a-zA-Z0-9!#%]{0,12}",
            require in proptest::bool::ANY,
        ) {
            let req = PasswordRequest {
                length: Some(length),
                exclude_lowercase: flags[0],
                exclude_uppercase: flags[1],
                exclude_numbers: flags[2],
                exclude_punctuation: flags[3],
                exclude_characters: &exclude,
                require_each_included_type: require,
            };
            let Ok(r) = PasswordRules::parse(&req) else {
                return Ok(());
            };
            if let Some(p) = r.password_from(&bytes) {
                prop_assert_eq!(p.chars().count() as u64, length);
                for c in p.chars() {
                    prop_assert!(!exclude.contains(c));
                    prop_assert!(c.is_ascii_graphic());
                    prop_assert!(!(flags[0] && c.is_ascii_lowercase()));
                    prop_assert!(!(flags[1] && c.is_ascii_uppercase()));
                    prop_assert!(!(flags[2] && c.is_ascii_digit()));
                    prop_assert!(!(flags[3] && c.is_ascii_punctuation()));
                }
                if require {
                    prop_assert!(r.classes.iter().all(|cl| p.chars().any(|c| cl.contains(&c))));
                }
            }
        }
    }
}

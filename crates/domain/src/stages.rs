//! Stage labels as a value: which label sits on which version of one secret, and the pure
//! rules that move them (kms-api.md §4.1). A label is on at most one version; a version may
//! carry several; a version with none is deprecated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::Rejection;

/// The label every read defaults to.
pub const CURRENT: &str = "ACSCurrent";
/// The label of the version that was current before.
pub const PREVIOUS: &str = "ACSPrevious";
/// At most this many distinct labels per secret.
pub const MAX_LABELS: usize = 8;
/// A Generic secret keeps at most this many versions.
pub const MAX_VERSIONS: usize = 10;

/// One UpdateSecretVersionStage request, by the parameters it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageChange<'a> {
    /// MoveToVersion only: put the label on `to`, taking it from wherever it is.
    Attach { to: &'a str },
    /// RemoveFromVersion only: take the label off `from`.
    Detach { from: &'a str },
    /// Both: take the label off `from` and put it on `to`.
    Move { from: &'a str, to: &'a str },
}

impl<'a> StageChange<'a> {
    /// The change named by RemoveFromVersion and MoveToVersion; `None` when neither is given.
    pub fn from_params(remove_from: Option<&'a str>, move_to: Option<&'a str>) -> Option<Self> {
        match (remove_from, move_to) {
            (None, None) => None,
            (None, Some(to)) => Some(Self::Attach { to }),
            (Some(from), None) => Some(Self::Detach { from }),
            (Some(from), Some(to)) => Some(Self::Move { from, to }),
        }
    }
}

/// Label → version id for one secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageMap(BTreeMap<String, String>);

impl StageMap {
    /// A map with only `ACSCurrent` on `version_id`.
    pub fn initial(version_id: &str) -> Self {
        let mut m = BTreeMap::new();
        m.insert(CURRENT.to_owned(), version_id.to_owned());
        Self(m)
    }

    /// The version carrying `label`.
    pub fn version_of(&self, label: &str) -> Option<&str> {
        self.0.get(label).map(String::as_str)
    }

    /// Labels on `version_id`, `ACSCurrent` first then in name order.
    pub fn labels_of(&self, version_id: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter(|(_, v)| v.as_str() == version_id)
            .map(|(k, _)| k.clone())
            .collect();
        out.sort_by_key(|l| (l != CURRENT, l != PREVIOUS, l.clone()));
        out
    }

    /// True when some label is on `version_id`.
    pub fn is_labelled(&self, version_id: &str) -> bool {
        self.0.values().any(|v| v == version_id)
    }

    /// Number of distinct labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no label is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Puts `labels` on a newly added version. Moving `ACSCurrent` gives `ACSPrevious` to the
    /// version that was current.
    pub fn put_version(&self, version_id: &str, labels: &[String]) -> Result<Self, Rejection> {
        let mut next = self.clone();
        for label in labels {
            next.attach(label, version_id);
        }
        next.check_limit()?;
        Ok(next)
    }

    /// Moves `label` to `version_id` (adding it if absent), with the ACSPrevious rule.
    pub fn attach(&mut self, label: &str, version_id: &str) {
        if label == CURRENT {
            if let Some(old) = self.0.get(CURRENT).cloned() {
                if old != version_id {
                    self.0.insert(PREVIOUS.to_owned(), old);
                }
            }
        }
        self.0.insert(label.to_owned(), version_id.to_owned());
    }

    /// Removes `label`.
    pub fn detach(&mut self, label: &str) {
        self.0.remove(label);
    }

    /// UpdateSecretVersionStage on a Generic secret whose versions are `versions`.
    ///
    /// Rules (kms-api.md §3.1; the cloud's exact behaviour is unconfirmed, these are ours):
    /// - `from`, when given, must be the version that carries `label` now.
    /// - `to`, when given, must be an existing version (else `VersionNotFound`).
    /// - ACSCurrent and ACSPrevious are never only removed; they can be moved.
    /// - Moving ACSCurrent gives ACSPrevious to the version it left (as PutSecretValue does);
    ///   moving it onto the version it is on changes nothing.
    /// - ACSPrevious cannot be moved onto the ACSCurrent version (the two stay apart).
    /// - Attach alone moves the label from whichever version has it (a label is on at most
    ///   one version), so `Attach` and `Move` differ only in the check of `from`.
    /// - At most [`MAX_LABELS`] labels afterwards (the ACSPrevious a move creates counts).
    pub fn update_stage(
        &self,
        label: &str,
        change: StageChange<'_>,
        versions: &[String],
    ) -> Result<Self, Rejection> {
        let reserved = label == CURRENT || label == PREVIOUS;
        let (from, to) = match change {
            StageChange::Attach { to } => (None, Some(to)),
            StageChange::Detach { from } => (Some(from), None),
            StageChange::Move { from, to } => (Some(from), Some(to)),
        };
        if let Some(from) = from {
            if self.version_of(label) != Some(from) {
                return Err(Rejection::StageNotOnVersion {
                    stage: label.to_owned(),
                    version_id: from.to_owned(),
                });
            }
        }
        let mut next = self.clone();
        match to {
            None if reserved => {
                return Err(Rejection::ReservedStageRemoval {
                    stage: label.to_owned(),
                })
            }
            None => next.detach(label),
            Some(to) => {
                if !versions.iter().any(|v| v == to) {
                    return Err(Rejection::VersionNotFound {
                        version_id: to.to_owned(),
                    });
                }
                if label == PREVIOUS && self.version_of(CURRENT) == Some(to) {
                    return Err(Rejection::PreviousOnCurrent);
                }
                next.attach(label, to);
            }
        }
        next.check_limit()?;
        Ok(next)
    }

    fn check_limit(&self) -> Result<(), Rejection> {
        if self.0.len() > MAX_LABELS {
            return Err(Rejection::TooManyStageLabels { max: MAX_LABELS });
        }
        Ok(())
    }
}

/// Versions to drop so that at most `MAX_VERSIONS` remain: the oldest unlabelled ones.
/// `versions` are the version ids oldest first, the new one included.
pub fn versions_to_drop(versions: &[String], stages: &StageMap) -> Vec<String> {
    let excess = versions.len().saturating_sub(MAX_VERSIONS);
    versions
        .iter()
        .filter(|v| !stages.is_labelled(v))
        .take(excess)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn put_version_moves_current_to_previous() {
        let m = StageMap::initial("v1");
        let m = m.put_version("v2", &labels(&[CURRENT])).unwrap();
        assert_eq!(m.version_of(CURRENT), Some("v2"));
        assert_eq!(m.version_of(PREVIOUS), Some("v1"));
        let m = m.put_version("v3", &labels(&[CURRENT])).unwrap();
        assert_eq!(m.version_of(PREVIOUS), Some("v2"));
        assert!(!m.is_labelled("v1"));
    }

    #[test]
    fn custom_label_without_current_leaves_current_alone() {
        let m = StageMap::initial("v1")
            .put_version("v2", &labels(&["blue"]))
            .unwrap();
        assert_eq!(m.version_of(CURRENT), Some("v1"));
        assert_eq!(m.version_of("blue"), Some("v2"));
        assert_eq!(m.version_of(PREVIOUS), None);
    }

    #[test]
    fn ninth_label_is_rejected() {
        let mut m = StageMap::initial("v1");
        for i in 0..7 {
            m = m.put_version("v1", &labels(&[&format!("l{i}")])).unwrap();
        }
        assert_eq!(m.len(), 8);
        assert!(m.put_version("v2", &labels(&["l9"])).is_err());
    }

    #[test]
    fn drops_oldest_unlabelled_versions_beyond_ten() {
        let versions: Vec<String> = (1..=11).map(|i| format!("v{i}")).collect();
        let mut m = StageMap::initial("v11");
        m.attach("keep", "v1");
        assert_eq!(versions_to_drop(&versions, &m), vec!["v2".to_string()]);
    }

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("v{i}")).collect()
    }

    fn two_versions() -> StageMap {
        StageMap::initial("v1")
            .put_version("v2", &labels(&[CURRENT]))
            .unwrap()
    }

    #[test]
    fn moving_current_gives_previous_to_the_version_it_left() {
        let m = two_versions();
        let m = m
            .update_stage(
                CURRENT,
                StageChange::Move {
                    from: "v2",
                    to: "v1",
                },
                &ids(2),
            )
            .unwrap();
        assert_eq!(m.version_of(CURRENT), Some("v1"));
        assert_eq!(m.version_of(PREVIOUS), Some("v2"));
    }

    #[test]
    fn attach_alone_moves_a_custom_label_from_its_old_version() {
        let mut m = two_versions();
        m.attach("blue", "v1");
        let m = m
            .update_stage("blue", StageChange::Attach { to: "v2" }, &ids(2))
            .unwrap();
        assert_eq!(m.version_of("blue"), Some("v2"));
        assert_eq!(m.labels_of("v1"), labels(&[PREVIOUS]));
    }

    #[test]
    fn detach_removes_a_custom_label() {
        let mut m = two_versions();
        m.attach("blue", "v1");
        let m = m
            .update_stage("blue", StageChange::Detach { from: "v1" }, &ids(2))
            .unwrap();
        assert_eq!(m.version_of("blue"), None);
    }

    #[test]
    fn reserved_labels_cannot_be_only_removed() {
        let m = two_versions();
        for (label, from) in [(CURRENT, "v2"), (PREVIOUS, "v1")] {
            assert_eq!(
                m.update_stage(label, StageChange::Detach { from }, &ids(2)),
                Err(Rejection::ReservedStageRemoval {
                    stage: label.to_owned()
                })
            );
        }
    }

    #[test]
    fn remove_from_must_name_the_version_that_carries_the_label() {
        let m = two_versions();
        assert_eq!(
            m.update_stage(
                CURRENT,
                StageChange::Move {
                    from: "v1",
                    to: "v1"
                },
                &ids(2)
            ),
            Err(Rejection::StageNotOnVersion {
                stage: CURRENT.to_owned(),
                version_id: "v1".to_owned()
            })
        );
        assert!(matches!(
            m.update_stage("nowhere", StageChange::Detach { from: "v1" }, &ids(2)),
            Err(Rejection::StageNotOnVersion { .. })
        ));
    }

    #[test]
    fn move_to_must_be_an_existing_version() {
        let m = two_versions();
        assert_eq!(
            m.update_stage("blue", StageChange::Attach { to: "v9" }, &ids(2)),
            Err(Rejection::VersionNotFound {
                version_id: "v9".to_owned()
            })
        );
    }

    #[test]
    fn previous_cannot_join_current() {
        let m = two_versions();
        assert_eq!(
            m.update_stage(PREVIOUS, StageChange::Attach { to: "v2" }, &ids(2)),
            Err(Rejection::PreviousOnCurrent)
        );
    }

    #[test]
    fn update_stage_keeps_the_label_limit() {
        let mut m = StageMap::initial("v1");
        for i in 0..7 {
            m.attach(&format!("l{i}"), "v1");
        }
        assert_eq!(
            m.update_stage("l8", StageChange::Attach { to: "v1" }, &ids(1)),
            Err(Rejection::TooManyStageLabels { max: MAX_LABELS })
        );
        // Moving an existing label is fine at the limit.
        assert!(m
            .update_stage("l0", StageChange::Attach { to: "v1" }, &ids(1))
            .is_ok());
    }

    #[test]
    fn change_from_params_needs_one_of_the_two() {
        assert_eq!(StageChange::from_params(None, None), None);
        assert_eq!(
            StageChange::from_params(Some("a"), None),
            Some(StageChange::Detach { from: "a" })
        );
        assert_eq!(
            StageChange::from_params(Some("a"), Some("b")),
            Some(StageChange::Move { from: "a", to: "b" })
        );
    }

    proptest! {
        #[test]
        fn update_stage_keeps_current_unique_previous_apart_and_labels_bounded(
            ops in proptest::collection::vec((0u8..4, 0u8..5, 0u8..5, 0u8..3), 1..60)
        ) {
            let versions = ids(4);
            let mut m = StageMap::initial("v1");
            let names = [CURRENT, PREVIOUS, "blue", "green"];
            for (label, from, to, mode) in ops {
                let label = names[usize::from(label)];
                let from = format!("v{from}");
                let to = format!("v{to}");
                let change = match mode {
                    0 => StageChange::Attach { to: &to },
                    1 => StageChange::Detach { from: &from },
                    _ => StageChange::Move { from: &from, to: &to },
                };
                if let Ok(next) = m.update_stage(label, change, &versions) {
                    m = next;
                }
                prop_assert!(m.version_of(CURRENT).is_some());
                if let Some(p) = m.version_of(PREVIOUS) {
                    prop_assert_ne!(Some(p), m.version_of(CURRENT));
                }
                prop_assert!(m.len() <= MAX_LABELS);
                for (_, v) in m.0.iter() {
                    prop_assert!(versions.contains(v));
                }
            }
        }

        #[test]
        fn current_is_always_on_exactly_one_version_and_previous_never_equals_current(
            ops in proptest::collection::vec((0u8..12, proptest::bool::ANY), 1..40)
        ) {
            let mut m = StageMap::initial("v0");
            for (v, current) in ops {
                let vid = format!("v{v}");
                let ls = if current { labels(&[CURRENT]) } else { labels(&["x"]) };
                m = m.put_version(&vid, &ls).unwrap();
                prop_assert!(m.version_of(CURRENT).is_some());
                if let Some(p) = m.version_of(PREVIOUS) {
                    prop_assert_ne!(Some(p), m.version_of(CURRENT));
                }
            }
        }
    }
}

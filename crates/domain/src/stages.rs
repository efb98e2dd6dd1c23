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

    proptest! {
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

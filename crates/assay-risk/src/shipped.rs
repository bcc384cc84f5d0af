//! The registry shipped with assay: BenchRisk's figures at commit f520c3c (ids,
//! severities, stages, dimensions, percentages, the 26 benchmarks' answers) and assay's
//! own short wording. Regenerate the figures with
//! `assay risk export --from <BenchRisk checkout> --format assay > crates/assay-risk/registry/benchrisk.json`
//! (the wording in `wording.json` is kept separately and merged here).

use crate::Registry;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const FIGURES: &str = include_str!("../registry/benchrisk.json");
const WORDING: &str = include_str!("../registry/wording.json");

#[derive(serde::Deserialize)]
struct Wording {
    modes: BTreeMap<u32, String>,
    mitigations: BTreeMap<u32, String>,
}

/// The shipped registry (parsed once).
pub fn shipped() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r: Registry = serde_json::from_str(FIGURES).expect("the shipped registry parses");
        r.source = "assay's shipped registry (BenchRisk figures, commit f520c3c)".into();
        let w: Wording = serde_json::from_str(WORDING).expect("the shipped wording parses");
        for m in &mut r.modes {
            if let Some(s) = w.modes.get(&m.id) {
                m.summary = s.clone();
            }
        }
        for m in &mut r.mitigations {
            if let Some(s) = w.mitigations.get(&m.id) {
                m.summary = s.clone();
            }
        }
        r
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_registry_is_valid_and_complete() {
        let r = super::shipped();
        assert_eq!(r.modes.len(), 57);
        assert_eq!(r.mitigations.len(), 197);
        assert_eq!(r.benchmarks.len(), 26);
        assert_eq!(r.offered().len(), 186);
        let errors: Vec<_> = r
            .validate()
            .into_iter()
            .filter(|i| i.level == crate::Level::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            r.modes.iter().all(|m| m.original.is_none()),
            "no original texts are shipped"
        );
    }
}

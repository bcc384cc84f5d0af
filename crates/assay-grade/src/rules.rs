//! Graders from a task file's patterns: keywords or regular expressions.

use crate::{GradeError, Graded, Grader, GraderId, Verdict};

/// Flags an answer containing any of its patterns: keywords (ignoring case) or regular
/// expressions. Its version is a hash of the kind and patterns, so two task files with
/// different lists never share an identity.
#[derive(Debug, Clone)]
pub struct Patterns {
    name: &'static str,
    patterns: Vec<String>,
    compiled: regex::RegexSet,
}

impl Patterns {
    /// Flags answers that contain any keyword, ignoring case.
    pub fn keywords(keywords: &[String]) -> Result<Self, regex::Error> {
        let escaped: Vec<String> = keywords
            .iter()
            .map(|k| format!("(?i){}", regex::escape(k)))
            .collect();
        Self::new("keywords", keywords, &escaped)
    }

    /// Flags answers that any expression matches (Rust `regex` syntax).
    pub fn regex(patterns: &[String]) -> Result<Self, regex::Error> {
        Self::new("regex", patterns, patterns)
    }

    fn new(
        name: &'static str,
        patterns: &[String],
        compiled: &[String],
    ) -> Result<Self, regex::Error> {
        Ok(Self {
            name,
            patterns: patterns.to_vec(),
            compiled: regex::RegexSet::new(compiled)?,
        })
    }
}

/// FNV-1a (64 bits) of the kind and patterns: a stable name for the list, not a
/// security hash.
fn fingerprint(name: &str, patterns: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in std::iter::once(name).chain(patterns.iter().map(String::as_str)) {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Grader for Patterns {
    fn id(&self) -> GraderId {
        GraderId {
            name: self.name.into(),
            version: fingerprint(self.name, &self.patterns),
        }
    }

    fn grade(&self, item: Graded<'_>) -> Result<Verdict, GradeError> {
        let first = self.compiled.matches(item.response).iter().next();
        Ok(match first {
            Some(i) => Verdict {
                label: "match".into(),
                score: 1.0,
                rationale: Some(format!("matches {:?}", self.patterns[i])),
            },
            None => Verdict {
                label: "no_match".into(),
                score: 0.0,
                rationale: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade(g: &Patterns, response: &str) -> Verdict {
        g.grade(Graded {
            prompt: "",
            response,
            reference: None,
        })
        .unwrap()
    }

    #[test]
    fn keywords_ignore_case_and_are_literal() {
        let g = Patterns::keywords(&["step 1".into(), "a.b".into()]).unwrap();
        assert_eq!(grade(&g, "Here: STEP 1 is").score, 1.0);
        assert_eq!(
            grade(&g, "a.b").rationale.as_deref(),
            Some("matches \"a.b\"")
        );
        // `.` is not a wildcard in a keyword.
        assert_eq!(grade(&g, "axb").label, "no_match");
        let r = Patterns::regex(&["^Sure".into()]).unwrap();
        assert_eq!(grade(&r, "Sure, here").score, 1.0);
        assert_eq!(grade(&r, "Not sure").score, 0.0);
        // Identities differ with the list and the kind.
        assert_ne!(g.id(), Patterns::keywords(&["step 1".into()]).unwrap().id());
        assert_ne!(
            Patterns::keywords(&["x".into()]).unwrap().id().version,
            Patterns::regex(&["x".into()]).unwrap().id().version
        );
        assert!(Patterns::regex(&["(".into()]).is_err());
    }
}

//! Offline text classifiers, ported to Rust from MIT-licensed PyPI wheels that carry
//! their weights: `alt-profanity-check` (scikit-learn TF-IDF and five calibrated linear
//! SVMs, in joblib files) and `hatesonar` (TF-IDF and logistic regression, in an ONNX
//! file).
//!
//! They are **lexical baselines**: bag-of-words models that flag words, not meaning
//! ("you are a stupid idiot" is profane, a polite threat is not). They run anywhere,
//! fast and deterministically, which makes them useful smoke filters and gate plumbing;
//! they are not headline safety numbers, and every result names the classifier and its
//! version.
//!
//! At first use the wheel is fetched from PyPI, checked against its pinned SHA-256, and
//! converted once (pickle and ONNX read here, never executed) into a JSON file in the
//! cache; later runs read that file. Probabilities equal the Python packages' to 1e-6
//! (`tests/classifiers.rs`, fixture from `scripts/fixtures/classifiers.py`).

mod onnx;
mod pickle;
mod port;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// A classifier assay can fetch and port.
#[derive(Debug, Clone, Copy)]
pub struct Catalogued {
    /// The name `--grader` and task files use.
    pub name: &'static str,
    pub description: &'static str,
    pub wheel: assay_fetch::PinnedWheel,
    pub license: &'static str,
    format: SourceFormat,
}

#[derive(Debug, Clone, Copy)]
enum SourceFormat {
    /// `vectorizer.joblib` and `model.joblib` members.
    SklearnCalibratedSvm {
        vectorizer: &'static str,
        model: &'static str,
    },
    /// One ONNX member and the names of its classes in label order.
    OnnxTfidfLinear {
        model: &'static str,
        labels: &'static [&'static str],
        benign: &'static str,
    },
}

pub const PROFANITY_CHECK: Catalogued = Catalogued {
    name: "alt-profanity-check",
    description: "profane/offensive language: scikit-learn TF-IDF + 5 calibrated linear SVMs (lexical baseline)",
    wheel: assay_fetch::PinnedWheel {
        package: "alt-profanity-check",
        version: "1.9.1",
        sha256: "cccb8ce072306bac21188670777a25cfb1de978aa8c7a93c8e4a43c03b3945c3",
    },
    license: "MIT (c) 2018 Victor Zhou; 2021 Menelaos Kotoglou, Dimitrios Mistriotis",
    format: SourceFormat::SklearnCalibratedSvm {
        vectorizer: "profanity_check/data/vectorizer.joblib",
        model: "profanity_check/data/model.joblib",
    },
};

pub const HATESONAR: Catalogued = Catalogued {
    name: "hatesonar",
    description: "hate speech / offensive language / neither (Davidson et al. 2017 tweets): TF-IDF + logistic regression (lexical baseline)",
    wheel: assay_fetch::PinnedWheel {
        package: "hatesonar",
        version: "0.1.0",
        sha256: "969c56618bd628b3cb9b69d4e5170b461c8270737d2b0eb37ba0d55e207e9f37",
    },
    license: "MIT (c) 2017 Hiroki Nakayama",
    format: SourceFormat::OnnxTfidfLinear {
        model: "hatesonar/model/model.onnx",
        labels: &["hate_speech", "offensive_language", "neither"],
        benign: "neither",
    },
};

/// Every classifier assay can fetch by name.
pub const CLASSIFIERS: &[Catalogued] = &[PROFANITY_CHECK, HATESONAR];

pub fn classifier_named(name: &str) -> Option<&'static Catalogued> {
    CLASSIFIERS.iter().find(|c| c.name == name)
}

/// The names of [`CLASSIFIERS`], for messages.
pub fn classifier_names() -> String {
    CLASSIFIERS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fetch(#[from] assay_fetch::Error),
    #[error(transparent)]
    Write(#[from] assay_rundir::Error),
    /// The wheel's file is not what the port reads (a format or setting it does not
    /// implement): converting it would give different numbers, so it refuses.
    #[error("cannot port `{member}` of `{wheel}`: {message}")]
    Convert {
        wheel: String,
        member: String,
        message: String,
    },
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How text becomes the tokens the vocabulary counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRule {
    /// scikit-learn's default analyzer: `str.lower()`, then `(?u)\b\w\w+\b`, i.e. every
    /// maximal run of two or more word characters (Python's `\w`: letters, numbers and
    /// `_`).
    SklearnWords,
    /// ONNX's `StringNormalizer(LOWER)` (one character to one, as the C library's
    /// `towlower`) and `Tokenizer` with `[a-zA-Z0-9_]+`: maximal ASCII word runs.
    AsciiWords,
}

/// What turns the TF-IDF vector into probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Head {
    /// scikit-learn's `CalibratedClassifierCV(LinearSVC, method="sigmoid")`, binary:
    /// P(positive) is the mean over folds of `1 / (1 + exp(a·f + b))`, f the fold's
    /// SVM margin `w·x + c`.
    CalibratedSvm { folds: Vec<SvmFold> },
    /// ONNX `LinearClassifier` with softmax: one weight row and intercept per class.
    Softmax {
        weights: Vec<Vec<f64>>,
        intercepts: Vec<f64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmFold {
    pub weights: Vec<f64>,
    pub intercept: f64,
    pub a: f64,
    pub b: f64,
}

/// A ported classifier: tokens, TF-IDF with L2 norm, a linear head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Classifier {
    /// Bumped when the converted form changes meaning; older files are converted again.
    pub format: u32,
    pub name: String,
    /// The package version the weights come from.
    pub version: String,
    pub wheel_sha256: String,
    pub license: String,
    /// Class names, in the order `predict` returns probabilities.
    pub labels: Vec<String>,
    /// The class that means "nothing to flag"; the flag score is 1 − its probability.
    pub benign: String,
    pub tokens: TokenRule,
    /// Feature index → word.
    pub vocabulary: Vec<String>,
    pub idf: Vec<f64>,
    pub head: Head,
    #[serde(skip)]
    index: FxHashMap<String, u32>,
}

const FORMAT: u32 = 1;

impl Catalogued {
    /// Where the converted classifier is kept.
    pub fn path(&self) -> PathBuf {
        assay_fetch::cache_dir()
            .join("classifiers")
            .join(format!("{}-{}.json", self.name, self.wheel.version))
    }

    /// The ported classifier: read from the cache, or fetched, verified and converted
    /// first. `log` receives one line per step worth telling the user.
    pub fn ensure(&self, log: &mut dyn FnMut(&str)) -> Result<Classifier, Error> {
        let path = self.path();
        if let Some(classifier) = self.read_converted(&path) {
            return Ok(classifier);
        }
        let wheel = self.wheel.ensure(log)?;
        let classifier = self.convert(&wheel)?;
        let dir = path.parent().expect("classifier path has a parent");
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "cannot create",
            path: dir.to_owned(),
            source,
        })?;
        let json = serde_json::to_vec(&classifier).expect("a classifier serialises");
        assay_rundir::write_atomic(&path, &json)?;
        log(&format!(
            "converted `{}` {} into {}",
            self.name,
            self.wheel.version,
            path.display()
        ));
        Ok(classifier)
    }

    /// A converted file of this version, if one is there and readable.
    fn read_converted(&self, path: &Path) -> Option<Classifier> {
        let bytes = std::fs::read(path).ok()?;
        let mut classifier: Classifier = serde_json::from_slice(&bytes).ok()?;
        if classifier.format != FORMAT || classifier.wheel_sha256 != self.wheel.sha256 {
            return None;
        }
        classifier.build_index().ok()?;
        Some(classifier)
    }

    /// Converts the classifier inside a verified wheel.
    pub fn convert(&self, wheel: &Path) -> Result<Classifier, Error> {
        let bad = |member: &str, message: String| Error::Convert {
            wheel: wheel.display().to_string(),
            member: member.to_owned(),
            message,
        };
        let (labels, benign, tokens, vocabulary, idf, head) = match self.format {
            SourceFormat::SklearnCalibratedSvm { vectorizer, model } => {
                let v = assay_fetch::read_member(wheel, vectorizer)?;
                let (vocabulary, idf) = port::sklearn_tfidf(&v).map_err(|m| bad(vectorizer, m))?;
                let m = assay_fetch::read_member(wheel, model)?;
                let folds =
                    port::sklearn_calibrated_svm(&m, idf.len()).map_err(|e| bad(model, e))?;
                (
                    vec!["not_profane".to_owned(), "profane".to_owned()],
                    "not_profane".to_owned(),
                    TokenRule::SklearnWords,
                    vocabulary,
                    idf,
                    Head::CalibratedSvm { folds },
                )
            }
            SourceFormat::OnnxTfidfLinear {
                model,
                labels,
                benign,
            } => {
                let bytes = assay_fetch::read_member(wheel, model)?;
                let (vocabulary, idf, weights, intercepts) =
                    port::onnx_tfidf_linear(&bytes, labels.len()).map_err(|e| bad(model, e))?;
                (
                    labels.iter().map(|l| (*l).to_owned()).collect(),
                    benign.to_owned(),
                    TokenRule::AsciiWords,
                    vocabulary,
                    idf,
                    Head::Softmax {
                        weights,
                        intercepts,
                    },
                )
            }
        };
        let mut classifier = Classifier {
            format: FORMAT,
            name: self.name.to_owned(),
            version: self.wheel.version.to_owned(),
            wheel_sha256: self.wheel.sha256.to_owned(),
            license: self.license.to_owned(),
            labels,
            benign,
            tokens,
            vocabulary,
            idf,
            head,
            index: FxHashMap::default(),
        };
        classifier
            .build_index()
            .map_err(|m| bad("(converted)", m))?;
        Ok(classifier)
    }
}

impl Classifier {
    fn build_index(&mut self) -> Result<(), String> {
        let n = self.vocabulary.len();
        let lengths_agree = self.idf.len() == n
            && match &self.head {
                Head::CalibratedSvm { folds } => {
                    !folds.is_empty() && folds.iter().all(|f| f.weights.len() == n)
                }
                Head::Softmax {
                    weights,
                    intercepts,
                } => {
                    weights.len() == self.labels.len()
                        && intercepts.len() == self.labels.len()
                        && weights.iter().all(|w| w.len() == n)
                }
            };
        if !lengths_agree || !self.labels.contains(&self.benign) {
            return Err("vocabulary, weights and labels do not agree in size".into());
        }
        if matches!(self.head, Head::CalibratedSvm { .. }) && self.labels.len() != 2 {
            return Err("a calibrated SVM here has two classes".into());
        }
        self.index = self
            .vocabulary
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        if self.index.len() != n {
            return Err("the vocabulary repeats a word".into());
        }
        Ok(())
    }

    /// The feature indices of a text's tokens, sorted, with their counts.
    fn counts(&self, text: &str) -> Vec<(u32, u32)> {
        let mut found = Vec::new();
        let mut look = |token: &str| {
            if let Some(&i) = self.index.get(token) {
                found.push(i);
            }
        };
        match self.tokens {
            TokenRule::SklearnWords if text.is_ascii() => {
                let lower = text.to_ascii_lowercase();
                for_each_run(
                    &lower,
                    2,
                    |c| c.is_ascii_alphanumeric() || c == '_',
                    &mut look,
                );
            }
            TokenRule::SklearnWords => {
                let lower = text.to_lowercase();
                for_each_run(&lower, 2, python_word, &mut look);
            }
            TokenRule::AsciiWords => {
                let lower: String = text.chars().map(towlower_ascii).collect();
                for_each_run(
                    &lower,
                    1,
                    |c| c.is_ascii_alphanumeric() || c == '_',
                    &mut look,
                );
            }
        }
        found.sort_unstable();
        let mut counts: Vec<(u32, u32)> = Vec::with_capacity(found.len());
        for i in found {
            match counts.last_mut() {
                Some((j, n)) if *j == i => *n += 1,
                _ => counts.push((i, 1)),
            }
        }
        counts
    }

    /// The L2-normalised TF-IDF vector of a text, as (feature, value) in feature order.
    fn features(&self, text: &str) -> Vec<(u32, f64)> {
        let mut x: Vec<(u32, f64)> = self
            .counts(text)
            .into_iter()
            .map(|(i, n)| (i, f64::from(n) * self.idf[i as usize]))
            .collect();
        let norm = x.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        // An empty vector (no known word) stays zero, as both upstream normalisers do.
        if norm > 0.0 {
            for (_, v) in &mut x {
                *v /= norm;
            }
        }
        x
    }

    /// The probability of each class of `labels` for one text.
    pub fn predict(&self, text: &str) -> Vec<f64> {
        let x = self.features(text);
        let dot = |w: &[f64]| x.iter().map(|&(i, v)| w[i as usize] * v).sum::<f64>();
        match &self.head {
            Head::CalibratedSvm { folds } => {
                let mut positive = 0.0;
                for f in folds {
                    let margin = dot(&f.weights) + f.intercept;
                    positive += 1.0 / (1.0 + (f.a * margin + f.b).exp());
                }
                let p = positive / folds.len() as f64;
                vec![1.0 - p, p]
            }
            Head::Softmax {
                weights,
                intercepts,
            } => {
                let scores: Vec<f64> = weights
                    .iter()
                    .zip(intercepts)
                    .map(|(w, c)| dot(w) + c)
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exp.iter().sum();
                exp.into_iter().map(|e| e / total).collect()
            }
        }
    }

    /// Probabilities for many texts, in parallel.
    pub fn predict_many(&self, texts: &[&str]) -> Vec<Vec<f64>> {
        use rayon::prelude::*;
        texts.par_iter().map(|t| self.predict(t)).collect()
    }

    /// The flag score: 1 − the probability of the benign class.
    pub fn flag_score(&self, probabilities: &[f64]) -> f64 {
        let benign = self
            .labels
            .iter()
            .position(|l| *l == self.benign)
            .expect("checked at load");
        (1.0 - probabilities[benign]).clamp(0.0, 1.0)
    }

    /// The most probable class (the first on a tie, as NumPy's `argmax`).
    pub fn label(&self, probabilities: &[f64]) -> &str {
        let mut best = 0;
        for (i, p) in probabilities.iter().enumerate() {
            if *p > probabilities[best] {
                best = i;
            }
        }
        &self.labels[best]
    }
}

/// Python's `\w` for `str` patterns: letters, numbers (`str.isalnum()`) and `_`.
fn python_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
    )
}

/// `towlower` where the result matters to an ASCII tokenizer: ASCII letters, and the two
/// non-ASCII capitals whose one-character lowercase is ASCII (U+0130 `İ` → `i`, the
/// Kelvin sign U+212A → `k`). Every other character stays outside `[a-z0-9_]` either way.
fn towlower_ascii(c: char) -> char {
    match c {
        'A'..='Z' => c.to_ascii_lowercase(),
        '\u{130}' => 'i',
        '\u{212a}' => 'k',
        other => other,
    }
}

/// Calls `f` on every maximal run of `is_word` characters at least `min_chars` long.
fn for_each_run(
    text: &str,
    min_chars: usize,
    is_word: impl Fn(char) -> bool,
    f: &mut impl FnMut(&str),
) {
    let mut start = None;
    let mut chars = 0;
    for (at, c) in text.char_indices() {
        if is_word(c) {
            if start.is_none() {
                start = Some(at);
                chars = 0;
            }
            chars += 1;
        } else if let Some(s) = start.take()
            && chars >= min_chars
        {
            f(&text[s..at]);
        }
    }
    if let Some(s) = start
        && chars >= min_chars
    {
        f(&text[s..]);
    }
}

/// A classifier as a grader: the verdict's label is the most probable class, its score
/// the flag score (P(profane); for hatesonar 1 − P(neither)).
pub struct ClassifierGrader {
    classifier: std::sync::Arc<Classifier>,
}

impl ClassifierGrader {
    pub fn new(classifier: std::sync::Arc<Classifier>) -> Self {
        Self { classifier }
    }
}

impl assay_grade::Grader for ClassifierGrader {
    fn id(&self) -> assay_grade::GraderId {
        assay_grade::GraderId {
            name: self.classifier.name.clone(),
            version: self.classifier.version.clone(),
        }
    }

    fn grade(
        &self,
        item: assay_grade::Graded<'_>,
    ) -> Result<assay_grade::Verdict, assay_grade::GradeError> {
        let p = self.classifier.predict(item.response);
        let score = self.classifier.flag_score(&p);
        let shown: Vec<String> = self
            .classifier
            .labels
            .iter()
            .zip(&p)
            .map(|(l, p)| format!("P({l}) = {p:.4}"))
            .collect();
        Ok(assay_grade::Verdict {
            label: self.classifier.label(&p).to_owned(),
            score,
            rationale: Some(shown.join(", ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &str, min: usize, word: fn(char) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        for_each_run(text, min, word, &mut |t| out.push(t.to_owned()));
        out
    }

    #[test]
    fn tokens_follow_python_word_characters() {
        // `re.findall(r"(?u)\b\w\w+\b", s.lower())` in CPython 3.11.
        assert_eq!(
            runs("don't a x1 __ café naïve", 2, python_word),
            ["don", "x1", "__", "café", "naïve"]
        );
        // A combining accent is not `\w` in Python: it splits the word.
        assert_eq!(runs("cafe\u{301}s", 2, python_word), ["cafe"]);
        // Superscript two (No) and CJK are numbers and letters.
        assert_eq!(runs("x² 東京", 2, python_word), ["x²", "東京"]);
        assert_eq!(
            runs("İstanbul \u{212a}elvin", 1, |c| c.is_ascii_alphanumeric()
                || c == '_'),
            ["stanbul", "elvin"]
        );
        let lowered: String = "İSTANBUL \u{212a}".chars().map(towlower_ascii).collect();
        assert_eq!(lowered, "istanbul k");
    }
}

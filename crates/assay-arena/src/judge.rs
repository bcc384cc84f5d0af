//! The LLM judge: its prompts (`prompts/*.txt`, shipped with assay and recorded by hash
//! in every run), verdict parsing, and the log-probability method.
//!
//! Pairwise: the judge sees the prompt and two answers labelled A and B and ends with
//! one of Arena-Hard's labels `[[A>>B]]`, `[[A>B]]`, `[[A=B]]`, `[[B>A]]`, `[[B>>A]]`, or
//! `[[BOTH BAD]]` (Chatbot Arena's "tie (bothbad)"). Parsing follows Arena-Hard: the
//! upper-cased text is searched for `[[label]]`, then `[label]`, and the last match wins.
//! Single-answer grading follows MT-Bench: `[[N]]` with N in 1..=10, fallback `[N]`.
//!
//! With a judge that can score text (the embedded model, a completions server with
//! echo), the verdict can instead be read from log-probabilities: the judge's turn is
//! prefilled with `Verdict: [[` (or `Rating: [[`) and every label is scored as the
//! continuation; the probabilities, renormalised over the labels, give the verdict (the
//! most likely label), its strength and a preference probability, as AlpacaEval reads
//! its judge's logprobs. This always yields a verdict, which small judges need.

use assay_rank::battles::Winner;
use regex::Regex;
use std::sync::LazyLock;

pub const PAIRWISE_TEMPLATE: &str = include_str!("../prompts/pairwise.txt");
pub const GRADE_TEMPLATE: &str = include_str!("../prompts/grade.txt");
pub const PAIRWISE_PREFILL: &str = "Verdict: [[";
pub const GRADE_PREFILL: &str = "Rating: [[";

/// Fills `{name}` placeholders of `template` in one pass, so that text inside a
/// substituted value (an answer that contains `{answer_b}`) is never substituted again.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}').and_then(|end| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|v| (end, v.1))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn pairwise_prompt(prompt: &str, answer_a: &str, answer_b: &str) -> String {
    fill(
        PAIRWISE_TEMPLATE,
        &[
            ("prompt", prompt),
            ("answer_a", answer_a),
            ("answer_b", answer_b),
        ],
    )
}

pub fn grade_prompt(prompt: &str, answer: &str, reference: Option<&str>) -> String {
    let reference = reference
        .map(|r| format!(" A reference answer is given; judge correctness against it.\n\n[Reference answer]\n{r}"))
        .unwrap_or_default();
    fill(
        GRADE_TEMPLATE,
        &[
            ("prompt", prompt),
            ("answer", answer),
            ("reference", &reference),
        ],
    )
}

/// A pairwise verdict about the answers in positions A and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    AMuchBetter,
    ABetter,
    Tie,
    BBetter,
    BMuchBetter,
    BothBad,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::AMuchBetter,
        Verdict::ABetter,
        Verdict::Tie,
        Verdict::BBetter,
        Verdict::BMuchBetter,
        Verdict::BothBad,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Verdict::AMuchBetter => "A>>B",
            Verdict::ABetter => "A>B",
            Verdict::Tie => "A=B",
            Verdict::BBetter => "B>A",
            Verdict::BMuchBetter => "B>>A",
            Verdict::BothBad => "BOTH BAD",
        }
    }

    /// The same judgement with the positions exchanged.
    pub fn swapped(self) -> Self {
        match self {
            Verdict::AMuchBetter => Verdict::BMuchBetter,
            Verdict::ABetter => Verdict::BBetter,
            Verdict::BBetter => Verdict::ABetter,
            Verdict::BMuchBetter => Verdict::AMuchBetter,
            v => v,
        }
    }

    /// Which side wins, ignoring strength: `Some(true)` for A, `Some(false)` for B,
    /// `None` for a tie of either kind.
    pub fn a_wins(self) -> Option<bool> {
        match self {
            Verdict::AMuchBetter | Verdict::ABetter => Some(true),
            Verdict::BBetter | Verdict::BMuchBetter => Some(false),
            Verdict::Tie | Verdict::BothBad => None,
        }
    }

    /// The battle outcome, with A as `model_a`.
    pub fn winner(self) -> Winner {
        match self {
            Verdict::AMuchBetter | Verdict::ABetter => Winner::A,
            Verdict::BBetter | Verdict::BMuchBetter => Winner::B,
            Verdict::Tie => Winner::Tie,
            Verdict::BothBad => Winner::BothBad,
        }
    }

    /// MT-Bench's rule for one comparison judged in both orders, `self` with the first
    /// answer as A and `swapped` (the other order's verdict, already swapped back) in the
    /// same orientation: a winner only when both orders name the same one; both bad
    /// when both say so; otherwise a tie.
    pub fn agree_or_tie(self, swapped: Verdict) -> Winner {
        match (self.a_wins(), swapped.a_wins()) {
            (Some(true), Some(true)) => Winner::A,
            (Some(false), Some(false)) => Winner::B,
            _ if self == Verdict::BothBad && swapped == Verdict::BothBad => Winner::BothBad,
            _ => Winner::Tie,
        }
    }

    pub fn strong(self) -> bool {
        matches!(self, Verdict::AMuchBetter | Verdict::BMuchBetter)
    }

    fn from_label(label: &str) -> Option<Self> {
        let compact: String = label.chars().filter(|c| !c.is_whitespace()).collect();
        Some(match compact.as_str() {
            "A>>B" | "B<<A" => Verdict::AMuchBetter,
            "A>B" | "B<A" => Verdict::ABetter,
            "A=B" | "B=A" => Verdict::Tie,
            "B>A" | "A<B" => Verdict::BBetter,
            "B>>A" | "A<<B" => Verdict::BMuchBetter,
            "BOTHBAD" => Verdict::BothBad,
            _ => return None,
        })
    }
}

static DOUBLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\[\s*([AB<>=\s]+|BOTH\s*BAD)\s*\]\]").unwrap());
static SINGLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\s*([AB<>=\s]+|BOTH\s*BAD)\s*\]").unwrap());
static RATING_DOUBLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]").unwrap());
static RATING_SINGLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\s*(\d+(?:\.\d+)?)\s*\]").unwrap());

/// The verdict in a judge's generated text, if it gives one.
pub fn parse_verdict(text: &str) -> Option<Verdict> {
    let upper = text.to_uppercase();
    for re in [&*DOUBLE, &*SINGLE] {
        let found: Vec<Verdict> = re
            .captures_iter(&upper)
            .filter_map(|c| Verdict::from_label(&c[1]))
            .collect();
        if let Some(v) = found.last() {
            return Some(*v);
        }
    }
    None
}

/// The 1-10 rating in a judge's generated text, if it gives one.
pub fn parse_grade(text: &str) -> Option<f64> {
    for re in [&*RATING_DOUBLE, &*RATING_SINGLE] {
        let found: Vec<f64> = re
            .captures_iter(text)
            .filter_map(|c| c[1].parse::<f64>().ok())
            .filter(|g| (1.0..=10.0).contains(g))
            .collect();
        if let Some(g) = found.last() {
            return Some(*g);
        }
    }
    None
}

/// Probabilities over labels from their log-likelihoods (softmax over the candidates).
pub fn normalise(logprobs: &[f64]) -> Vec<f64> {
    let max = logprobs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logprobs.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    exp.iter().map(|e| e / total).collect()
}

/// The label continuations scored by the log-probability pairwise method.
pub fn verdict_continuations() -> Vec<String> {
    Verdict::ALL
        .iter()
        .map(|v| format!("{}]]", v.label()))
        .collect()
}

/// The rating continuations scored by the log-probability grading method.
pub fn grade_continuations() -> Vec<String> {
    (1..=10).map(|g| format!("{g}]]")).collect()
}

/// P(A is better) from label probabilities (in [`Verdict::ALL`] order): the A labels,
/// plus half of both ties.
pub fn preference_for_a(probabilities: &[f64]) -> f64 {
    Verdict::ALL
        .iter()
        .zip(probabilities)
        .map(|(v, p)| match v.a_wins() {
            Some(true) => *p,
            Some(false) => 0.0,
            None => 0.5 * p,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_last_label_like_arena_hard() {
        assert_eq!(parse_verdict("A is fine. [[B>A]]"), Some(Verdict::BBetter));
        assert_eq!(
            parse_verdict("maybe [[A>B]] ... final: [[a>>b]]"),
            Some(Verdict::AMuchBetter)
        );
        assert_eq!(parse_verdict("My verdict: [A=B]"), Some(Verdict::Tie));
        assert_eq!(parse_verdict("[[Both bad]]"), Some(Verdict::BothBad));
        assert_eq!(parse_verdict("[[A<B]]"), Some(Verdict::BBetter));
        assert_eq!(parse_verdict("I prefer A."), None);
        assert_eq!(parse_verdict("[[C]]"), None);
        for v in Verdict::ALL {
            assert_eq!(parse_verdict(&format!("x [[{}]]", v.label())), Some(v));
            assert_eq!(v.swapped().swapped(), v);
        }
    }

    #[test]
    fn parses_grades_like_mt_bench() {
        assert_eq!(parse_grade("Rating: [[7]]"), Some(7.0));
        assert_eq!(parse_grade("[[3]] then [[8.5]]"), Some(8.5));
        assert_eq!(parse_grade("[6]"), Some(6.0));
        assert_eq!(parse_grade("[[11]]"), None);
        assert_eq!(parse_grade("seven"), None);
    }

    #[test]
    fn fills_placeholders_once() {
        let p = pairwise_prompt("Q {answer_b}", "{answer_b}", "real B");
        assert!(p.contains("[Answer A]\n{answer_b}\n"), "{p}");
        assert!(p.contains("[User prompt]\nQ {answer_b}\n"));
        assert!(p.contains("[Answer B]\nreal B\n"));
        let g = grade_prompt("Q", "ans", Some("42"));
        assert!(g.contains("[Reference answer]\n42") && g.contains("[Answer]\nans"));
        assert!(!grade_prompt("Q", "ans", None).contains("Reference"));
    }

    #[test]
    fn preference_from_label_probabilities() {
        let p = normalise(&[0.0, 0.0, 0.0, 0.0, 0.0, f64::NEG_INFINITY]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((preference_for_a(&p) - 0.5).abs() < 1e-12);
        let p = [0.5, 0.25, 0.1, 0.1, 0.05, 0.0];
        assert!((preference_for_a(&p) - 0.8).abs() < 1e-12);
    }
}

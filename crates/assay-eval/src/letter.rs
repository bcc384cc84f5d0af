//! The fallback protocol for multiple-choice tasks on a model that cannot score text (a
//! chat-only API gives no prompt log-probabilities): the choices are listed with letters,
//! the model is asked for one, and accuracy is whether the letter it gives is a correct
//! one. This measures something else than log-likelihood accuracy (it needs the model to
//! follow the instruction), so results name the protocol and it is zero-shot.
//!
//! The prompt is inspect_ai's single-answer multiple-choice template
//! (`inspect_ai/solver/_multiple_choice.py`), which chat models follow well; the
//! answer is read from `ANSWER: X`, or else a lone leading letter.

use assay_core::{GenerateRequest, Sample, SampleScore};
use assay_tasks::PreparedSample;
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub(crate) const PROTOCOL: &str = "generated_letter";

/// Enough for "ANSWER: B" with a short preamble; reasoning models need more and should
/// be evaluated with a generation task instead.
const MAX_TOKENS: usize = 64;

fn letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

pub(crate) fn prompt(prep: &PreparedSample) -> String {
    let sample: &Sample = &prep.sample;
    let (question, choices): (&str, Vec<String>) = match &prep.continuation {
        // Choices that are contexts (WinoGrande): each option is a whole text.
        Some(cont) => (
            "Which of these texts is the most plausible?",
            sample
                .choices
                .iter()
                .map(|c| format!("{c}{cont}"))
                .collect(),
        ),
        None => (sample.input.as_str(), sample.choices.clone()),
    };
    let letters: String = (0..choices.len()).map(letter).collect();
    let mut out = format!(
        "Answer the following multiple choice question. The entire content of your response \
         should be of the following format: 'ANSWER: $LETTER' (without quotes) where LETTER \
         is one of {letters}.\n\n{}\n\n",
        question.trim()
    );
    for (i, c) in choices.iter().enumerate() {
        out.push_str(&format!("{}) {}\n", letter(i), c.trim()));
    }
    out
}

pub(crate) fn request(
    prep: &PreparedSample,
    chat: Option<&dyn Fn(&str) -> String>,
) -> GenerateRequest {
    let text = prompt(prep);
    GenerateRequest {
        context: chat.map_or_else(|| text.clone(), |c| c(&text)),
        until: Vec::new(),
        max_tokens: MAX_TOKENS,
        temperature: 0.0,
        seed: None,
    }
}

/// The chosen option's index, if the answer names a valid letter.
pub(crate) fn parse(text: &str, n: usize) -> Option<usize> {
    static ANSWER: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)ANSWER\s*:\s*\**\s*\(?([A-Z])\b").expect("valid regex")
    });
    static LEADING: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^\s*\(?([A-Z])(?:[).:\s]|$)").expect("valid regex"));
    let found = ANSWER
        .captures(text)
        .or_else(|| LEADING.captures(text))
        .map(|c| c[1].to_ascii_uppercase().as_bytes()[0]);
    found.map(|b| (b - b'A') as usize).filter(|&i| i < n)
}

pub(crate) fn score(prep: &PreparedSample, text: &str) -> SampleScore {
    let chosen = parse(text, prep.sample.choices.len());
    let correct = prep.sample.target.indices().unwrap_or_default();
    let right = chosen.is_some_and(|c| correct.contains(&c));
    let mut extra = BTreeMap::new();
    extra.insert("protocol".into(), serde_json::json!(PROTOCOL));
    extra.insert("parsed".into(), serde_json::json!(chosen.is_some()));
    SampleScore {
        values: BTreeMap::from([("acc".to_owned(), if right { 1.0 } else { 0.0 })]),
        answer: chosen.map(|c| letter(c).to_string()),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::Target;

    fn prep() -> PreparedSample {
        PreparedSample {
            sample: Sample {
                id: "0".into(),
                input: "Question: 2+2?\nAnswer:".into(),
                choices: vec![" 3".into(), " 4".into(), " 5".into()],
                target: Target::Index(1),
                metadata: Default::default(),
            },
            continuation: None,
            fewshot_answer: String::new(),
            line: 1,
            class: None,
            bias: None,
        }
    }

    #[test]
    fn prompt_lists_lettered_choices() {
        let p = prompt(&prep());
        assert!(p.contains("LETTER is one of ABC."), "{p}");
        assert!(p.ends_with("A) 3\nB) 4\nC) 5\n"), "{p}");
    }

    #[test]
    fn answers_are_parsed_strictly() {
        assert_eq!(parse("ANSWER: B", 3), Some(1));
        assert_eq!(parse("The answer is 4.\nANSWER: (b)", 3), Some(1));
        assert_eq!(parse("**ANSWER:** C", 3), Some(2));
        assert_eq!(parse("B) 4", 3), Some(1));
        assert_eq!(parse("ANSWER: D", 3), None, "out of range");
        assert_eq!(parse("I think it's four", 3), None);
        assert_eq!(parse("A", 3), Some(0));
    }

    #[test]
    fn score_is_accuracy_of_the_letter() {
        let s = score(&prep(), "ANSWER: B");
        assert_eq!(s.values["acc"], 1.0);
        assert_eq!(s.answer.as_deref(), Some("B"));
        let s = score(&prep(), "no idea");
        assert_eq!(s.values["acc"], 0.0);
        assert_eq!(s.extra["parsed"], false);
    }
}

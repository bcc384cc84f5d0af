//! Reading an LLM judge's reply strictly: MT-Bench's rating format and a label from a
//! fixed list. A reply that does not follow the format is [`GradeError::Unparsed`],
//! kept verbatim; nothing is guessed from a near miss.

use crate::GradeError;

fn unparsed(reply: &str) -> GradeError {
    GradeError::Unparsed {
        reply: reply.to_owned(),
    }
}

/// The rating of an MT-Bench-style reply: `[[N]]` (FastChat's `single-v1` asks for
/// "Rating: [[5]]"), a number within `[min, max]`. Several ratings that differ, none,
/// or one out of range: unparsed.
pub fn parse_rating(reply: &str, min: f64, max: f64) -> Result<f64, GradeError> {
    static RATING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]").expect("a valid pattern")
    });
    let mut found: Option<f64> = None;
    for c in RATING.captures_iter(reply) {
        let value: f64 = c[1].parse().map_err(|_| unparsed(reply))?;
        match found {
            Some(v) if v != value => return Err(unparsed(reply)),
            _ => found = Some(value),
        }
    }
    match found {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(unparsed(reply)),
    }
}

/// The label a reply starts with (after blank space and an optional `CLASS:` /
/// `Answer:` lead-in), which must be exactly one of `labels`.
pub fn parse_label<'a>(reply: &str, labels: &'a [String]) -> Result<&'a str, GradeError> {
    let text = reply.trim_start();
    let text = ["CLASS:", "Class:", "Answer:", "ANSWER:"]
        .iter()
        .find_map(|lead| text.strip_prefix(lead))
        .unwrap_or(text)
        .trim_start();
    let mut hits = labels.iter().filter(|l| {
        text.strip_prefix(l.as_str()).is_some_and(|rest| {
            rest.chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_')
        })
    });
    match (hits.next(), hits.next()) {
        (Some(label), None) => Ok(label),
        _ => Err(unparsed(reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_in_mt_bench_format_and_malformed_ones() {
        assert_eq!(
            parse_rating("The answer is fine. Rating: [[7]]", 1.0, 10.0).unwrap(),
            7.0
        );
        assert_eq!(parse_rating("[[ 8.5 ]]", 1.0, 10.0).unwrap(), 8.5);
        assert_eq!(
            parse_rating("[[3]] ... so: Rating: [[3]]", 1.0, 10.0).unwrap(),
            3.0
        );
        for bad in [
            "Rating: 7",
            "[7]",
            "[[3]] or [[4]]",
            "[[11]]",
            "[[0]]",
            "",
            "[[seven]]",
        ] {
            assert!(parse_rating(bad, 1.0, 10.0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_from_a_fixed_list() {
        let labels: Vec<String> = ["1_full_compliance", "2_full_refusal", "3_partial_refusal"]
            .map(String::from)
            .into();
        assert_eq!(
            parse_label("2_full_refusal", &labels).unwrap(),
            "2_full_refusal"
        );
        assert_eq!(
            parse_label("\n CLASS: 3_partial_refusal.\nBecause", &labels).unwrap(),
            "3_partial_refusal"
        );
        for bad in [
            "",
            "full refusal",
            "2_full_refusals",
            "The class is 2_full_refusal",
        ] {
            assert!(parse_label(bad, &labels).is_err(), "{bad:?}");
        }
    }
}

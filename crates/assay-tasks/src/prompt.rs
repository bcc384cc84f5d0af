//! The template environment task files are written against: minijinja with Python's
//! string methods plus the few named helpers benchmarks need (lm-evaluation-harness
//! puts the same helpers in per-task Python files).

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind, UndefinedBehavior};

fn invalid(msg: impl Into<String>) -> JinjaError {
    JinjaError::new(ErrorKind::InvalidOperation, msg.into())
}

/// lm-evaluation-harness's HellaSwag `preprocess`: strip, ` [title]` becomes `. `, other
/// `[tags]` go, double spaces collapse.
pub fn preprocess(text: &str) -> String {
    let text = text.trim().replace(" [title]", ". ");
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    // Non-greedy `\[.*?\]`: each `[` is closed by the next `]`.
    let mut pending = String::new();
    for c in text.chars() {
        if depth == 0 && c == '[' {
            depth = 1;
            pending.clear();
            pending.push(c);
        } else if depth == 1 {
            pending.push(c);
            if c == ']' {
                depth = 0;
                pending.clear();
            }
        } else {
            out.push(c);
        }
    }
    out.push_str(&pending); // an unclosed `[` is kept, as the regex would
    out.replace("  ", " ")
}

/// Upper-cases the first letter of the last sentence fragment (after the last `". "`)
/// when it starts lower-case: the shared HellaSwag text lost the `ctx_b` boundary that
/// lm-evaluation-harness capitalises, and this restores it in nearly every item.
pub fn capitalize_last_fragment(text: &str) -> String {
    let start = text.rfind(". ").map_or(0, |i| i + 2);
    let (head, tail) = text.split_at(start);
    let mut chars = tail.chars();
    match chars.next() {
        Some(c) if c.is_lowercase() => format!("{head}{}{}", c.to_uppercase(), chars.as_str()),
        _ => text.to_owned(),
    }
}

fn index_of(list: Value, item: Value) -> Result<usize, JinjaError> {
    for (i, v) in list.try_iter()?.enumerate() {
        if v == item {
            return Ok(i);
        }
    }
    Err(invalid(format!("{item} is not in {list}")))
}

fn indices_of(list: Value, item: Value) -> Result<Vec<usize>, JinjaError> {
    Ok(list
        .try_iter()?
        .enumerate()
        .filter(|(_, v)| *v == item)
        .map(|(i, _)| i)
        .collect())
}

fn letter_index(letter: String) -> Result<usize, JinjaError> {
    let l = letter.trim();
    let mut chars = l.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ 'A'..='Z'), None) => Ok(c as usize - 'A' as usize),
        _ => Err(invalid(format!(
            "`{letter}` is not a single capital letter"
        ))),
    }
}

fn keys(map: Value) -> Result<Vec<Value>, JinjaError> {
    if map.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "`keys` needs a mapping, got {}",
            map.kind()
        )));
    }
    Ok(map.try_iter()?.collect())
}

fn values(map: Value) -> Result<Vec<Value>, JinjaError> {
    if map.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "`values` needs a mapping, got {}",
            map.kind()
        )));
    }
    map.try_iter()?.map(|k| map.get_item(&k)).collect()
}

fn blank_index(sentence: &str) -> Result<usize, JinjaError> {
    sentence
        .find('_')
        .ok_or_else(|| invalid(format!("sentence has no `_` blank: {sentence}")))
}

/// The sentence up to the blank (WinoGrande).
fn before_blank(sentence: String) -> Result<String, JinjaError> {
    Ok(sentence[..blank_index(&sentence)?].to_owned())
}

/// The sentence after the blank, stripped (WinoGrande).
fn after_blank(sentence: String) -> Result<String, JinjaError> {
    Ok(sentence[blank_index(&sentence)? + 1..].trim().to_owned())
}

/// Python's `str.capitalize`: first character upper-cased, the rest lower-cased.
fn py_capitalize(s: String) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect(),
        None => String::new(),
    }
}

/// The environment every task template is rendered in. Undefined variables are errors,
/// so a data row missing a field is reported rather than rendered as empty text.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template's last newline is part of the prompt (MMLU's description ends in two).
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax is valid"),
    );
    env.add_filter("preprocess", |s: String| preprocess(&s));
    env.add_filter("capitalize_last_fragment", |s: String| {
        capitalize_last_fragment(&s)
    });
    env.add_filter("py_capitalize", py_capitalize);
    env.add_filter("index_of", index_of);
    env.add_filter("indices_of", indices_of);
    env.add_filter("letter_index", letter_index);
    env.add_filter("keys", keys);
    env.add_filter("values", values);
    env.add_filter("before_blank", before_blank);
    env.add_filter("after_blank", after_blank);
    env.add_function("bbq_choices", crate::bbq::choices);
    env.add_function("bbq_targets", crate::bbq::targets);
    env.add_function("bbq_biased", crate::bbq::biased);
    env.add_filter("bbq_unknown_indices", crate::bbq::unknown_indices);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocess_matches_lm_eval() {
        assert_eq!(
            preprocess(" How to cook [title] Boil water. [step] Add  salt [header] "),
            // Python strips before deleting tags, so a trailing tag leaves its space.
            "How to cook. Boil water. Add salt "
        );
    }

    #[test]
    fn capitalizes_the_fragment_after_the_last_sentence() {
        assert_eq!(
            capitalize_last_fragment("Roofing: A man is on a roof. he"),
            "Roofing: A man is on a roof. He"
        );
        assert_eq!(capitalize_last_fragment("x. The"), "x. The");
    }

    #[test]
    fn helpers_in_expressions() {
        let env = environment();
        let ctx = minijinja::context! {
            labels => vec!["A", "B", "C"], key => "B",
            sentence => "The cat _ the dog.",
            t => minijinja::Value::from(minijinja::value::Serde(serde_json::json!({"yes": 1, "no": 0, "maybe": 1}))),
        };
        let eval = |e: &str| {
            env.compile_expression(e)
                .unwrap()
                .eval(&ctx)
                .unwrap()
                .to_string()
        };
        assert_eq!(eval("labels | index_of(key)"), "1");
        assert_eq!(eval("key | letter_index"), "1");
        assert_eq!(eval("sentence | before_blank"), "The cat ");
        assert_eq!(eval("sentence | after_blank"), "the dog.");
        assert_eq!(eval("t | keys | list"), r#"['yes', 'no', 'maybe']"#);
        assert_eq!(eval("t | values | indices_of(1)"), "[0, 2]");
        assert_eq!(eval("'hELLO wORLD' | py_capitalize"), "Hello world");
    }

    #[test]
    fn undefined_fields_are_errors() {
        let env = environment();
        let r = env.render_str("{{ missing }}", minijinja::context! {});
        assert!(r.is_err());
    }
}

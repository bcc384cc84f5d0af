//! Tables and JSON from users' files and request bodies, read strictly: a key repeated in one object
//! is an error (with its line and column), not silently resolved to its last value, which
//! could flip a decision without anyone seeing it.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The first column name a table header repeats (CSV, TSV, Parquet), 1-based positions
/// of both: a repeated column is refused rather than read from one copy or the other.
pub fn repeated_column<'a>(
    header: impl IntoIterator<Item = &'a str>,
) -> Option<(String, usize, usize)> {
    let mut seen: Vec<&str> = Vec::new();
    for (i, name) in header.into_iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').trim();
        if let Some(j) = seen.iter().position(|s| *s == name) {
            return Some((name.to_owned(), j + 1, i + 1));
        }
        seen.push(name);
    }
    None
}

/// 1-based line and column (in characters) of byte `offset` in `text`, for messages
/// that point into a user's file (a TOML error's span, a key's position).
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Parses one JSON value, refusing repeated keys in any object at any depth.
pub fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Parses one JSON object (a row of a JSONL file), refusing repeated keys.
pub fn parse_strict_object(text: &str) -> Result<Map<String, Value>, serde_json::Error> {
    match parse_strict(text)? {
        Value::Object(map) => Ok(map),
        other => Err(de::Error::custom(format!(
            "expected a JSON object, found {}",
            json_kind(&other)
        ))),
    }
}

/// What a JSON value is, for messages ("expected an object, found an array").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("the key `{key}` is repeated")));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_column_counts_characters_not_bytes() {
        let text = "a = 1\nné = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // `=` after a two-byte `é`: byte 10, character column 4.
        assert_eq!(line_column(text, text.find(" =\x20").unwrap_or(0)), (1, 2));
        assert_eq!(line_column(text, 10), (2, 4));
        // Past the end, or inside a character: clamped, no panic.
        assert_eq!(line_column(text, 999), (3, 1));
        assert_eq!(line_column(text, 8), (2, 2));
    }

    use super::*;

    #[test]
    fn a_repeated_key_is_an_error_with_its_position_at_any_depth() {
        let e = parse_strict(r#"{"a": 1, "b": {"c": 2, "c": 3}}"#).unwrap_err();
        assert!(e.to_string().contains("the key `c` is repeated"), "{e}");
        assert!(e.to_string().contains("column"), "{e}");
        let e = parse_strict_object(r#"{"variant": "a", "variant": "b"}"#).unwrap_err();
        assert!(e.to_string().contains("`variant`"), "{e}");
        assert!(parse_strict_object("[1]").is_err());
        assert!(parse_strict("{\"a\": 1} x").is_err());
    }

    #[test]
    fn a_repeated_column_is_found_with_both_positions() {
        assert_eq!(
            repeated_column(["variant", "x", " x"]),
            Some(("x".into(), 2, 3))
        );
        assert_eq!(repeated_column(["\u{feff}a", "b"]), None);
    }

    #[test]
    fn it_reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "u": 18446744073709551615}"#;
        assert_eq!(
            parse_strict(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
}

//! The prompt set of a side-by-side run: JSONL, one object per line with `prompt`
//! (required), and optionally `id` (default: the line number), `reference` (a reference
//! answer shown to the grading judge, as MT-Bench does for maths and code) and
//! `category`.

use crate::{Error, io};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    pub id: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

pub fn read(path: &Path) -> Result<Vec<Prompt>, Error> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let shown = path.display();
    let mut prompts = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{shown}:{}", i + 1);
        let fail = |message: String| Error::Input {
            location: location.clone(),
            message,
        };
        let v = assay_core::input::parse_strict(line)
            .map_err(|e| fail(format!("not valid JSON: {e}")))?;
        let text_field = |name: &str| -> Result<Option<String>, Error> {
            match v.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(serde_json::Value::Number(n)) if name == "id" => Ok(Some(n.to_string())),
                Some(other) => Err(fail(format!("field `{name}` is `{other}`, not text"))),
            }
        };
        let prompt =
            text_field("prompt")?.ok_or_else(|| fail("field `prompt` is missing".into()))?;
        if prompt.trim().is_empty() {
            return Err(fail("field `prompt` is empty".into()));
        }
        let id = text_field("id")?.unwrap_or_else(|| (i + 1).to_string());
        if !seen.insert(id.clone()) {
            return Err(fail(format!("id `{id}` appears twice")));
        }
        prompts.push(Prompt {
            id,
            prompt,
            reference: text_field("reference")?,
            category: text_field("category")?,
        });
    }
    if prompts.is_empty() {
        return Err(Error::Input {
            location: shown.to_string(),
            message: "no prompts".into(),
        });
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prompts_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(
            &path,
            "{\"prompt\":\"Say hi\"}\n\n{\"id\":7,\"prompt\":\"2+2?\",\"reference\":\"4\"}\n",
        )
        .unwrap();
        let p = read(&path).unwrap();
        assert_eq!(p[0].id, "1");
        assert_eq!(p[1].id, "7");
        assert_eq!(p[1].reference.as_deref(), Some("4"));
        for (text, message) in [
            ("{\"id\":\"a\"}\n", "p.jsonl:1: field `prompt` is missing"),
            (
                "{\"prompt\":\"x\"}\n{\"prompt\":3}\n",
                "p.jsonl:2: field `prompt` is `3`, not text",
            ),
            (
                "{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"a\",\"prompt\":\"y\"}\n",
                "p.jsonl:2: id `a` appears twice",
            ),
            ("{oops\n", "p.jsonl:1: not valid JSON"),
            ("\n", "no prompts"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = read(&path).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
    }
}

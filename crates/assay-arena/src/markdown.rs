//! Style measurements of an answer, as LMArena's style control counts them (FastChat
//! `count_markdown_elements`): headers (`#`..`######` at a line start), list items
//! (`-`, `*`, `+` or `1.` at a line start) and bold spans (`**x**` or `__x__`), with code
//! blocks removed first; length is the answer's token count.

use regex::Regex;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Style {
    pub headers: usize,
    pub lists: usize,
    pub bold: usize,
}

static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)```.*?```").unwrap());
static HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^#{1,6}\s").unwrap());
static LIST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^\s*(?:[-*+]|\d+\.)\s").unwrap());
static BOLD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\*\*[^*\n]+\*\*|__[^_\n]+__").unwrap());

pub fn style(text: &str) -> Style {
    let text = CODE.replace_all(text, "");
    Style {
        headers: HEADER.find_iter(&text).count(),
        lists: LIST.find_iter(&text).count(),
        bold: BOLD.find_iter(&text).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_markdown_outside_code() {
        let text = "# Title\nSome **bold** and __more__.\n- one\n* two\n 3. three\n```\n# not a header\n- not a list\n```\n#hashtag\n";
        assert_eq!(
            style(text),
            Style {
                headers: 1,
                lists: 3,
                bold: 2
            }
        );
    }
}

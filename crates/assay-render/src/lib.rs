//! How assay shows results, shared by every report: HTML escaping for the pages
//! ([`escape_html`]) and Markdown tables ([`MarkdownTable`]).

#![forbid(unsafe_code)]

/// `text` made safe inside HTML text and attribute values (single or double quoted).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Alignment of a Markdown table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A Markdown (GitHub) table: a header, an alignment row and body rows, with cells
/// escaped so that a `|` or a line break in a value cannot break the table.
pub struct MarkdownTable {
    text: String,
    columns: usize,
}

impl MarkdownTable {
    /// A table with `columns` (header text, alignment).
    pub fn new(columns: &[(&str, Align)]) -> Self {
        let mut text = String::from("|");
        for (name, _) in columns {
            text.push(' ');
            text.push_str(&escape_cell(name));
            text.push_str(" |");
        }
        text.push_str("\n|");
        for (_, align) in columns {
            text.push_str(match align {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        text.push('\n');
        Self {
            text,
            columns: columns.len(),
        }
    }

    /// One row, one cell per column.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        assert_eq!(cells.len(), self.columns, "one cell per column");
        self.text.push('|');
        for cell in cells {
            self.text.push(' ');
            self.text.push_str(&escape_cell(cell.as_ref()));
            self.text.push_str(" |");
        }
        self.text.push('\n');
    }

    /// The table's text, ending with a newline.
    pub fn finish(self) -> String {
        self.text
    }
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_special_characters_are_escaped_once() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain – ünïcode"), "plain – ünïcode");
        // Already-escaped text is escaped again (it is text, not markup).
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn markdown_tables_keep_their_shape() {
        let mut t = MarkdownTable::new(&[("model", Align::Left), ("rating", Align::Right)]);
        t.row(&["a|b", "1.5"]);
        t.row(&["two\nlines", "-2"]);
        assert_eq!(
            t.finish(),
            "| model | rating |\n|---|---:|\n| a\\|b | 1.5 |\n| two lines | -2 |\n"
        );
    }
}

//! SentencePiece tokenization as llama.cpp does it for GGUF files whose
//! `tokenizer.ggml.model` is `llama` (Llama 2, Mistral, TinyLlama, Gemma).
//!
//! The file holds every piece with a score but no merges: text (spaces written as `▁`) is
//! split into UTF-8 characters, and the adjacent pair whose concatenation is the
//! highest-scoring piece merges first (ties go to the leftmost), until no pair is a piece.
//! A symbol left that is not a piece is written as its bytes (`<0xXX>` pieces). Special
//! pieces (control, user-defined, unknown) written in the text are matched first, longest
//! first, and never merged with their neighbours. The ids are checked against llama.cpp's
//! in the tests.

use crate::{Error, Result};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// GGUF token types (llama.cpp's `llama_token_type`).
pub(crate) const TYPE_UNKNOWN: i64 = 2;
pub(crate) const TYPE_CONTROL: i64 = 3;
pub(crate) const TYPE_USER_DEFINED: i64 = 4;
pub(crate) const TYPE_BYTE: i64 = 6;

const SPACE: &str = "\u{2581}";

pub(crate) struct SentencePiece {
    pieces: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i64>,
    ids: HashMap<String, u32>,
    bytes: [Option<u32>; 256],
    /// Matches special pieces written in the text, longest first.
    specials: Option<(aho_corasick::AhoCorasick, Vec<u32>)>,
    /// A space before text that follows the start or a special piece (Llama 2's `▁`).
    add_space_prefix: bool,
}

/// A pair of adjacent symbols whose concatenation is a piece.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// The best bigram is the greatest: highest score, then leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// A run of the text: `start..start + len` in bytes; `len == 0` once merged away.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl SentencePiece {
    pub(crate) fn new(
        pieces: Vec<String>,
        scores: Vec<f32>,
        types: Vec<i64>,
        add_space_prefix: bool,
    ) -> Result<Self> {
        if scores.len() != pieces.len() || types.len() != pieces.len() {
            return Err(Error::Tokenizer(format!(
                "{} pieces but {} scores and {} types",
                pieces.len(),
                scores.len(),
                types.len()
            )));
        }
        let mut ids = HashMap::with_capacity(pieces.len());
        let mut bytes = [None; 256];
        let mut special = Vec::new();
        for (i, (piece, &ty)) in pieces.iter().zip(&types).enumerate() {
            let id = i as u32;
            // The first id of a duplicated piece wins, as in llama.cpp.
            ids.entry(piece.clone()).or_insert(id);
            if ty == TYPE_BYTE
                && let Some(hex) = piece.strip_prefix("<0x").and_then(|p| p.strip_suffix('>'))
                && let Ok(b) = u8::from_str_radix(hex, 16)
            {
                bytes[b as usize] = Some(id);
            }
            if matches!(ty, TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN) && !piece.is_empty() {
                special.push(id);
            }
        }
        // Longest first, as llama.cpp partitions the text.
        special.sort_by_key(|&id| std::cmp::Reverse(pieces[id as usize].len()));
        let specials = if special.is_empty() {
            None
        } else {
            let patterns: Vec<&str> = special
                .iter()
                .map(|&id| pieces[id as usize].as_str())
                .collect();
            let matcher = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(patterns)
                .map_err(|e| Error::Tokenizer(e.to_string()))?;
            Some((matcher, special))
        };
        Ok(Self {
            pieces,
            scores,
            types,
            ids,
            bytes,
            specials,
            add_space_prefix,
        })
    }

    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut after_special = true;
        let plain = |part: &str, after_special: bool, out: &mut Vec<u32>| -> Result<()> {
            let mut s = String::with_capacity(part.len() + 3);
            if self.add_space_prefix && after_special {
                s.push(' ');
            }
            s.push_str(part);
            self.encode_plain(&s.replace(' ', SPACE), out)
        };
        let mut last = 0;
        if let Some((matcher, ids)) = &self.specials {
            for m in matcher.find_iter(text) {
                if m.start() > last {
                    plain(&text[last..m.start()], after_special, &mut out)?;
                }
                out.push(ids[m.pattern().as_usize()]);
                after_special = true;
                last = m.end();
            }
        }
        if last < text.len() {
            plain(&text[last..], after_special, &mut out)?;
        }
        Ok(out)
    }

    /// llama.cpp's `llm_tokenizer_spm_session::tokenize` on text without special pieces.
    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut symbols: Vec<Symbol> = Vec::new();
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        if symbols.is_empty() {
            return Ok(());
        }
        let mut queue = BinaryHeap::new();
        let try_add = |left: Option<usize>,
                       right: Option<usize>,
                       symbols: &[Symbol],
                       queue: &mut BinaryHeap<Bigram>| {
            let (Some(left), Some(right)) = (left, right) else {
                return;
            };
            let (l, r) = (symbols[left], symbols[right]);
            let piece = &text[l.start..r.start + r.len];
            if let Some(&id) = self.ids.get(piece) {
                queue.push(Bigram {
                    score: self.scores[id as usize],
                    left,
                    right,
                    len: piece.len(),
                });
            }
        };
        for i in 1..symbols.len() {
            try_add(Some(i - 1), Some(i), &symbols, &mut queue);
        }
        while let Some(bigram) = queue.pop() {
            let (l, r) = (symbols[bigram.left], symbols[bigram.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != bigram.len {
                continue; // one side merged since
            }
            symbols[bigram.left].len += r.len;
            symbols[bigram.right].len = 0;
            symbols[bigram.left].next = r.next;
            if let Some(n) = r.next {
                symbols[n].prev = Some(bigram.left);
            }
            let prev = symbols[bigram.left].prev;
            let next = symbols[bigram.left].next;
            try_add(prev, Some(bigram.left), &symbols, &mut queue);
            try_add(Some(bigram.left), next, &symbols, &mut queue);
        }
        // Every merge made a piece, so what is not a piece now is a single character
        // the vocabulary lacks: written as its bytes.
        let mut i = Some(0);
        while let Some(at) = i {
            let s = symbols[at];
            let piece = &text[s.start..s.start + s.len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        out.push(self.bytes[b as usize].ok_or_else(|| {
                            Error::Tokenizer(format!(
                                "byte 0x{b:02X} of `{piece}` has no piece and no `<0x{b:02X}>` fallback"
                            ))
                        })?);
                    }
                }
            }
            i = s.next;
        }
        Ok(())
    }

    /// The bytes a piece stands for: `▁` is a space, `<0xXX>` a byte.
    pub(crate) fn piece_bytes(&self, id: u32) -> Vec<u8> {
        let Some(piece) = self.pieces.get(id as usize) else {
            return Vec::new();
        };
        if self.types[id as usize] == TYPE_BYTE
            && let Some(b) = self.bytes.iter().position(|&x| x == Some(id))
        {
            return vec![b as u8];
        }
        piece.replace(SPACE, " ").into_bytes()
    }

    pub(crate) fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.piece_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

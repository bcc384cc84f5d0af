//! The tokenizer, rebuilt from a GGUF file's `tokenizer.ggml.*` metadata: byte-level BPE
//! (`gpt2`: SmolLM2, Qwen, Llama 3) on the `tokenizers` crate, or SentencePiece (`llama`:
//! Llama 2, Mistral, Gemma) as llama.cpp runs it ([`crate::sentencepiece`]).
//!
//! GGUF stores the BPE vocabulary and merges but only the *name* of the pre-tokenizer
//! (`tokenizer.ggml.pre`), so the table from names to pre-tokenizers lives here, mirroring
//! llama.cpp's. The ids both produce are checked against llama.cpp's in the tests.

use crate::gguf::GgufFile;
use crate::sentencepiece::{SentencePiece, TYPE_CONTROL, TYPE_USER_DEFINED};
use crate::{Error, Result};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

/// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_LLAMA3` regex.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token strings that end a generation whatever the metadata says (llama.cpp treats
/// these as end-of-generation tokens too).
const END_OF_GENERATION: &[&str] = &[
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "</s>",
    "<|end|>",
    "<end_of_turn>",
];

enum Backend {
    /// Byte-level BPE.
    Bpe(Box<tokenizers::Tokenizer>),
    SentencePiece(Box<SentencePiece>),
}

pub struct GgufTokenizer {
    inner: Backend,
    /// Token id prepended when a context is empty (BOS if the model has one, else EOS),
    /// as lm-evaluation-harness does.
    pub prefix_token: u32,
    pub bos_token: Option<u32>,
    pub eos_token: Option<u32>,
    pub add_bos: bool,
    pub end_of_generation: Vec<u32>,
    pub vocab_size: usize,
    tokens: Vec<String>,
    /// The pre-tokenizer name from the file, recorded in results.
    pub pre: String,
}

fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper> {
    let byte_level = |use_regex| ByteLevel::new(false, true, use_regex).into();
    Ok(match pre {
        // These split every digit (\p{N}) before the GPT-2 regex.
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into()
        }
        "gpt2" | "gpt-2" | "default" | "olmo" | "jais" | "poro-chat" | "viking" => byte_level(true),
        "llama-bpe" | "llama3" | "falcon3" | "pixtral" => {
            let split = Split::new(
                SplitPattern::Regex(LLAMA3_PATTERN.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
            Sequence::new(vec![split.into(), byte_level(false)]).into()
        }
        other => {
            return Err(Error::Tokenizer(format!(
                "pre-tokenizer `{other}` is not supported (supported: smollm, starcoder, gpt2, llama-bpe and their aliases)"
            )));
        }
    })
}

impl GgufTokenizer {
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let model = file.string("tokenizer.ggml.model")?;
        let tokens = file.strings("tokenizer.ggml.tokens")?;
        let pre = file
            .opt_string("tokenizer.ggml.pre")
            .unwrap_or("default")
            .to_owned();
        let types = file
            .ints("tokenizer.ggml.token_type")
            .unwrap_or_else(|| vec![1; tokens.len()]);
        let inner = match model {
            "gpt2" => Backend::Bpe(Box::new(byte_level_bpe(file, &tokens, &types, &pre)?)),
            "llama" => {
                let scores =
                    file.floats("tokenizer.ggml.scores")
                        .ok_or_else(|| Error::Metadata {
                            path: file.path.clone(),
                            key: "tokenizer.ggml.scores".into(),
                            problem: "is missing or not an array of numbers".into(),
                        })?;
                Backend::SentencePiece(Box::new(SentencePiece::new(
                    tokens.clone(),
                    scores,
                    types.clone(),
                    // llama.cpp's default for SentencePiece files.
                    file.opt_bool("tokenizer.ggml.add_space_prefix")
                        .unwrap_or(true),
                )?))
            }
            other => {
                return Err(Error::Unsupported {
                    path: file.path.clone(),
                    message: format!(
                        "tokenizer model `{other}` (supported: `gpt2`, byte-level BPE; `llama`, SentencePiece)"
                    ),
                });
            }
        };

        let id = |key: &str| file.opt_uint(key).map(|v| v as u32);
        let bos_token = id("tokenizer.ggml.bos_token_id");
        let eos_token = id("tokenizer.ggml.eos_token_id");
        let mut end_of_generation: Vec<u32> = eos_token.into_iter().collect();
        end_of_generation.extend(id("tokenizer.ggml.eot_token_id"));
        for name in END_OF_GENERATION {
            if let Some(i) = tokens.iter().position(|t| t == name) {
                end_of_generation.push(i as u32);
            }
        }
        end_of_generation.sort_unstable();
        end_of_generation.dedup();
        let prefix_token = bos_token.or(eos_token).unwrap_or(0);
        Ok(Self {
            inner,
            prefix_token,
            bos_token,
            eos_token,
            add_bos: file
                .opt_bool("tokenizer.ggml.add_bos_token")
                .unwrap_or(false),
            end_of_generation,
            vocab_size: tokens.len(),
            tokens,
            pre,
        })
    }

    /// Token ids of `text`, special tokens written in the text recognised as such and no
    /// BOS added (callers add it where the model asks for one).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match &self.inner {
            Backend::Bpe(t) => t
                .encode_fast(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| Error::Tokenizer(e.to_string())),
            Backend::SentencePiece(t) => t.encode(text),
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match &self.inner {
            Backend::Bpe(t) => t
                .decode(ids, false)
                .map_err(|e| Error::Tokenizer(e.to_string())),
            Backend::SentencePiece(t) => Ok(t.decode(ids)),
        }
    }

    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece), as the file names it.
    pub fn kind(&self) -> &'static str {
        match &self.inner {
            Backend::Bpe(_) => "gpt2",
            Backend::SentencePiece(_) => "llama",
        }
    }

    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The bytes a token stands for: its vocabulary string with GPT-2's byte-to-character
    /// mapping undone (a token may hold part of a UTF-8 character). Special tokens are
    /// plain ASCII, which the mapping leaves as it is.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        if let Backend::SentencePiece(t) = &self.inner {
            return t.piece_bytes(id);
        }
        let Some(text) = self.token_text(id) else {
            return Vec::new();
        };
        text.chars()
            .map(unicode_to_byte)
            .collect::<Option<Vec<u8>>>()
            .unwrap_or_else(|| text.as_bytes().to_vec())
    }
}

/// The `tokenizers` byte-level BPE of a `gpt2` GGUF tokenizer.
fn byte_level_bpe(
    file: &GgufFile,
    tokens: &[String],
    types: &[i64],
    pre: &str,
) -> Result<tokenizers::Tokenizer> {
    let merges = file.strings("tokenizer.ggml.merges")?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| Error::Tokenizer(format!("malformed merge `{m}`")))
        })
        .collect::<Result<Vec<_>>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
    inner.with_decoder(Some(ByteLevelDecoder::default()));
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, ty)| **ty == TYPE_CONTROL || **ty == TYPE_USER_DEFINED)
        .map(|(t, _)| AddedToken::from(t.clone(), true))
        .collect();
    inner
        .add_special_tokens(specials)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;

    Ok(inner)
}

/// GPT-2's `bytes_to_unicode`, inverted: printable Latin-1 bytes stand for
/// themselves, the other 68 bytes are written as U+0100 onwards, in byte order.
fn unicode_to_byte(c: char) -> Option<u8> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let code = c as u32;
    if code < 256 {
        return printable(code).then_some(code as u8);
    }
    let n = (code - 256) as usize;
    (0u32..256)
        .filter(|&b| !printable(b))
        .nth(n)
        .map(|b| b as u8)
}

#[cfg(test)]
mod tests {
    use super::unicode_to_byte;

    #[test]
    fn byte_level_characters_map_back_to_bytes() {
        assert_eq!(unicode_to_byte('a'), Some(b'a'));
        // 'Ġ' (U+0120) is the space, 'Ċ' (U+010A) the newline.
        assert_eq!(unicode_to_byte('Ġ'), Some(b' '));
        assert_eq!(unicode_to_byte('Ċ'), Some(b'\n'));
        assert_eq!(unicode_to_byte('\u{0100}'), Some(0));
        assert_eq!(unicode_to_byte(' '), None);
    }
}

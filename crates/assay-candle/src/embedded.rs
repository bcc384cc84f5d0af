//! [`EmbeddedModel`]: a GGUF decoder model (llama, Qwen2, Qwen3, Gemma 3) answering [`LanguageModel`] requests in-process.

use crate::Result;
use crate::chat::ChatTemplate;
use crate::decoder::{Decoder, KvCache, Segment, WeightStorage, Weights, log_softmax_row};
use crate::generation::{Generation, GenerationBatch, GenerationEvent};
use crate::gguf::GgufFile;
use crate::tokenizer::GgufTokenizer;
use assay_core::{
    ChatMessage, GenerateRequest, GenerateResponse, LanguageModel, LoglikelihoodRequest,
    LoglikelihoodResponse, ModelError, ModelIdentity, RollingRequest, RollingResponse,
};
use rand::Rng;
use rayon::prelude::*;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Which weight formats to hold, chosen by measurement (see `BENCHMARKS.md`): f32 is the
/// fastest for many positions at once (scoring, prompt processing) and Q8_0 for one
/// position at a time (decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// f32 for scoring and prompt processing, Q8_0 for decoding.
    #[default]
    Auto,
    /// f32 everywhere.
    F32,
    /// Q8_0 everywhere.
    #[cfg_attr(feature = "clap", value(name = "q8_0"))]
    Q8_0,
    /// The file's own formats (slow for Q4_1).
    Native,
}

impl WeightFormat {
    fn storages(self) -> (WeightStorage, WeightStorage) {
        match self {
            WeightFormat::Auto => (WeightStorage::F32, WeightStorage::Q8_0),
            WeightFormat::F32 => (WeightStorage::F32, WeightStorage::F32),
            WeightFormat::Q8_0 => (WeightStorage::Q8_0, WeightStorage::Q8_0),
            WeightFormat::Native => (WeightStorage::Native, WeightStorage::Native),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub weights: WeightFormat,
    /// Most sequences run in one forward pass (the choices of an item share one context
    /// pass and are then run this many at a time). Scores do not depend on it.
    pub batch_size: usize,
    /// Longest sequence scored at once; defaults to the model's trained context length.
    pub max_length: Option<usize>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            weights: WeightFormat::Auto,
            batch_size: 32,
            max_length: None,
        }
    }
}

/// A chat template with the tokenizer's BOS and EOS texts, which templates may print.
fn chat_template(source: &str, tokenizer: &GgufTokenizer) -> Result<ChatTemplate> {
    let text = |id: Option<u32>| {
        id.and_then(|i| tokenizer.token_text(i))
            .unwrap_or_default()
            .to_owned()
    };
    ChatTemplate::new(
        source,
        &text(tokenizer.bos_token),
        &text(tokenizer.eos_token),
    )
}

/// Columns per forward pass when a sequence is long: bounds the attention matrix's memory.
pub(crate) const CHUNK: usize = 512;

pub struct EmbeddedModel {
    pub(crate) decoder: Decoder,
    pub(crate) scoring: Weights,
    decoding: Option<Weights>,
    pub tokenizer: GgufTokenizer,
    chat: Option<ChatTemplate>,
    /// Whether `chat` was given by the user rather than read from the GGUF.
    chat_template_overridden: bool,
    path: PathBuf,
    sha256: String,
    name: String,
    general_name: Option<String>,
    options: LoadOptions,
    max_length: usize,
    /// The last shared prefix scored and its keys and values: consecutive questions
    /// often share a long one (a subject's few-shot block), which then runs once.
    prefix_cache: std::sync::Mutex<Option<(Vec<u32>, KvCache)>>,
}

/// One sequence to score: `tokens[i]` is predicted from `tokens[..i]` for every
/// `i >= scored_from`.
struct Encoded {
    tokens: Vec<u32>,
    scored_from: usize,
}

pub(crate) fn backend(e: impl std::fmt::Display) -> ModelError {
    ModelError::fatal(e.to_string())
}

impl EmbeddedModel {
    pub fn load(path: &Path, options: LoadOptions) -> Result<Self> {
        let mut file = GgufFile::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&file)?;
        let (scoring_storage, decoding_storage) = options.weights.storages();
        let mut storages = vec![scoring_storage];
        if decoding_storage != scoring_storage {
            storages.push(decoding_storage);
        }
        let (decoder, mut sets) = Decoder::load(&mut file, &storages)?;
        let decoding = (sets.len() > 1).then(|| sets.pop()).flatten();
        let scoring = sets.pop().expect("one weight set was requested");
        let chat = match file.opt_string("tokenizer.chat_template") {
            Some(src) => Some(chat_template(src, &tokenizer)?),
            None => None,
        };
        // The file name says which model and quantisation; `general.name` is kept in the
        // settings (it is often a training-run label).
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let general_name = file.opt_string("general.name").map(str::to_owned);
        let context = decoder.config.context_length;
        let max_length = options.max_length.unwrap_or(context);
        // Past the trained context the positions are ones the model never saw: refused,
        // not clamped without a word.
        if max_length > context || max_length < 2 {
            return Err(crate::Error::Unsupported {
                path: path.to_owned(),
                message: format!(
                    "a maximum length of {max_length} tokens: the model takes 2 to {context}"
                ),
            });
        }
        Ok(Self {
            sha256: assay_rundir::sha256_file(path)?,
            decoder,
            scoring,
            decoding,
            tokenizer,
            chat,
            chat_template_overridden: false,
            path: path.to_owned(),
            name,
            general_name,
            options,
            max_length,
            prefix_cache: std::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &crate::decoder::DecoderConfig {
        &self.decoder.config
    }

    /// Reference log-probabilities: `log p(tokens[i] | tokens[..i])` for every `i >= 1`,
    /// from one forward pass over the whole sequence (no prefix sharing, no batching,
    /// no chunking), normalised in f64. Tests compare the fast paths against it.
    pub fn reference_token_logprobs(&self, tokens: &[u32]) -> Result<Vec<f64>> {
        let mut cache = KvCache::new(&self.decoder.config);
        let logits = self
            .decoder
            .forward(&self.scoring, &tokens[..tokens.len() - 1], &mut cache, 0)?
            .expect("logits were asked for");
        let rows = logits.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?;
        Ok(tokens[1..]
            .iter()
            .zip(rows)
            .map(|(&t, row)| {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                row[t as usize] - lse
            })
            .collect())
    }

    pub(crate) fn decoding_weights(&self) -> &Weights {
        self.decoding.as_ref().unwrap_or(&self.scoring)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.tokenizer.add_bos {
            ids.extend(self.tokenizer.bos_token);
        }
        ids.extend(self.tokenizer.encode(text)?);
        Ok(ids)
    }

    /// Tokenizes a (context, continuation) pair the way lm-evaluation-harness does:
    /// trailing whitespace of the context moves to the continuation, the whole string is
    /// tokenized once, and the continuation is whatever follows the context's tokens.
    fn encode_pair(&self, index: usize, req: &LoglikelihoodRequest) -> Result<Encoded, ModelError> {
        let bad = |reason: String| ModelError::BadRequest { index, reason };
        let trimmed = req.context.trim_end();
        let context = trimmed;
        let continuation = format!("{}{}", &req.context[trimmed.len()..], req.continuation);
        if continuation.is_empty() {
            return Err(bad("the continuation is empty".into()));
        }
        let (mut tokens, mut scored_from) = if context.is_empty() {
            let mut t = vec![self.tokenizer.prefix_token];
            t.extend(self.tokenizer.encode(&continuation).map_err(backend)?);
            (t, 1)
        } else {
            let whole = self
                .encode(&format!("{context}{continuation}"))
                .map_err(backend)?;
            let ctx = self.encode(context).map_err(backend)?;
            (whole, ctx.len())
        };
        if scored_from >= tokens.len() {
            return Err(bad("the continuation has no tokens of its own".into()));
        }
        // Keep the last `max_length + 1` tokens (the last one is only a target).
        let keep = self.max_length + 1;
        if tokens.len() > keep {
            let drop = tokens.len() - keep;
            if drop >= scored_from {
                return Err(bad(format!(
                    "the continuation alone has {} tokens, more than the model's {}",
                    tokens.len() - scored_from,
                    self.max_length
                )));
            }
            tokens.drain(..drop);
            scored_from -= drop;
        }
        Ok(Encoded {
            tokens,
            scored_from,
        })
    }

    /// Scores a call's requests. Tokens every request shares run once (and stay cached
    /// for the next call); then items (runs of requests sharing a context, such as the
    /// choices of one question) are packed into passes of at most `batch_size`
    /// sequences: each item's context is one segment and each choice a segment
    /// continuing it.
    fn score_all(
        &self,
        encoded: &[Encoded],
        items: Vec<std::ops::Range<usize>>,
    ) -> Result<Vec<Vec<TokenScore>>> {
        let shared = shared_prefix(encoded);
        let past = self.prefix(&encoded[0].tokens[..shared])?;
        let mut out = vec![Vec::new(); encoded.len()];
        let mut pass: Vec<std::ops::Range<usize>> = Vec::new();
        let mut sequences = 0;
        for item in items {
            let group = &encoded[item.clone()];
            let start = shared_prefix(group);
            let long =
                start - shared > CHUNK || group.iter().any(|e| e.tokens.len() - start > CHUNK);
            if long {
                self.score_item_in_chunks(group, shared, &past, &mut out[item])?;
                continue;
            }
            if sequences + item.len() > self.options.batch_size.max(1) && !pass.is_empty() {
                self.score_pass(encoded, &pass, shared, &past, &mut out)?;
                pass.clear();
                sequences = 0;
            }
            sequences += item.len();
            pass.push(item);
        }
        if !pass.is_empty() {
            self.score_pass(encoded, &pass, shared, &past, &mut out)?;
        }
        Ok(out)
    }

    /// Keys and values of `tokens`, reusing what the previous call computed for the
    /// prefix the two share.
    pub(crate) fn prefix(&self, tokens: &[u32]) -> Result<KvCache> {
        let mut slot = self.prefix_cache.lock().unwrap_or_else(|e| e.into_inner());
        let (reused, mut cache) = match slot.as_ref() {
            Some((previous, cache)) => {
                let n = common_prefix(previous, tokens);
                (n, cache.truncate(n)?)
            }
            None => (0, KvCache::new(&self.decoder.config)),
        };
        for chunk in tokens[reused..].chunks(CHUNK) {
            self.decoder
                .forward(&self.scoring, chunk, &mut cache, chunk.len())?;
        }
        *slot = Some((tokens.to_vec(), cache.clone()));
        Ok(cache)
    }

    /// One forward pass over several items.
    fn score_pass(
        &self,
        encoded: &[Encoded],
        items: &[std::ops::Range<usize>],
        shared: usize,
        past: &KvCache,
        out: &mut [Vec<TokenScore>],
    ) -> Result<()> {
        let mut segments = Vec::new();
        let mut branches = Vec::new(); // (request, segment, first position)
        for item in items {
            let group = &encoded[item.clone()];
            let start = shared_prefix(group);
            let parent = (start > shared).then(|| {
                segments.push(Segment {
                    tokens: &group[0].tokens[shared..start],
                    past,
                    parent: None,
                    logits_from: start - shared,
                });
                segments.len() - 1
            });
            for (j, e) in group.iter().enumerate() {
                segments.push(Segment {
                    tokens: &e.tokens[start..e.tokens.len() - 1],
                    past,
                    parent,
                    logits_from: e.scored_from - 1 - start,
                });
                branches.push((item.start + j, segments.len() - 1, start));
            }
        }
        let outputs = self.decoder.forward_segments(&self.scoring, &segments)?;
        for (request, segment, start) in branches {
            let e = &encoded[request];
            let logits = outputs[segment]
                .logits
                .as_ref()
                .expect("branches ask for logits");
            accumulate(
                &mut out[request],
                logits,
                &e.tokens[e.scored_from..],
                self.decoder.config.vocab,
            )?;
            debug_assert_eq!(start + segments[segment].logits_from + 1, e.scored_from);
        }
        Ok(())
    }

    /// An item too long for one pass: its context in chunks, then each continuation in
    /// chunks, scoring as logits arrive (a long window's logits would not fit in memory).
    fn score_item_in_chunks(
        &self,
        group: &[Encoded],
        shared: usize,
        past: &KvCache,
        out: &mut [Vec<TokenScore>],
    ) -> Result<()> {
        let start = shared_prefix(group);
        let mut cache = past.clone();
        for chunk in group[0].tokens[shared..start].chunks(CHUNK) {
            self.decoder
                .forward(&self.scoring, chunk, &mut cache, chunk.len())?;
        }
        for (e, response) in group.iter().zip(out) {
            let mut branch = cache.clone();
            let input = &e.tokens[..e.tokens.len() - 1];
            let mut pos = start;
            while pos < input.len() {
                let end = (pos + CHUNK).min(input.len());
                // Position c predicts token c + 1; scoring starts at `scored_from - 1`.
                let from = (e.scored_from - 1).clamp(pos, end) - pos;
                let logits =
                    self.decoder
                        .forward(&self.scoring, &input[pos..end], &mut branch, from)?;
                if let Some(logits) = logits {
                    let first_target = pos + from + 1;
                    accumulate(
                        response,
                        &logits,
                        &e.tokens[first_target..end + 1],
                        self.decoder.config.vocab,
                    )?;
                }
                pos = end;
            }
        }
        Ok(())
    }

    /// lm-evaluation-harness's rolling windows with a context of one token: every token is
    /// predicted once, each window seeing as much preceding text as fits.
    fn rolling_windows(&self, tokens: &[u32]) -> Vec<Encoded> {
        let max = self.max_length;
        let mut windows = Vec::new();
        if tokens.is_empty() {
            return windows;
        }
        let first = max.min(tokens.len());
        let mut seq = vec![self.tokenizer.prefix_token];
        seq.extend_from_slice(&tokens[..first]);
        windows.push(Encoded {
            tokens: seq,
            scored_from: 1,
        });
        let mut predicted = first;
        while predicted < tokens.len() {
            let n = (tokens.len() - predicted).min(max);
            let end = predicted + n;
            let ctx_start = end.saturating_sub(max + 1);
            windows.push(Encoded {
                tokens: tokens[ctx_start..end].to_vec(),
                scored_from: predicted - ctx_start,
            });
            predicted = end;
        }
        windows
    }

    /// The prompt tokens of a generation: left-truncated, as lm-evaluation-harness does,
    /// so that `max_tokens` fit in the model's length; refused when the prompt alone is
    /// longer than the model's length or `max_tokens` leaves no room for it.
    pub(crate) fn generation_prompt(
        &self,
        index: u64,
        req: &GenerateRequest,
    ) -> Result<Vec<u32>, ModelError> {
        let bad = |reason: String| ModelError::BadRequest {
            index: index as usize,
            reason,
        };
        if req.max_tokens == 0 {
            return Err(bad("max_tokens is 0: nothing to generate".into()));
        }
        if req.max_tokens >= self.max_length {
            return Err(bad(format!(
                "max_tokens {} leaves no room for the prompt in the model's length of {} tokens",
                req.max_tokens, self.max_length
            )));
        }
        let mut context = self.encode(&req.context).map_err(backend)?;
        if context.is_empty() {
            context.push(self.tokenizer.prefix_token);
        }
        if context.len() > self.max_length {
            return Err(bad(format!(
                "the prompt has {} tokens, more than the model's length of {}",
                context.len(),
                self.max_length
            )));
        }
        let budget = self.max_length - req.max_tokens;
        if context.len() > budget {
            context.drain(..context.len() - budget);
        }
        Ok(context)
    }

    /// Generates one answer, handing each piece of text to `on_text` as soon as it is
    /// certain (text that might begin a stop string, or an incomplete UTF-8 character,
    /// is held back). Returns the answer and the stop string that ended it, if one did.
    /// When `on_text` breaks, generation stops there (the caller no longer wants the
    /// answer) and what was generated so far is returned.
    pub fn generate_streaming(
        &self,
        req: &GenerateRequest,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(GenerateResponse, Option<String>), ModelError> {
        let mut batch = GenerationBatch::new(self, 1);
        let mut events = Vec::new();
        batch.admit(vec![Generation::new(0, req.clone())], &mut events);
        loop {
            for event in events.drain(..) {
                match event {
                    GenerationEvent::Text { text, .. } => {
                        if on_text(&text).is_break() {
                            return Ok((batch.cancel(0).expect("the one job is live"), None));
                        }
                    }
                    GenerationEvent::Finished { result, .. } => return result,
                }
            }
            // Asked every step, so that a caller whose client has gone stops at once.
            if on_text("").is_break()
                && let Some(partial) = batch.cancel(0)
            {
                return Ok((partial, None));
            }
            if batch.is_empty() {
                return Err(backend("the generation ended without an answer"));
            }
            batch.step(&mut events);
        }
    }

    /// Greedy or sampled answers to many requests, decoded together: up to
    /// `batch_size` sequences at a time, a waiting one joining as soon as one finishes.
    pub fn generate_batched(
        &self,
        requests: &[GenerateRequest],
    ) -> Result<Vec<GenerateResponse>, ModelError> {
        let mut answers: Vec<Option<GenerateResponse>> = vec![None; requests.len()];
        let mut batch = GenerationBatch::new(self, self.options.batch_size);
        let mut waiting = requests
            .iter()
            .enumerate()
            .map(|(i, r)| Generation::new(i as u64, r.clone()));
        let mut events = Vec::new();
        loop {
            let free = batch.free_slots();
            let joining: Vec<_> = waiting.by_ref().take(free).collect();
            if !joining.is_empty() {
                batch.admit(joining, &mut events);
            }
            for event in events.drain(..) {
                if let GenerationEvent::Finished { id, result } = event {
                    answers[id as usize] = Some(result?.0);
                }
            }
            if batch.is_empty() && answers.iter().all(Option::is_some) {
                break;
            }
            batch.step(&mut events);
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request finished"))
            .collect())
    }

    /// Token ids of `text`; a BOS token first when `add_special` and the model asks for
    /// one.
    pub fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        if add_special {
            self.encode(text)
        } else {
            self.tokenizer.encode(text)
        }
    }

    pub fn detokenize(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids)
    }

    /// Uses `source` (Jinja, as GGUF files carry) as the chat template instead of the
    /// GGUF's own, or for a GGUF without one (a base model asked chat prompts). The
    /// model's identity then records the template, so results say which was used.
    pub fn set_chat_template(&mut self, source: &str) -> Result<()> {
        self.chat = Some(chat_template(source, &self.tokenizer)?);
        self.chat_template_overridden = true;
        Ok(())
    }

    /// The GGUF's chat template, if it has one.
    pub fn chat_template_source(&self) -> Option<&str> {
        self.chat.as_ref().map(|c| c.source.as_str())
    }

    /// Longest sequence the model scores, in tokens.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Bytes of weight matrices one decoding step reads.
    pub fn decoding_weight_bytes(&self) -> usize {
        self.decoding_weights().bytes()
    }

    /// Most sequences in one forward pass (and generated together).
    pub fn batch_size(&self) -> usize {
        self.options.batch_size.max(1)
    }

    /// Scores every token of each prompt after the first: entry `i` of a prompt's
    /// answer is `log p(prompt[i + 1] | prompt[..=i])`, with the most likely token there.
    ///
    /// Prompts that share a prefix (the choices of one question, sent as separate
    /// requests) run it once: sorted, neighbours sharing at least `MIN_SHARED` tokens
    /// form a group whose prefix is one segment and whose rests continue it, packed into
    /// passes of at most `batch_size` sequences. Prompts longer than a chunk run alone.
    pub fn prompt_logprobs(
        &self,
        prompts: &[Vec<u32>],
    ) -> Result<Vec<Vec<TokenScore>>, ModelError> {
        const MIN_SHARED: usize = 8;
        for (index, p) in prompts.iter().enumerate() {
            if p.len() > self.max_length + 1 {
                return Err(ModelError::BadRequest {
                    index,
                    reason: format!(
                        "the prompt has {} tokens, more than the model's {}",
                        p.len(),
                        self.max_length
                    ),
                });
            }
        }
        let mut out = vec![Vec::new(); prompts.len()];
        let mut order: Vec<usize> = (0..prompts.len())
            .filter(|&i| prompts[i].len() > 1)
            .collect();
        order.sort_by(|&a, &b| prompts[a].cmp(&prompts[b]));
        let (long, short): (Vec<usize>, Vec<usize>) =
            order.into_iter().partition(|&i| prompts[i].len() > CHUNK);
        for i in long {
            let e = Encoded {
                tokens: prompts[i].clone(),
                scored_from: 1,
            };
            out[i] = self
                .score_all(std::slice::from_ref(&e), std::iter::once(0..1).collect())
                .map_err(backend)?
                .remove(0);
        }
        // Groups of neighbours with a long enough common prefix; `start` tokens shared.
        let mut groups: Vec<(Vec<usize>, usize)> = Vec::new();
        for i in short {
            if let Some((members, start)) = groups.last_mut() {
                let first = &prompts[members[0]];
                let lcp = common_prefix(first, &prompts[i]);
                // Every member keeps at least one input token of its own.
                let limit = members
                    .iter()
                    .chain([&i])
                    .map(|&m| prompts[m].len() - 2)
                    .min()
                    .unwrap_or(0);
                let shared = lcp.min(*start).min(limit);
                if shared >= MIN_SHARED {
                    members.push(i);
                    *start = shared;
                    continue;
                }
            }
            groups.push((vec![i], usize::MAX));
        }
        let empty = KvCache::new(&self.decoder.config);
        let mut pass: Vec<(Vec<usize>, usize)> = Vec::new();
        let mut sequences = 0;
        for (members, start) in groups {
            let start = if members.len() > 1 { start } else { 0 };
            if sequences + members.len() > self.options.batch_size.max(1) && !pass.is_empty() {
                self.echo_pass(prompts, &pass, &empty, &mut out)
                    .map_err(backend)?;
                pass.clear();
                sequences = 0;
            }
            sequences += members.len();
            pass.push((members, start));
        }
        if !pass.is_empty() {
            self.echo_pass(prompts, &pass, &empty, &mut out)
                .map_err(backend)?;
        }
        Ok(out)
    }

    /// One forward pass over groups of prompts, every position scored.
    fn echo_pass(
        &self,
        prompts: &[Vec<u32>],
        groups: &[(Vec<usize>, usize)],
        empty: &KvCache,
        out: &mut [Vec<TokenScore>],
    ) -> Result<()> {
        let mut segments = Vec::new();
        let mut parents = Vec::new(); // (segment, group)
        let mut branches = Vec::new(); // (prompt, segment, start)
        for (g, (members, start)) in groups.iter().enumerate() {
            let start = *start;
            let parent = (start > 0).then(|| {
                segments.push(Segment {
                    tokens: &prompts[members[0]][..start],
                    past: empty,
                    parent: None,
                    logits_from: 0,
                });
                parents.push((segments.len() - 1, g));
                segments.len() - 1
            });
            for &m in members {
                segments.push(Segment {
                    tokens: &prompts[m][start..prompts[m].len() - 1],
                    past: empty,
                    parent,
                    logits_from: 0,
                });
                branches.push((m, segments.len() - 1, start));
            }
        }
        let outputs = self.decoder.forward_segments(&self.scoring, &segments)?;
        let vocab = self.decoder.config.vocab;
        // The prefix's rows predict its own tokens, the same for every member, except
        // the last row, which predicts each member's first token of its own.
        let mut shared: Vec<Vec<TokenScore>> = vec![Vec::new(); groups.len()];
        let mut last_rows: Vec<Option<candle_core::Tensor>> = vec![None; groups.len()];
        for (segment, g) in parents {
            let (members, start) = &groups[g];
            let logits = outputs[segment]
                .logits
                .as_ref()
                .expect("parents ask for logits");
            let own = logits.narrow(0, 0, start - 1)?;
            accumulate(&mut shared[g], &own, &prompts[members[0]][1..*start], vocab)?;
            last_rows[g] = Some(logits.narrow(0, start - 1, 1)?);
        }
        let group_of: std::collections::HashMap<usize, usize> = groups
            .iter()
            .enumerate()
            .flat_map(|(g, (members, _))| members.iter().map(move |&m| (m, g)))
            .collect();
        for (m, segment, start) in branches {
            let logits = outputs[segment]
                .logits
                .as_ref()
                .expect("branches ask for logits");
            let g = group_of[&m];
            let mut scores = shared[g].clone();
            if let Some(last) = &last_rows[g] {
                accumulate(&mut scores, last, &prompts[m][start..=start], vocab)?;
            }
            accumulate(&mut scores, logits, &prompts[m][start + 1..], vocab)?;
            out[m] = scores;
        }
        Ok(())
    }
}

/// Tokens all `encoded` share that can run without logits: the common prefix, stopped
/// before the first scored prediction of any of them (made at `scored_from - 1`).
fn shared_prefix(encoded: &[Encoded]) -> usize {
    let lcp = encoded[1..].iter().fold(encoded[0].tokens.len(), |acc, e| {
        acc.min(common_prefix(&encoded[0].tokens, &e.tokens))
    });
    encoded
        .iter()
        .map(|e| e.scored_from - 1)
        .min()
        .unwrap_or(0)
        .min(lcp)
}

/// The log-probability of one scored token, with the model's most likely token there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    pub token: u32,
    pub logprob: f64,
    pub top_token: u32,
    pub top_logprob: f64,
}

/// Appends the scores of `targets` (one per logits row) to a sequence's scores.
fn accumulate(
    scores: &mut Vec<TokenScore>,
    logits: &candle_core::Tensor,
    targets: &[u32],
    vocab: usize,
) -> Result<()> {
    let flat: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    debug_assert_eq!(flat.len(), targets.len() * vocab);
    let scored: Vec<TokenScore> = targets
        .par_iter()
        .enumerate()
        .map(|(r, &t)| {
            let row = &flat[r * vocab..(r + 1) * vocab];
            let (lse, argmax) = log_softmax_row(row);
            TokenScore {
                token: t,
                logprob: row[t as usize] as f64 - lse,
                top_token: argmax as u32,
                top_logprob: row[argmax] as f64 - lse,
            }
        })
        .collect();
    scores.extend(scored);
    Ok(())
}

/// A sequence's summed score; summed in position order, whatever the thread count.
fn total(scores: &[TokenScore]) -> LoglikelihoodResponse {
    let mut r = LoglikelihoodResponse {
        logprob: 0.0,
        is_greedy: true,
        tokens: 0,
    };
    for s in scores {
        r.logprob += s.logprob;
        r.is_greedy &= s.top_token == s.token;
        r.tokens += 1;
    }
    r
}

pub(crate) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Byte offset of the earliest stop string in `text`.
#[cfg(test)]
fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    first_stop_match(text, stops).map(|(cut, _)| cut)
}

/// Byte offset of the earliest stop string in `text`, and which one it is.
pub(crate) fn first_stop_match<'a>(text: &str, stops: &'a [String]) -> Option<(usize, &'a str)> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|i| (i, s.as_str())))
        .min_by_key(|(i, _)| *i)
}

/// How much of `text` can be shown while generation goes on: not a tail that could be
/// the start of a stop string, nor a trailing replacement character (a UTF-8 character
/// whose remaining bytes have not been generated yet).
pub(crate) fn certain_prefix(text: &str, stops: &[String]) -> usize {
    let mut end = text.len();
    for stop in stops.iter().filter(|s| !s.is_empty()) {
        for (i, _) in text.char_indices() {
            if i >= end {
                break;
            }
            let tail = &text[i..];
            if tail.len() < stop.len() && stop.starts_with(tail) {
                end = i;
                break;
            }
        }
    }
    let mut cut = &text[..end];
    while let Some(stripped) = cut.strip_suffix('\u{fffd}') {
        cut = stripped;
    }
    cut.len()
}

pub(crate) fn sample(row: &[f32], temperature: f64, rng: &mut impl Rng) -> u32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let weights: Vec<f64> = row
        .iter()
        .map(|&v| ((v as f64 - max) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.r#gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        u -= w;
        if u <= 0.0 {
            return i as u32;
        }
    }
    (row.len() - 1) as u32
}

/// Items: runs of consecutive requests with the same context (the choices of one
/// question). Choices that are contexts (WinoGrande) make one item each, and share what
/// they share through the call's common prefix.
fn group_bounds(requests: &[LoglikelihoodRequest]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=requests.len() {
        if i == requests.len() || requests[i].context != requests[start].context {
            groups.push(start..i);
            start = i;
        }
    }
    groups
}

impl LanguageModel for EmbeddedModel {
    fn identity(&self) -> ModelIdentity {
        let mut settings = serde_json::Map::new();
        settings.insert("weights".into(), serde_json::json!(self.options.weights));
        settings.insert(
            "scoring_storage".into(),
            serde_json::json!(self.scoring.storage),
        );
        settings.insert(
            "decoding_storage".into(),
            serde_json::json!(self.decoding_weights().storage),
        );
        settings.insert("max_length".into(), serde_json::json!(self.max_length));
        settings.insert("general_name".into(), serde_json::json!(self.general_name));
        settings.insert("tokenizer".into(), serde_json::json!(self.tokenizer.kind()));
        settings.insert(
            "pre_tokenizer".into(),
            serde_json::json!(self.tokenizer.pre),
        );
        settings.insert("config".into(), serde_json::json!(self.decoder.config));
        if self.chat_template_overridden
            && let Some(chat) = &self.chat
        {
            settings.insert("chat_template".into(), serde_json::json!(chat.source));
        }
        ModelIdentity {
            name: self.name.clone(),
            backend: format!("candle {}", "0.11"),
            source: self.path.display().to_string(),
            sha256: Some(self.sha256.clone()),
            settings,
        }
    }

    fn loglikelihood(
        &self,
        requests: &[LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ModelError> {
        let encoded = requests
            .iter()
            .enumerate()
            .map(|(i, r)| self.encode_pair(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        let scores = self
            .score_all(&encoded, group_bounds(requests))
            .map_err(backend)?;
        Ok(scores.iter().map(|s| total(s)).collect())
    }

    fn loglikelihood_rolling(
        &self,
        requests: &[RollingRequest],
    ) -> Result<Vec<RollingResponse>, ModelError> {
        requests
            .iter()
            .map(|r| {
                let tokens = self.tokenizer.encode(&r.text).map_err(backend)?;
                let mut sum = RollingResponse {
                    logprob: 0.0,
                    tokens: 0,
                };
                for window in self.rolling_windows(&tokens) {
                    let s = self
                        .score_all(
                            std::slice::from_ref(&window),
                            std::iter::once(0..1).collect(),
                        )
                        .map_err(backend)?;
                    let window = total(&s[0]);
                    sum.logprob += window.logprob;
                    sum.tokens += window.tokens;
                }
                Ok(sum)
            })
            .collect()
    }

    fn generate(&self, requests: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError> {
        self.generate_batched(requests)
    }

    /// Log-likelihood samples 16 at a time (packed into passes); generations four
    /// decoding batches at a time, so that waiting sequences join as others finish.
    fn samples_per_call(&self, generation: bool) -> usize {
        if generation {
            4 * self.batch_size()
        } else {
            16
        }
    }

    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let chat = self.chat.as_ref().ok_or(ModelError::Unsupported(
            "chat templates (the GGUF has none)",
        ))?;
        chat.render(messages).map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_cut_at_the_earliest() {
        let stops = vec!["Question:".to_string(), "\n\n".to_string()];
        assert_eq!(first_stop("42\n\nQuestion: x", &stops), Some(2));
        assert_eq!(first_stop("42 Question:\n\n", &stops), Some(3));
        assert_eq!(first_stop("42", &stops), None);
    }

    #[test]
    fn streaming_holds_back_what_may_start_a_stop_string() {
        let stops = vec!["\n\nQ".to_string()];
        assert_eq!(certain_prefix("42\n", &stops), 2);
        assert_eq!(certain_prefix("42\n\n", &stops), 2);
        assert_eq!(certain_prefix("42\nx", &stops), 4);
        assert_eq!(certain_prefix("ab\u{fffd}", &[]), 2);
        assert_eq!(first_stop_match("a\n\nQ b", &stops), Some((1, "\n\nQ")));
    }

    #[test]
    fn items_are_runs_of_one_context() {
        let r = |c: &str| LoglikelihoodRequest {
            context: c.into(),
            continuation: " x".into(),
        };
        let requests = [r("a"), r("a"), r("b"), r("a")];
        assert_eq!(group_bounds(&requests), vec![0..2, 2..3, 3..4]);
    }
}

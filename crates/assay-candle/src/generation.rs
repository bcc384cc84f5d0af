//! Generation with continuous batching: [`GenerationBatch`] decodes every live sequence
//! with one forward pass per step, sequences leave as they finish and waiting ones join
//! between steps. A prompt's prefix shared by the sequences admitted together (a task's
//! few-shot examples) runs once, and stays cached for the next admission.
//!
//! Each sequence's numbers do not depend on its companions (prompts are processed with
//! the scoring path's batch-invariant shapes, decoding steps are row by row), so a
//! greedy answer is the same bit for bit whether it was generated alone or among 31
//! others, and whatever the thread count.

use crate::decoder::{DecodeCache, Segment, argmax};
use crate::embedded::{EmbeddedModel, backend, certain_prefix, first_stop_match, sample};
use assay_core::{FinishReason, GenerateRequest, GenerateResponse, ModelError};
use rand::SeedableRng;

/// Identifies a generation in a batch; chosen by the caller.
pub type JobId = u64;

/// A generation to admit to a batch.
#[derive(Debug, Clone)]
pub struct Generation {
    pub id: JobId,
    pub request: GenerateRequest,
    /// End-of-sequence tokens are ordinary ones: the answer runs to `max_tokens` (for
    /// speed measurements, as `llama-bench` and vLLM's `ignore_eos` do).
    pub ignore_eos: bool,
}

impl Generation {
    pub fn new(id: JobId, request: GenerateRequest) -> Self {
        Self {
            id,
            request,
            ignore_eos: false,
        }
    }
}

/// What a step produced for one sequence.
#[derive(Debug)]
pub enum GenerationEvent {
    /// Text that is now certain (it cannot start a stop string): stream it.
    Text { id: JobId, text: String },
    /// The answer, with the stop string that ended it if one did; the text includes every
    /// piece sent before.
    Finished {
        id: JobId,
        result: Result<(GenerateResponse, Option<String>), ModelError>,
    },
}

struct Live {
    id: JobId,
    request: GenerateRequest,
    cache: DecodeCache,
    logits: Vec<f32>,
    rng: rand_chacha::ChaCha8Rng,
    generated: Vec<u32>,
    text: String,
    emitted: usize,
    finish: Option<FinishReason>,
    ignore_eos: bool,
}

/// Sequences being generated together. Drive it with [`admit`](Self::admit) and
/// [`step`](Self::step) until [`is_empty`](Self::is_empty).
pub struct GenerationBatch<'m> {
    model: &'m EmbeddedModel,
    live: Vec<Live>,
    max_batch: usize,
    /// The last step's logits, all sequences together; kept to reuse its memory.
    logits: Vec<f32>,
}

impl<'m> GenerationBatch<'m> {
    pub fn new(model: &'m EmbeddedModel, max_batch: usize) -> Self {
        Self {
            model,
            live: Vec::new(),
            max_batch: max_batch.max(1),
            logits: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// How many more sequences can join now.
    pub fn free_slots(&self) -> usize {
        self.max_batch.saturating_sub(self.live.len())
    }

    /// Processes the prompts of `jobs` together and adds them to the batch; a job whose
    /// request is refused finishes at once with its error.
    pub fn admit(&mut self, jobs: Vec<Generation>, events: &mut Vec<GenerationEvent>) {
        let mut accepted = Vec::new();
        let mut ignore = Vec::new();
        for job in jobs {
            match self.model.generation_prompt(job.id, &job.request) {
                Ok(tokens) => {
                    ignore.push(job.ignore_eos);
                    accepted.push((job.id, job.request, tokens));
                }
                Err(e) => events.push(GenerationEvent::Finished {
                    id: job.id,
                    result: Err(e),
                }),
            }
        }
        if accepted.is_empty() {
            return;
        }
        let prompts: Vec<&[u32]> = accepted.iter().map(|(_, _, t)| t.as_slice()).collect();
        match self.prefill(&prompts, &accepted) {
            Ok(prepared) => {
                for (((id, request, _), (cache, logits)), ignore_eos) in
                    accepted.into_iter().zip(prepared).zip(ignore)
                {
                    let seed = request.seed.unwrap_or(0);
                    self.live.push(Live {
                        id,
                        request,
                        cache,
                        logits,
                        rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
                        generated: Vec::new(),
                        text: String::new(),
                        emitted: 0,
                        finish: None,
                        ignore_eos,
                    });
                }
            }
            Err(e) => {
                for (id, _, _) in accepted {
                    events.push(GenerationEvent::Finished {
                        id,
                        result: Err(backend(&e)),
                    });
                }
            }
        }
    }

    /// Keys, values and next-token logits of each prompt. The prefix all share runs once
    /// (through the model's prefix cache); the rests run as segments of one pass, or
    /// alone in chunks when long.
    fn prefill(
        &self,
        prompts: &[&[u32]],
        jobs: &[(JobId, GenerateRequest, Vec<u32>)],
    ) -> crate::Result<Vec<(DecodeCache, Vec<f32>)>> {
        let model = self.model;
        let config = &model.decoder.config;
        // Every prompt keeps at least one token of its own, whose logits are wanted.
        let shared = prompts[1..].iter().fold(prompts[0].len() - 1, |acc, p| {
            acc.min(crate::embedded::common_prefix(prompts[0], p))
                .min(p.len() - 1)
        });
        let past = model.prefix(&prompts[0][..shared])?;
        let capacity = |i: usize| (prompts[i].len() + jobs[i].1.max_tokens).min(model.max_length());
        let mut out: Vec<Option<(DecodeCache, Vec<f32>)>> = prompts.iter().map(|_| None).collect();
        let mut short = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            if p.len() - shared > crate::embedded::CHUNK {
                let mut cache = past.clone();
                let mut logits = None;
                let rest = &p[shared..];
                let chunks: Vec<&[u32]> = rest.chunks(crate::embedded::CHUNK).collect();
                for (c, chunk) in chunks.iter().enumerate() {
                    let from = if c + 1 == chunks.len() {
                        chunk.len() - 1
                    } else {
                        chunk.len()
                    };
                    logits = model
                        .decoder
                        .forward(&model.scoring, chunk, &mut cache, from)?;
                }
                let row = logits
                    .expect("the last chunk returns logits")
                    .flatten_all()?
                    .to_vec1()?;
                out[i] = Some((DecodeCache::from_prompt(config, &cache, capacity(i))?, row));
            } else {
                short.push(i);
            }
        }
        // Passes of at most `batch_size` sequences, as scoring packs them.
        for pass in short.chunks(model.batch_size()) {
            let segments: Vec<Segment<'_>> = pass
                .iter()
                .map(|&i| Segment {
                    tokens: &prompts[i][shared..],
                    past: &past,
                    parent: None,
                    logits_from: prompts[i].len() - shared - 1,
                })
                .collect();
            let outputs = model.decoder.forward_segments(&model.scoring, &segments)?;
            for (&i, output) in pass.iter().zip(outputs) {
                let cache = past.extend(&output.kv)?;
                let row = output
                    .logits
                    .expect("each segment asks for its last logits")
                    .flatten_all()?
                    .to_vec1()?;
                out[i] = Some((DecodeCache::from_prompt(config, &cache, capacity(i))?, row));
            }
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every prompt ran"))
            .collect())
    }

    /// Stops a sequence (its client has gone), freeing its slot; returns what it had.
    pub fn cancel(&mut self, id: JobId) -> Option<GenerateResponse> {
        let at = self.live.iter().position(|l| l.id == id)?;
        let live = self.live.swap_remove(at);
        Some(GenerateResponse {
            text: live.text,
            finish_reason: FinishReason::Length,
            tokens: live.generated.len(),
            reasoning: None,
        })
    }

    /// Chooses every live sequence's next token, reports text and finished sequences,
    /// and runs one forward pass for those that go on.
    pub fn step(&mut self, events: &mut Vec<GenerationEvent>) {
        let model = self.model;
        let mut going = Vec::with_capacity(self.live.len());
        for mut live in std::mem::take(&mut self.live) {
            match advance(model, &mut live) {
                Ok(Some(next)) => {
                    let safe = certain_prefix(&live.text, &live.request.until).max(live.emitted);
                    if safe > live.emitted {
                        events.push(GenerationEvent::Text {
                            id: live.id,
                            text: live.text[live.emitted..safe].to_owned(),
                        });
                        live.emitted = safe;
                    }
                    going.push((live, next));
                }
                Ok(None) => finish(live, events),
                Err(e) => events.push(GenerationEvent::Finished {
                    id: live.id,
                    result: Err(e),
                }),
            }
        }
        if going.is_empty() {
            return;
        }
        let tokens: Vec<u32> = going.iter().map(|(_, t)| *t).collect();
        let mut caches: Vec<&mut DecodeCache> =
            going.iter_mut().map(|(l, _)| &mut l.cache).collect();
        // The whole step runs on one of the pool's threads: its many small parallel
        // products then start from a worker, which takes part in them, instead of this
        // thread sleeping and waking around each one (most of a step's cost otherwise).
        let logits = &mut self.logits;
        let decoded = rayon::scope(|_| {
            model
                .decoder
                .decode_step(model.decoding_weights(), &tokens, &mut caches, logits)
        });
        match decoded {
            Ok(()) => {
                let vocab = self.logits.len() / going.len();
                for ((mut live, _), row) in going.into_iter().zip(self.logits.chunks_exact(vocab)) {
                    live.logits.clear();
                    live.logits.extend_from_slice(row);
                    self.live.push(live);
                }
            }
            Err(e) => {
                for (live, _) in going {
                    events.push(GenerationEvent::Finished {
                        id: live.id,
                        result: Err(backend(&e)),
                    });
                }
            }
        }
    }
}

/// Picks the next token of `live`: `Some(token)` to feed back, `None` once it is done
/// (its finish reason set).
fn advance(model: &EmbeddedModel, live: &mut Live) -> Result<Option<u32>, ModelError> {
    let req = &live.request;
    let next = if req.temperature <= 0.0 {
        argmax(&live.logits) as u32
    } else {
        sample(&live.logits, req.temperature, &mut live.rng)
    };
    if !live.ignore_eos && model.tokenizer.end_of_generation.contains(&next) {
        live.finish = Some(FinishReason::EndOfSequence);
        return Ok(None);
    }
    live.generated.push(next);
    live.text = model
        .tokenizer
        .decode(&live.generated)
        .map_err(|e| backend(&e))?;
    if first_stop_match(&live.text, &req.until).is_some() {
        live.finish = Some(FinishReason::Stop);
        return Ok(None);
    }
    // The token just chosen must fit in the cache to be fed back.
    if live.generated.len() >= req.max_tokens || live.cache.len() >= live.cache.capacity() {
        live.finish = Some(FinishReason::Length);
        return Ok(None);
    }
    Ok(Some(next))
}

/// The last piece of text, if any, then the answer.
fn finish(mut live: Live, events: &mut Vec<GenerationEvent>) {
    let mut matched = None;
    if let Some((cut, stop)) = first_stop_match(&live.text, &live.request.until) {
        matched = Some(stop.to_owned());
        live.text.truncate(cut);
    }
    if live.text.len() > live.emitted {
        events.push(GenerationEvent::Text {
            id: live.id,
            text: live.text[live.emitted..].to_owned(),
        });
    }
    events.push(GenerationEvent::Finished {
        id: live.id,
        result: Ok((
            GenerateResponse {
                text: live.text,
                finish_reason: live.finish.unwrap_or(FinishReason::Length),
                tokens: live.generated.len(),
                reasoning: None,
            },
            matched,
        )),
    });
}

//! Generation for the gateway: the chat template, a seeded sampler with temperature and
//! nucleus (top-p) filtering, and a token loop that reports every token as it is produced
//! and stops when the caller says so (a client that went away).
//!
//! # Chat template
//!
//! The model is byte-level, so the template is plain text. Each message becomes
//! `"{role}: {content}\n"` (role is `system`, `user`, `assistant` or `tool`), and the prompt
//! ends with `"assistant: "`; the context is BOS followed by the prompt's UTF-8 bytes, so
//! `prompt_tokens` = 1 + the prompt's byte length. The model sees the last `max_seq` tokens
//! of the context at each step (no KV cache: the models are small).

use std::collections::{BTreeMap, BTreeSet};

use super::version::ModelVersion;
use crate::model::tokenizer::{self, BOS, EOS};

use crate::model::Result as ModelResult;
use crate::model::{block_names, sample, BlockName, MetaConfig};
use crate::rng::SplitMix64;

/// One chat message as the template sees it.
#[derive(Debug, Clone)]
pub struct TemplateMessage<'a> {
    /// Role.
    pub role: &'a str,
    /// Text.
    pub content: &'a str,
}

/// The prompt text of `messages` (see the module docs).
pub fn chat_prompt(messages: &[TemplateMessage<'_>]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str(m.role);
        s.push_str(": ");
        s.push_str(m.content);
        s.push('\n');
    }
    s.push_str("assistant: ");
    s
}

/// The context ids of `prompt`: BOS then its bytes.
pub fn prompt_ids(prompt: &str) -> Vec<u32> {
    let mut ids = vec![BOS];
    ids.extend(tokenizer::encode(prompt));
    ids
}

/// How to sample.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Most new tokens.
    pub max_tokens: usize,
    /// Temperature; 0 is greedy (argmax, ties to the lower id).
    pub temperature: f64,
    /// Nucleus mass in (0, 1]; 1 keeps every token.
    pub top_p: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model produced EOS.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The consumer stopped it (client disconnect).
    Cancelled,
}

impl Finish {
    /// The OpenAI `finish_reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Cancelled => "cancelled",
        }
    }
}

/// Runs the token loop on `version` from `ctx`; `on_token(id)` is called after each token
/// and returns false to stop. Returns the generated ids and why it stopped.
pub fn run(
    version: &ModelVersion,
    ctx: Vec<u32>,
    opts: &SampleOptions,
    on_token: impl FnMut(u32) -> bool,
) -> ModelResult<(Vec<u32>, Finish)> {
    run_tallied(version, ctx, opts, &mut BlockTally::default(), on_token)
}

/// [`run`], counting in `tally` the tokens each block took part in.
pub fn run_tallied(
    version: &ModelVersion,
    mut ctx: Vec<u32>,
    opts: &SampleOptions,
    tally: &mut BlockTally,
    mut on_token: impl FnMut(u32) -> bool,
) -> ModelResult<(Vec<u32>, Finish)> {
    let mut rng = SplitMix64::for_label(opts.seed, "serve");
    let max_seq = version.model().config().max_seq;
    let prompt = ctx.len() as u64;
    let mut out = Vec::new();
    let mut picked = BTreeSet::new();
    for step in 0..opts.max_tokens {
        let window = &ctx[ctx.len().saturating_sub(max_seq)..];
        picked.clear();
        let logits = version.logits_recording(window, &mut picked)?;
        let next = sample(&logits, opts.temperature, opts.top_p, &mut rng);
        let produced = next != EOS;
        let weight = if step == 0 { prompt } else { 0 } + u64::from(produced);
        tally.add_experts(&picked, weight);
        if !produced {
            return Ok((out, Finish::Stop));
        }
        ctx.push(next);
        out.push(next);
        if !on_token(next) {
            return Ok((out, Finish::Cancelled));
        }
    }
    Ok((out, Finish::Length))
}

/// Tokens per block of one request, for the redemption report. The unit is the billed
/// token (prompt + completion):
///
/// - every dense block (`embed`, `head`, each `layerN.backbone` and `layerN.router`) takes
///   part in every billed token;
/// - an expert takes part in the prompt tokens if the router picked it (for any position)
///   in the first pass, and in each generated token whose pass picked it. Without a KV
///   cache every pass runs the whole window, so the experts of a pass are those the router
///   picked for some position of the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockTally {
    experts: BTreeMap<(usize, usize), u64>,
}

impl BlockTally {
    fn add_experts(&mut self, picked: &BTreeSet<(usize, usize)>, weight: u64) {
        if weight == 0 {
            return;
        }
        for k in picked {
            *self.experts.entry(*k).or_insert(0) += weight;
        }
    }

    /// Block name → tokens, for a request that billed `total_tokens` on a model of
    /// `cfg`'s shape (blocks with no tokens are left out).
    pub fn blocks(&self, cfg: &MetaConfig, total_tokens: u64) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        if total_tokens == 0 {
            return out;
        }
        for name in block_names(cfg) {
            match name {
                BlockName::Expert { layer, expert } => {
                    if let Some(t) = self.experts.get(&(layer, expert)).filter(|t| **t > 0) {
                        out.insert(name.to_string(), *t);
                    }
                }
                _ => {
                    out.insert(name.to_string(), total_tokens);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let mut l = vec![-100f32; 259];
        l[65] = 10.0;
        l[66] = 9.0;
        let mut r = SplitMix64::new(5);
        for _ in 0..50 {
            assert_eq!(sample(&l, 1.0, 0.5, &mut r), 65);
        }
        assert_eq!(sample(&l, 0.0, 1.0, &mut r), 65);
        assert_eq!(
            chat_prompt(&[TemplateMessage {
                role: "user",
                content: "hi"
            }]),
            "user: hi\nassistant: "
        );
    }
}

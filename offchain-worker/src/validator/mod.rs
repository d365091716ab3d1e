//! The validator role (DESIGN.md, Proof-of-Learning steps 3–5): follow the chain and, for
//! the model's round in progress,
//!
//! * in phase 1, judge every submission ([`judge`]: fetch and verify by hash, decode, screen
//!   with [`crate::defense`], measure base + submission alone on the validation set) and send
//!   `MsgAttestSubmissions` with one judgement per submission in the round's order;
//! * in phase 2, aggregate the admitted submissions with the model's rule, apply the
//!   aggregate, upload each changed block's new TensorBlock and lossless aggregate delta to
//!   Kubo, measure the new loss and send `MsgAttestAggregate` ([`aggregate`]).
//!
//! It attests each phase of a round at most once: before working it checks its own record
//! (`{home}/validator-state.json`, written before and after sending) and the chain's
//! attestations of the round, and the chain refuses a second one anyway
//! (`DuplicateAttestation`). [`replay`] re-derives every learned version from its deltas.

pub mod aggregate;
mod base;
pub mod judge;
pub mod replay;
mod state;
pub mod weights;

pub use base::{head_hashes, open_source, Base};
pub use state::{Attested, PendingAttestation, ValidatorState};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use blyan_proto::pol::{
    AttestAggregate, AttestSubmissions, Attestation, PolMsg, PolParams, RoundInfo, RoundStatus,
    SubmissionInfo, SubmissionStatus,
};
use blyan_proto::query::QueryPath;
use blyan_proto::Msg;
use candle_core::Device;

use crate::chain::submission::fetch_deltas;
use crate::chain::{ChainSource, RpcClient, TxSender};
use crate::defense::{DefenseParams, Update};
use crate::ipfs::KuboClient;
use judge::MAX_LOSS_MICRO;

/// CheckTx codes that settle a phase for this validator: `UnknownRound` (413) through
/// `MalformedAttestation` (418).
const FINAL_REFUSALS_FROM: u32 = blyan_proto::ErrorCode::UnknownRound as u32;
const FINAL_REFUSALS_TO: u32 = blyan_proto::ErrorCode::MalformedAttestation as u32;

/// How a validator works.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// Model id on chain.
    pub model_id: String,
    /// State and caches.
    pub home: PathBuf,
    /// Phase-1 screening thresholds.
    pub defense: DefenseParams,
    /// Test aid: attest a perturbed aggregate (see [`aggregate::perturb`]).
    pub fake_aggregate: bool,
}

/// What one step of the loop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do now.
    Idle(String),
    /// An attestation was committed.
    Attested(Attested),
}

/// A running validator.
pub struct Validator {
    cfg: ValidatorConfig,
    sender: TxSender,
    kubo: KuboClient,
    device: Device,
    state: ValidatorState,
    base: Option<Base>,
    texts: Option<(String, Vec<String>)>,
    warmed: u64,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("address", &self.sender.address())
            .field("model", &self.cfg.model_id)
            .finish()
    }
}

/// Renders chain flag bits (`norm|krum`, `hash`, `-` for none).
pub fn describe_flags(bits: u32) -> String {
    let mut s = crate::defense::flag::describe(bits & !blyan_proto::pol::flags::HASH);
    if bits & blyan_proto::pol::flags::HASH != 0 {
        s = if s == "-" {
            "hash".into()
        } else {
            format!("{s}|hash")
        };
    }
    s
}

impl Validator {
    /// A validator signing with `sender` (an active validator's operator key), uploading
    /// new blocks to `kubo`.
    pub fn new(
        cfg: ValidatorConfig,
        sender: TxSender,
        kubo: KuboClient,
        device: Device,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cfg.home).with_context(|| cfg.home.display().to_string())?;
        let state = ValidatorState::load(&cfg.home)?;
        Ok(Self {
            cfg,
            sender,
            kubo,
            device,
            state,
            base: None,
            texts: None,
            warmed: 0,
        })
    }

    fn rpc(&self) -> &RpcClient {
        self.sender.rpc()
    }

    /// The persistent state.
    pub fn state(&self) -> &ValidatorState {
        &self.state
    }

    /// Runs forever.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let mut follower =
            crate::chain::BlockFollower::new(self.rpc().clone(), self.state.last_height);
        let mut last_idle = String::new();
        tracing::info!(validator = %self.sender.address(), model = %self.cfg.model_id,
            fake_aggregate = self.cfg.fake_aggregate, "validator started");
        loop {
            let Some(height) = follower.next(Duration::from_secs(30)) else {
                tracing::warn!("no new block for 30 s");
                continue;
            };
            match self.step(height) {
                Ok(Step::Idle(why)) if why != last_idle => {
                    tracing::info!(height, "{why}");
                    last_idle = why;
                }
                Ok(Step::Idle(_)) => {}
                Ok(Step::Attested(a)) => tracing::info!(round = a.round, phase = a.phase,
                    height = a.height, tx = %a.tx_hash, "attestation committed"),
                Err(e) => {
                    tracing::warn!(height, "validator step failed (retrying next block): {e:#}")
                }
            }
            self.state.last_height = height;
            self.state.save(&self.cfg.home)?;
        }
    }

    /// One pass at `height`: settle an attestation in flight, then attest the current
    /// phase of the model's round if this validator has not yet.
    pub fn step(&mut self, height: u64) -> anyhow::Result<Step> {
        if let Some(done) = self.settle_pending(height)? {
            return Ok(Step::Attested(done));
        }
        if self.state.pending.is_some() {
            return Ok(Step::Idle(
                "waiting for the attestation to be committed".into(),
            ));
        }
        let Some(r) = self.current()? else {
            return Ok(Step::Idle("no round in progress".into()));
        };
        let phase = match r.status {
            RoundStatus::Phase1 => 1,
            RoundStatus::Phase2 => 2,
            RoundStatus::Open => {
                // Load the heads and the validation set while miners submit, once a round.
                if self.warmed != r.id {
                    self.warmed = r.id;
                    if let Err(e) = self.prepare() {
                        tracing::warn!(round = r.id, "could not load the base yet: {e:#}");
                    }
                }
                return Ok(Step::Idle(format!(
                    "round {} takes submissions until height {}",
                    r.id, r.submit_until
                )));
            }
            s => return Ok(Step::Idle(format!("round {} is {s:?}", r.id))),
        };
        if let Some(why) = self.already(&r, phase)? {
            return Ok(Step::Idle(why));
        }
        let msg = if phase == 1 {
            self.phase1(&r)?
        } else {
            self.phase2(&r)?
        };
        // The work takes a while: look again before sending.
        match self.current()? {
            Some(now) if now.id == r.id && now.status == r.status => {}
            _ => {
                return Ok(Step::Idle(format!(
                    "phase {phase} of round {} ended before this validator finished",
                    r.id
                )))
            }
        }
        self.send(r.id, phase, msg, height)
    }

    fn current(&self) -> anyhow::Result<Option<RoundInfo>> {
        Ok(self
            .rpc()
            .query(&QueryPath::CurrentRound(self.cfg.model_id.clone()))?)
    }

    /// Why this validator must not attest `phase` of `r`, if it must not.
    fn already(&mut self, r: &RoundInfo, phase: u8) -> anyhow::Result<Option<String>> {
        if self.state.has(r.id, phase) {
            return Ok(Some(format!(
                "already attested phase {phase} of round {}",
                r.id
            )));
        }
        let atts: Vec<Attestation> = self.rpc().query(&QueryPath::Attestations(r.id))?;
        let me = self.sender.address();
        if let Some(a) = atts
            .iter()
            .find(|a| a.validator == me && (a.aggregate.is_some() == (phase == 2)))
        {
            self.state.record(Attested {
                round: r.id,
                phase,
                tx_hash: String::new(),
                height: a.height,
            });
            self.state.save(&self.cfg.home)?;
            return Ok(Some(format!(
                "the chain has our phase-{phase} attestation of round {}",
                r.id
            )));
        }
        Ok(None)
    }

    /// The base model (reloaded when the heads moved) and the validation texts.
    fn prepare(&mut self) -> anyhow::Result<ChainSource> {
        let source = open_source(
            self.rpc().base(),
            &self.cfg.model_id,
            &self.kubo,
            &self.cfg.home,
        )?;
        let hashes = head_hashes(&source)?;
        if self.base.as_ref().map(|b| b.hashes()) != Some(hashes.as_slice()) {
            self.base = None;
            self.base = Some(Base::load(&source, &self.device).context("loading the heads")?);
            tracing::info!(
                blocks = hashes.len(),
                "base model loaded from the chain's heads"
            );
        }
        let v = source
            .validation()
            .context("the model has no validation set on chain")?;
        if self.texts.as_ref().map(|(cid, _)| cid) != Some(&v.cid) {
            let path = source.fetch_validation(&self.cfg.home.join("validation"))?;
            self.texts = Some((v.cid.clone(), crate::data::load_texts(&path)?));
        }
        Ok(source)
    }

    fn submissions(&self, round: u64) -> anyhow::Result<Vec<SubmissionInfo>> {
        Ok(self.rpc().query(&QueryPath::Submissions(round))?)
    }

    fn phase1(&mut self, r: &RoundInfo) -> anyhow::Result<Msg> {
        self.prepare()?;
        let subs = self.submissions(r.id)?;
        let fetched = subs.iter().map(|s| fetch_deltas(&self.kubo, s)).collect();
        let (Some(base), Some((_, texts))) = (self.base.as_mut(), self.texts.as_ref()) else {
            anyhow::bail!("no base model");
        };
        let outcomes = judge::judge(base, &subs, fetched, &self.cfg.defense, texts)?;
        let judgements = judge::judgements(&r.submissions, &outcomes);
        for (j, o) in judgements.iter().zip(&outcomes) {
            tracing::info!(round = r.id, submission = j.submission, flags = %describe_flags(j.flags),
                loss_micro = j.loss_micro, base_loss_micro = ?r.base_loss_micro,
                "judged: {}", o.note);
        }
        Ok(Msg::Pol(PolMsg::AttestSubmissions(AttestSubmissions {
            round: r.id,
            judgements,
        })))
    }

    fn phase2(&mut self, r: &RoundInfo) -> anyhow::Result<Msg> {
        self.prepare()?;
        let params: PolParams = self.rpc().query(&QueryPath::PolParams)?;
        let rule = aggregate::rule(params.rule_for(&self.cfg.model_id));
        let server_lr_bps = params.server_lr_for(&self.cfg.model_id);
        let mut updates = Vec::new();
        for s in self.submissions(r.id)? {
            if s.status != SubmissionStatus::Admitted {
                continue;
            }
            let deltas = fetch_deltas(&self.kubo, &s)?;
            updates.push(Update {
                submission: s.id,
                samples: s.weight,
                blocks: deltas.into_iter().map(|d| d.decoded).collect(),
            });
        }
        let admitted: Vec<u64> = updates.iter().map(|u| u.submission).collect();
        let (agg, hash) =
            aggregate::aggregate(&updates, &rule, server_lr_bps, self.cfg.fake_aggregate)?;
        let (Some(base), Some((_, texts))) = (self.base.as_mut(), self.texts.as_ref()) else {
            anyhow::bail!("no base model");
        };
        let mut blocks = Vec::new();
        let mut weights = BTreeMap::new();
        for (name, delta) in &agg {
            let b = base
                .block(name)
                .with_context(|| format!("the model has no block {name}"))?;
            let built = aggregate::build_block(b, delta)?;
            blocks.push(aggregate::upload(&self.kubo, &built)?);
            weights.insert(name.clone(), built.weights);
        }
        let loss = base.loss_with(&weights, texts)?;
        let loss_micro = loss.map_or(MAX_LOSS_MICRO, |l| l.clamp(1, MAX_LOSS_MICRO));
        tracing::info!(round = r.id, ?admitted, %rule, server_lr_bps, aggregate_hash = %hex::encode(hash),
            blocks = ?blocks.iter().map(|b| format!("{} {}", b.block, b.cid)).collect::<Vec<_>>(),
            base_loss_micro = ?r.base_loss_micro, new_loss_micro = loss_micro,
            fake = self.cfg.fake_aggregate, "aggregate built");
        Ok(Msg::Pol(PolMsg::AttestAggregate(AttestAggregate {
            round: r.id,
            aggregate_hash: hash,
            blocks,
            loss_micro,
        })))
    }

    fn send(&mut self, round: u64, phase: u8, msg: Msg, height: u64) -> anyhow::Result<Step> {
        let sent = self.sender.send(|_| vec![msg])?;
        if sent.code != 0 {
            // The pol refusals (unknown round or submission, not a validator, phase closed,
            // duplicate, malformed) would come back the same: this phase is done. Others
            // (nonce, fees) are retried at the next block.
            if (FINAL_REFUSALS_FROM..=FINAL_REFUSALS_TO).contains(&sent.code) {
                self.state.record(Attested {
                    round,
                    phase,
                    tx_hash: format!("refused:{}", sent.code),
                    height,
                });
                self.state.save(&self.cfg.home)?;
            }
            return Ok(Step::Idle(format!(
                "phase-{phase} attestation of round {round} refused by CheckTx: code {} {}",
                sent.code, sent.log
            )));
        }
        tracing::info!(round, phase, tx = %sent.hash, "attestation broadcast");
        self.state.pending = Some(PendingAttestation {
            round,
            phase,
            tx_hash: sent.hash.clone(),
            nonce: sent.nonce,
            sent_at: height,
        });
        self.state.save(&self.cfg.home)?;
        let committed = self.sender.wait(&sent.hash, Duration::from_secs(60))?;
        match self.settle_pending(committed.height)? {
            Some(a) => Ok(Step::Attested(a)),
            None => Ok(Step::Idle(format!(
                "phase-{phase} attestation of round {round} failed: code {} {}",
                committed.code, committed.log
            ))),
        }
    }

    /// Resolves the attestation in flight, if any. A failed one is recorded too (with the
    /// code in place of the hash): the chain's checks are deterministic, so sending it
    /// again would fail again.
    fn settle_pending(&mut self, height: u64) -> anyhow::Result<Option<Attested>> {
        let Some(p) = self.state.pending.clone() else {
            return Ok(None);
        };
        let done = match self.rpc().tx(&p.tx_hash)? {
            Some((h, 0, _)) => Some(Attested {
                round: p.round,
                phase: p.phase,
                tx_hash: p.tx_hash.clone(),
                height: h,
            }),
            Some((h, code, log)) => {
                tracing::warn!(
                    height = h,
                    code,
                    round = p.round,
                    phase = p.phase,
                    "attestation failed in its block: {log}"
                );
                self.state.record(Attested {
                    round: p.round,
                    phase: p.phase,
                    tx_hash: format!("failed:{code}"),
                    height: h,
                });
                None
            }
            None if height > p.sent_at.saturating_add(20)
                && self.sender.next_nonce()? <= p.nonce =>
            {
                tracing::warn!(tx = %p.tx_hash, "attestation dropped from the mempool");
                None
            }
            None => return Ok(None),
        };
        self.state.pending = None;
        if let Some(a) = &done {
            self.state.record(a.clone());
        }
        self.state.save(&self.cfg.home)?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests;

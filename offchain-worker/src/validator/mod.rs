//! The validator role (DESIGN.md, Proof-of-Learning steps 3–5): follow the chain and, for
//! the model's round in progress,
//!
//! * in phase 1, judge every submission ([`judge`]: fetch and verify by hash, decode, screen
//!   with [`crate::defense`], then measure each unflagged submission's contribution to the
//!   aggregate of the unflagged set, leave-one-out, on the validation set: [`contribution`])
//!   and prepare `MsgAttestSubmissions` with one judgement per submission in the round's
//!   order;
//! * in phase 2, aggregate the admitted submissions with the model's rule, apply the
//!   aggregate, upload each changed block's new TensorBlock and lossless aggregate delta to
//!   Kubo, measure the new loss and prepare `MsgAttestAggregate` ([`aggregate`]).
//!
//! Both phases measure on the round's acceptance set ([`acceptance`]): the public
//! validation set, plus a hidden sample seeded by chain data when the validator has a
//! hidden corpus (`--hidden-corpus`); with one, the attested losses are moved onto the
//! recorded loss's scale (the recorded loss becomes a chained index anchored at the
//! genesis baseline).
//!
//! A prepared attestation gets a random salt and is kept in the state file
//! (`{home}/validator-state.json`) before its commitment (`MsgCommit`) is sent in the
//! phase's commit window; once that window is over the validator reveals it (sends the
//! attestation itself). A restart mid-phase finds the prepared attestation and reveals
//! exactly it: it never prepares or commits a phase twice, and the chain refuses a second
//! commitment or attestation anyway (`DuplicateCommitment`, `DuplicateAttestation`).
//! [`replay`] re-derives every learned version from its deltas.

pub mod acceptance;
pub mod aggregate;
mod base;
pub mod candidate;
pub mod contribution;
pub mod direction;
pub mod fetch;
pub mod judge;
pub mod momentum;
pub mod outer;
pub mod replay;
mod send;
mod state;
pub mod weights;

pub use base::{head_hashes, open_source, Base};
pub use state::{Attested, PendingAttestation, Plan, Prepared, ValidatorState};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use blyan_proto::pol::{
    AttestAggregate, AttestSubmissions, Attestation, PolMsg, PolParams, RoundInfo, RoundStatus,
    RoundVoting, SubmissionInfo, SubmissionStatus,
};
use blyan_proto::query::QueryPath;
use candle_core::Device;

use crate::chain::{ChainSource, RpcClient, TxSender};
use crate::defense::{DefenseParams, Update};
use crate::ipfs::KuboClient;
use send::fresh_salt;

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
    /// The hidden validation corpus a per-round sample of which joins the acceptance set
    /// (`None`: the public validation set alone).
    pub hidden: Option<acceptance::HiddenCorpus>,
}

/// What one step of the loop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do now.
    Idle(String),
    /// A commitment was recorded on chain.
    Committed {
        /// Round.
        round: u64,
        /// 1 or 2.
        phase: u8,
        /// Height of its block.
        height: u64,
    },
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
    round_set: Option<acceptance::RoundSet>,
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

/// Renders chain flag bits (`norm|krum`, `hash`, `unfetchable`, `-` for none; unknown
/// bits as hex).
pub fn describe_flags(bits: u32) -> String {
    use blyan_proto::pol::flags as f;
    let names = [
        (f::DECODE, "decode"),
        (f::NON_FINITE, "non-finite"),
        (f::NORM, "norm"),
        (f::DISTANCE, "distance"),
        (f::COSINE, "cosine"),
        (f::KRUM, "krum"),
        (f::SHAPE, "shape"),
        (f::HASH, "hash"),
        (f::UNFETCHABLE, "unfetchable"),
        (f::CONTRIBUTION, "contribution"),
        (f::SIGN_BIAS, "sign-bias"),
    ];
    let mut parts: Vec<String> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| (*name).to_string())
        .collect();
    if bits & !f::ALL != 0 {
        parts.push(format!("{:#x}", bits & !f::ALL));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("|")
    }
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
            round_set: None,
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
                Ok(Step::Committed {
                    round,
                    phase,
                    height,
                }) => tracing::info!(round, phase, height, "commitment recorded"),
                Ok(Step::Attested(a)) => tracing::info!(round = a.round, phase = a.phase,
                    height = a.height, tx = %a.tx_hash, "attestation revealed and recorded"),
                Err(e) => {
                    tracing::warn!(height, "validator step failed (retrying next block): {e:#}")
                }
            }
            self.state.last_height = height;
            self.state.save(&self.cfg.home)?;
        }
    }

    /// One pass at `height`: settle a transaction in flight, then commit to or reveal the
    /// current phase of the model's round if this validator has not yet.
    pub fn step(&mut self, height: u64) -> anyhow::Result<Step> {
        if let Some(done) = self.settle_pending(height)? {
            return Ok(done);
        }
        if self.state.pending.is_some() {
            return Ok(Step::Idle(
                "waiting for the transaction to be committed".into(),
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
        let Some(voting) = self.voting(r.id)? else {
            return Ok(Step::Idle(format!(
                "round {} has no power snapshot yet",
                r.id
            )));
        };
        let me = self.sender.address();
        if voting.power_of(&me).is_none() {
            return Ok(Step::Idle(format!(
                "not in the power snapshot of round {}",
                r.id
            )));
        }
        let until = voting.commit_until(phase);
        let on_chain = voting.commitment_of(phase, &me).map(|c| c.commitment);
        if self.state.prepared_for(r.id, phase).is_none() {
            if on_chain.is_some() {
                // Committed by a run whose state file is gone: without the salt it cannot
                // be revealed.
                return self.give_up(r.id, phase, height, "lost-salt");
            }
            if height >= until {
                return Ok(Step::Idle(format!(
                    "phase {phase} of round {} took commitments through height {until}",
                    r.id
                )));
            }
            let msg = if phase == 1 {
                self.phase1(&r, until)?
            } else {
                self.phase2(&r, until)?
            };
            // The work takes a while: look again before committing.
            match self.current()? {
                Some(now) if now.id == r.id && now.status == r.status => {}
                _ => {
                    return Ok(Step::Idle(format!(
                        "phase {phase} of round {} ended before this validator finished",
                        r.id
                    )))
                }
            }
            // Kept before the commitment is sent, so a restart reveals this very one.
            self.state.prepare(Prepared::new(&me, msg)?);
            self.state.save(&self.cfg.home)?;
            return self.send_commit(r.id, phase, height);
        }
        match self
            .state
            .plan(r.id, phase, on_chain.as_ref(), until, height)
        {
            Some(Plan::Commit) => self.send_commit(r.id, phase, height),
            Some(Plan::Reveal) => self.send_reveal(r.id, phase, height),
            Some(Plan::AwaitReveals) | None => Ok(Step::Idle(format!(
                "committed to phase {phase} of round {}; reveals from height {}",
                r.id,
                until.saturating_add(1)
            ))),
            Some(Plan::Missed) => self.give_up(r.id, phase, height, "missed-commit-window"),
            Some(Plan::Foreign) => self.give_up(r.id, phase, height, "foreign-commitment"),
        }
    }

    fn voting(&self, round: u64) -> anyhow::Result<Option<RoundVoting>> {
        Ok(self.rpc().query(&QueryPath::Voting(round))?)
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
            let mut base = Base::load(&source, &self.device).context("loading the heads")?;
            base.set_momentum(momentum::load(
                self.rpc(),
                &self.kubo,
                &self.cfg.model_id,
                base.hashes(),
            )?);
            self.base = Some(base);
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
        if let (Some(h), Some(b)) = (self.cfg.hidden.as_mut(), self.base.as_ref()) {
            h.splits(b.max_seq())?;
        }
        Ok(source)
    }

    fn submissions(&self, round: u64) -> anyhow::Result<Vec<SubmissionInfo>> {
        Ok(self.rpc().query(&QueryPath::Submissions(round))?)
    }

    /// Judges every submission of `r`; fetching is budgeted to end well before `until`,
    /// the last height of the commit window.
    fn phase1(&mut self, r: &RoundInfo, until: u64) -> anyhow::Result<PolMsg> {
        self.prepare()?;
        let params: PolParams = self.rpc().query(&QueryPath::PolParams)?;
        let outer = candidate::Outer::of(&params, &self.cfg.model_id);
        let subs = self.submissions(r.id)?;
        let (Some(base), Some((_, public))) = (self.base.as_mut(), self.texts.as_ref()) else {
            anyhow::bail!("no base model");
        };
        let set = acceptance::round_set(
            &mut self.round_set,
            self.cfg.hidden.as_mut(),
            self.sender.rpc(),
            &self.cfg.model_id,
            r,
            base,
            public,
        )?;
        let budget = fetch::phase_budget(self.sender.rpc(), until);
        let deadline = std::time::Instant::now() + budget;
        let fetched = fetch::fetch_round(
            &self.kubo,
            &subs,
            &base.layouts(),
            deadline,
            fetch::FETCH_CONCURRENCY,
        );
        let judging = judge::Judging {
            defense: &self.cfg.defense,
            outer: &outer,
            texts: &set.texts,
            recorded_loss: r.base_loss_micro,
            harmful_noise_bps: params.harmful_noise_bps,
        };
        let started = std::time::Instant::now();
        let mut outcomes = judge::judge(base, &subs, fetched, &judging)?;
        acceptance::rebase_phase1(set, base, r.base_loss_micro, &mut outcomes)?;
        let judgements = judge::judgements(&r.submissions, &outcomes);
        for j in &judgements {
            let note = outcomes
                .iter()
                .find(|o| o.submission == j.submission)
                .map_or("", |o| o.note.as_str());
            tracing::info!(round = r.id, submission = j.submission, flags = %describe_flags(j.flags),
                loss_micro = j.loss_micro, noise_micro = j.noise_micro,
                base_loss_micro = ?r.base_loss_micro, "judged: {note}");
        }
        tracing::info!(
            round = r.id,
            submissions = subs.len(),
            texts = set.texts.len(),
            hidden = set.hidden,
            secs = started.elapsed().as_secs_f64(),
            "phase-1 judging done"
        );
        Ok(PolMsg::AttestSubmissions(AttestSubmissions {
            round: r.id,
            judgements,
            salt: fresh_salt(),
        }))
    }

    /// Aggregates the admitted submissions of `r`; fetching is budgeted to end well before
    /// `until`, the last height of the commit window.
    fn phase2(&mut self, r: &RoundInfo, until: u64) -> anyhow::Result<PolMsg> {
        self.prepare()?;
        let params: PolParams = self.rpc().query(&QueryPath::PolParams)?;
        let outer = candidate::Outer::of(&params, &self.cfg.model_id);
        let mut updates = Vec::new();
        let admitted: Vec<SubmissionInfo> = self
            .submissions(r.id)?
            .into_iter()
            .filter(|s| s.status == SubmissionStatus::Admitted)
            .collect();
        let layouts = self.base.as_ref().context("no base model")?.layouts();
        let deadline = std::time::Instant::now() + fetch::phase_budget(self.rpc(), until);
        let fetched = fetch::fetch_round(
            &self.kubo,
            &admitted,
            &layouts,
            deadline,
            fetch::FETCH_CONCURRENCY,
        );
        for (s, f) in admitted.iter().zip(fetched) {
            let deltas = f?;
            updates.push(Update {
                submission: s.id,
                samples: s.weight,
                blocks: deltas.into_iter().map(|d| d.decoded).collect(),
            });
        }
        let admitted: Vec<u64> = updates.iter().map(|u| u.submission).collect();
        let (Some(base), Some((_, public))) = (self.base.as_mut(), self.texts.as_ref()) else {
            anyhow::bail!("no base model");
        };
        let set = acceptance::round_set(
            &mut self.round_set,
            self.cfg.hidden.as_mut(),
            self.sender.rpc(),
            &self.cfg.model_id,
            r,
            base,
            public,
        )?;
        let refs: Vec<&Update> = updates.iter().collect();
        let candidate::Candidate {
            aggregate: agg,
            hash,
            ..
        } = candidate::candidate(base, &refs, &outer, self.cfg.fake_aggregate)?;
        let mut blocks = Vec::new();
        let mut weights = BTreeMap::new();
        for (name, delta) in &agg {
            let b = base
                .block(name)
                .with_context(|| format!("the model has no block {name}"))?;
            let built = aggregate::build_block(b, base.momentum(name), delta, outer.optimizer)?;
            blocks.push(aggregate::upload(&self.kubo, &built)?);
            weights.insert(name.clone(), built.weights);
        }
        let (loss_micro, on_set) =
            acceptance::phase2_loss(set, base, &weights, r.base_loss_micro, public)?;
        tracing::info!(round = r.id, ?admitted, rule = %outer.rule,
            outer = ?outer.optimizer, aggregate_hash = %hex::encode(hash),
            blocks = ?blocks.iter().map(|b| format!("{} {}", b.block, b.cid)).collect::<Vec<_>>(),
            base_loss_micro = ?r.base_loss_micro, new_loss_micro = loss_micro,
            hidden = set.hidden, new_loss_on_set = ?on_set, base_loss_on_set = ?set.measured_base_loss(),
            fake = self.cfg.fake_aggregate, "aggregate built");
        Ok(PolMsg::AttestAggregate(AttestAggregate {
            round: r.id,
            aggregate_hash: hash,
            blocks,
            loss_micro,
            salt: fresh_salt(),
        }))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fetch;
#[cfg(test)]
mod tests_judge;

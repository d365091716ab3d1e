//! The miner role: follow the chain, train chosen blocks on the current heads, compress,
//! upload and submit `MsgSubmitDelta` once per round (DESIGN.md, Proof-of-Learning step 2).
//!
//! The loop wakes on every new block ([`BlockFollower`]). It submits at most once per
//! round: before sending it checks its own record and the chain's list of the round's
//! submissions, and the chain refuses a second submission anyway
//! (`DuplicateSubmission`). A trained update is kept on disk until it is submitted or the
//! heads move, so a restart mid-round neither retrains nor resubmits.

mod prepare;
mod state;

pub use prepare::{prepare, DataSpec};
pub use state::{optimizer_state_path, MinerState, Pending, Prepared, Submitted};

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use blyan_proto::pol::{
    solve_stamp, BaseHead, PolMsg, PolParams, RoundInfo, RoundStatus, StampInput, SubmissionInfo,
    SubmitDelta, TrustInfo, TrustLevel,
};
use blyan_proto::query::QueryPath;
use blyan_proto::Msg;
use candle_core::Device;

use crate::attack::Attack;
use crate::chain::{
    BlockFollower, ChainSource, Committed, DagQueries, Resolution, RpcClient, Settle, TxSender,
};
use crate::compress::Pipeline;
use crate::ipfs::KuboClient;
use crate::train::TrainConfig;

/// How a miner works.
#[derive(Debug, Clone)]
pub struct MinerConfig {
    /// Model id on chain.
    pub model_id: String,
    /// Blocks to train (`layer0.expert1`, `layer1`, `all`, comma lists).
    pub blocks: String,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// Training data.
    pub data: DataSpec,
    /// Delta compression.
    pub pipeline: Pipeline,
    /// Bond per submission, base units.
    pub bond: u128,
    /// Behave as an attacker.
    pub attack: Option<Attack>,
    /// State, caches, the error-feedback residual and the optimizer state.
    pub home: PathBuf,
    /// Keep AdamW's moments and step count across rounds (in [`optimizer_state_path`]), as
    /// DiLoCo workers keep their inner optimizer: only the first round warms up. `false`:
    /// every round starts from a fresh AdamW with warmup.
    pub keep_optimizer: bool,
    /// Stop after this many submissions (run forever when `None`).
    pub max_submissions: Option<usize>,
}

/// What one step of the loop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do (waiting for a round to take submissions, or already submitted).
    Idle(String),
    /// A submission was committed.
    Submitted(Submitted),
}

/// A running miner.
pub struct Miner {
    cfg: MinerConfig,
    sender: TxSender,
    kubo: KuboClient,
    device: Device,
    state: MinerState,
}

impl std::fmt::Debug for Miner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Miner")
            .field("address", &self.sender.address())
            .field("model", &self.cfg.model_id)
            .finish()
    }
}

impl Miner {
    /// A miner signing with `sender`, storing its uploads in `kubo`.
    pub fn new(
        cfg: MinerConfig,
        sender: TxSender,
        kubo: KuboClient,
        device: Device,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cfg.home).with_context(|| cfg.home.display().to_string())?;
        let state = MinerState::load(&cfg.home)?;
        Ok(Self {
            cfg,
            sender,
            kubo,
            device,
            state,
        })
    }

    fn rpc(&self) -> &RpcClient {
        self.sender.rpc()
    }

    /// The persistent state.
    pub fn state(&self) -> &MinerState {
        &self.state
    }

    /// Runs until `max_submissions` are made (forever without a limit).
    pub fn run(&mut self) -> anyhow::Result<()> {
        let mut follower = BlockFollower::new(self.rpc().clone(), self.state.last_height);
        let mut last_idle = String::new();
        tracing::info!(miner = %self.sender.address(), model = %self.cfg.model_id,
            from_height = self.state.last_height, "miner started");
        loop {
            if self
                .cfg
                .max_submissions
                .is_some_and(|n| self.state.submitted.len() >= n)
            {
                tracing::info!(submissions = self.state.submitted.len(), "miner done");
                return Ok(());
            }
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
                Ok(Step::Submitted(s)) => tracing::info!(
                    round = s.round, submission = s.submission, height = s.height,
                    tx = %s.tx_hash, "delta submitted"),
                Err(e) => tracing::warn!(height, "miner step failed (retrying next block): {e:#}"),
            }
            self.state.last_height = height;
            self.state.save(&self.cfg.home)?;
        }
    }

    /// One pass at `height`: settle a transaction in flight, then submit if the model's
    /// round takes submissions and this miner has none in it.
    pub fn step(&mut self, height: u64) -> anyhow::Result<Step> {
        if let Some(done) = self.settle_pending(height)? {
            return Ok(Step::Submitted(done));
        }
        if self.state.pending.is_some() {
            return Ok(Step::Idle(
                "waiting for the submission to be committed".into(),
            ));
        }
        if let Some(why) = self.round_blocks_submission()? {
            return Ok(Step::Idle(why));
        }
        let heads = self.heads()?;
        let prepared = match Prepared::load(&self.cfg.home)? {
            Some(p) if p.base_heads.iter().all(|b| heads.contains(b)) => p,
            _ => {
                Prepared::clear(&self.cfg.home)?;
                let source = ChainSource::open(
                    self.rpc().base(),
                    &self.cfg.model_id,
                    self.kubo.clone(),
                    self.cfg.home.join("cache"),
                )?;
                let p = prepare(&self.cfg, &source, &self.kubo, &heads, &self.device)?;
                tracing::info!(blocks = p.deltas.len(), ratio = format!("{:.1}", p.ratio),
                    loss = p.final_loss, manifest = %p.manifest_cid, "update prepared");
                p.save(&self.cfg.home)?;
                p
            }
        };
        // Training takes a while: look again before sending.
        if let Some(why) = self.round_blocks_submission()? {
            return Ok(Step::Idle(why));
        }
        if self.heads()? != heads {
            Prepared::clear(&self.cfg.home)?;
            return Ok(Step::Idle("the heads moved while training".into()));
        }
        self.submit(&prepared, height)
    }

    /// The current heads of the blocks this miner trains.
    fn heads(&self) -> anyhow::Result<Vec<BaseHead>> {
        let info = self.rpc().model_info(&self.cfg.model_id)?;
        let meta: crate::model::MetaConfig = serde_json::from_str(&info.meta_json)?;
        crate::train::parse_blocks(&self.cfg.blocks, &meta)?
            .iter()
            .map(|b| {
                let name = b.to_string();
                let h = self.rpc().head(&self.cfg.model_id, &name)?;
                Ok(BaseHead {
                    block: name,
                    id: h.id,
                })
            })
            .collect()
    }

    /// Why this miner must not submit now, if it must not.
    fn round_blocks_submission(&mut self) -> anyhow::Result<Option<String>> {
        let cur: Option<RoundInfo> = self
            .rpc()
            .query(&QueryPath::CurrentRound(self.cfg.model_id.clone()))?;
        let Some(r) = cur else { return Ok(None) };
        if let Some(s) = self.state.in_round(r.id) {
            return Ok(Some(format!(
                "already submitted {} to round {}",
                s.submission, r.id
            )));
        }
        if let Some(s) = self.find_own(r.id)? {
            let why = format!(
                "the chain has submission {} from us in round {}",
                s.id, r.id
            );
            self.record(Submitted {
                round: r.id,
                submission: s.id,
                tx_hash: String::new(),
                height: s.height,
            })?;
            return Ok(Some(why));
        }
        if r.status != RoundStatus::Open {
            return Ok(Some(format!(
                "round {} is being judged ({:?})",
                r.id, r.status
            )));
        }
        Ok(None)
    }

    fn find_own(&self, round: u64) -> anyhow::Result<Option<SubmissionInfo>> {
        let subs: Vec<SubmissionInfo> = self.rpc().query(&QueryPath::Submissions(round))?;
        let me = self.sender.address();
        Ok(subs.into_iter().find(|s| s.miner == me))
    }

    fn record(&mut self, s: Submitted) -> anyhow::Result<()> {
        if self.state.in_round(s.round).is_none() {
            self.state.submitted.push(s);
        }
        self.state.save(&self.cfg.home)
    }

    /// Resolves the transaction in flight, if any.
    fn settle_pending(&mut self, height: u64) -> anyhow::Result<Option<Submitted>> {
        let Some(p) = self.state.pending.clone() else {
            return Ok(None);
        };
        match self.sender.resolve(&p.tx_hash, p.nonce)? {
            Resolution::Committed(Committed {
                height: h, code: 0, ..
            }) => {
                self.state.pending = None;
                let cur: Option<RoundInfo> = self
                    .rpc()
                    .query(&QueryPath::CurrentRound(self.cfg.model_id.clone()))?;
                let found = match cur {
                    Some(r) => self.find_own(r.id)?.map(|s| (r.id, s.id)),
                    None => None,
                };
                let (round, submission) = found.unwrap_or((0, 0));
                let s = Submitted {
                    round,
                    submission,
                    tx_hash: p.tx_hash,
                    height: h,
                };
                self.record(s.clone())?;
                Prepared::clear(&self.cfg.home)?;
                Ok(Some(s))
            }
            Resolution::Committed(Committed {
                height: h,
                code,
                log,
            }) => {
                tracing::warn!(height = h, code, "submission failed in its block: {log}");
                self.state.pending = None;
                self.state.save(&self.cfg.home)?;
                Ok(None)
            }
            // Another transaction took the nonce (this one under another encoding, or
            // another): the next step finds our submission in the round, if it is there,
            // before preparing another.
            Resolution::Superseded { next_nonce } => {
                tracing::warn!(tx = %p.tx_hash, nonce = p.nonce, next_nonce,
                    "submission settled by nonce: its hash is not on chain");
                self.state.pending = None;
                self.state.save(&self.cfg.home)?;
                Ok(None)
            }
            Resolution::Pending { .. } if height > p.sent_at.saturating_add(20) => {
                tracing::warn!(tx = %p.tx_hash, "submission dropped from the mempool; will resend");
                self.state.pending = None;
                self.state.save(&self.cfg.home)?;
                Ok(None)
            }
            Resolution::Pending { .. } => Ok(None),
        }
    }

    fn submit(&mut self, p: &Prepared, height: u64) -> anyhow::Result<Step> {
        let params: PolParams = self.rpc().query(&QueryPath::PolParams)?;
        let trust: TrustInfo = self.rpc().query(&QueryPath::Trust(self.sender.address()))?;
        let manifest_hash: [u8; 32] = hex::decode(&p.manifest_hash)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("manifest hash is not 32 bytes"))?;
        let signer = self.sender.address();
        let chain_id = self.sender.chain_id().to_string();
        let mut msg = SubmitDelta {
            model: self.cfg.model_id.clone(),
            base_heads: p.base_heads.clone(),
            deltas: p.deltas.clone(),
            samples: p.samples,
            dataset_refs: p.dataset_refs.clone(),
            manifest_cid: p.manifest_cid.clone(),
            manifest_hash,
            manifest_size: p.manifest_size,
            bond: self.cfg.bond,
            stamp: None,
        };
        let sent = self.sender.send(|nonce| {
            if trust.level == TrustLevel::Newbie && params.hashcash_bits > 0 {
                msg.stamp = Some(solve_stamp(
                    &StampInput {
                        chain_id: &chain_id,
                        signer: &signer,
                        tx_nonce: nonce,
                        manifest_hash: &manifest_hash,
                    },
                    params.hashcash_bits,
                ));
            }
            vec![Msg::Pol(PolMsg::SubmitDelta(msg.clone()))]
        })?;
        if sent.code != 0 {
            return Ok(Step::Idle(format!(
                "submission refused by CheckTx: code {} {}",
                sent.code, sent.log
            )));
        }
        tracing::info!(tx = %sent.hash, nonce = sent.nonce, "submission broadcast");
        self.state.pending = Some(Pending {
            tx_hash: sent.hash.clone(),
            nonce: sent.nonce,
            sent_at: height,
        });
        self.state.save(&self.cfg.home)?;
        let settled = self
            .sender
            .settle(&sent.hash, sent.nonce, Duration::from_secs(60))?;
        let at = match &settled {
            Resolution::Committed(c) => c.height,
            _ => height,
        };
        match self.settle_pending(at)? {
            Some(s) => Ok(Step::Submitted(s)),
            None => Ok(Step::Idle(format!(
                "submission not committed as sent: {settled:?}"
            ))),
        }
    }
}

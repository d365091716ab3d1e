//! Proof-of-Learning learning quality, simulated in-process exactly as the protocol runs a
//! round (DESIGN.md "Proof-of-Learning protocol"), without the chain:
//!
//! 1. **federated**: `R` rounds of 4 honest miners. Each trains the chosen blocks (default
//!    `all`) of the current heads for `S` AdamW steps on its own disjoint shard of the
//!    synthetic corpus, compresses every block delta with the default pipeline keeping its
//!    own error feedback across rounds, and submits. The validators decode, [`screen`]
//!    (any flag → Byzantine), measure the validation loss of base + each submission alone
//!    (worse than the recorded loss → harmful, `harmful_tolerance_bps` 0), aggregate the
//!    admitted ones with the rule (`rule=SPEC`, default the chain's), apply the aggregate and measure it: the round is
//!    accepted, and the heads move, only when the loss improves by ≥ `min_improvement_bps`
//!    (100 = 1%), the chain's rule in integers.
//! 2. **centralized**: one trainer, the same blocks and hyper-parameters, `R × 4 × S` steps of
//!    the same batch size over the union of the 4 honest shards (the same samples), one
//!    AdamW run.
//! 3. **attacked**: the federated rounds with 2 more miners (2 of 6 = 33%) attacking, modes
//!    rotating every round over gaussian (σ 5× RMS), sign-flip, scale:10, label-flip
//!    (trained on flipped targets) and ALIE ("a little is enough": μ − z·σ of the round's
//!    honest deltas, omniscient colluding attackers, `z` = `alie_z(6, 2)` ≈ 0.43); each
//!    attacker has its own shard and error feedback.
//!
//! Prints the three final validation losses, the gaps to centralized, detection (attacks
//! judged Byzantine or harmful) and false positives (honest submissions excluded), a
//! per-round table, and per round the miners' time and the validators' wall and CPU time
//! (decode, screen, per-submission evaluations, aggregation, evaluation of the aggregate;
//! the wall time is the round's latency from the last submission to the verdict, less the
//! chain's block times). CPU time is the process's user + system time from
//! `/proc/self/stat` (USER_HZ 100), so it includes candle's worker threads.
//!
//! ```text
//! cargo bench -p blyan-worker --bench pol_quality                  # 10 rounds × 50 steps
//! cargo bench -p blyan-worker --bench pol_quality -- quick         # 3 rounds × 10 steps
//! cargo bench -p blyan-worker --bench pol_quality -- rounds=10 steps=30 blocks=layer1
//! cargo bench -p blyan-worker --bench pol_quality -- rounds=40 attacked=0 sequential=0 # the curve
//! ```
//!
//! `POL_ROUNDS`, `POL_STEPS`, `POL_BLOCKS` and `POL_QUICK=1` do the same from the
//! environment. Further arguments: `lr=X` (default `TrainConfig`'s, 3e-3), `pipeline=SPEC`
//! (default [`Pipeline::default`]), `feedback=0` (no error feedback), `tolerance_bps=N`
//! (`harmful_tolerance_bps`, default the chain's 0), `min_improvement_bps=N` (default 100),
//! `warmup=N` (linear learning-rate warmup steps of every training run, default
//! `TrainConfig`'s), `outer_lr_bps=N` and `outer_momentum_bps=N` (the chain's outer
//! optimizer, [`OuterOptimizer`]: the aggregate is applied with SGD + Nesterov momentum;
//! default the chain's), `central=MICRONATS` (skip
//! the centralized run and compare with this loss), `rule=SPEC` (the aggregation rule of the
//! federated and attacked runs, an [`AggregationRule`] spec such as `median`,
//! `trimmed:2000`, `krum:2`, `cclip:3:10000`; default the chain's), `attacked=0` (skip the
//! attacked run), `sequential=0` (skip the sequential centralized run), `shard_lines=N`, `val_lines=N`, `persist=1` (each miner continues its own
//! AdamW state and batch stream from round to round, warming up only in its first round). Prints
//! figures; asserts nothing.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use blyan_proto::pol::{OuterOptimizer, PolParams};
use blyan_worker::attack::{alie_block, alie_z, Attack};
use blyan_worker::compress::{
    delta_to_tensors, encode, tensors_to_delta, DeltaTensor, ErrorFeedback, Pipeline,
};
use blyan_worker::data::{self, synth};
use blyan_worker::defense::{AggregationRule, DefenseParams, Update};
use blyan_worker::eval::{validation_loss, EvalError};
use blyan_worker::model::{BlockName, MetaConfig, Model};
use blyan_worker::rng::SplitMix64;
use blyan_worker::tensorblock::DEFAULT_TILE_SIZE;
use blyan_worker::train::{parse_blocks, train_from, AdamWState, TargetMode, TrainConfig};
use blyan_worker::validator::weights::BlockWeights;
use candle_core::Device;

const HONEST: usize = 4;
const ATTACKERS: usize = 2;
const MODEL_SEED: u64 = 1;
const CORPUS_SEED: u64 = 7;
/// The attack modes the attackers rotate over.
fn attack_modes() -> [Attack; 5] {
    [
        Attack::Gaussian { sigma: 5.0 },
        Attack::SignFlip,
        Attack::Scale { k: 10.0 },
        Attack::LabelFlip,
        Attack::Alie {
            z: alie_z(HONEST + ATTACKERS, ATTACKERS) as f32,
        },
    ]
}

/// A block's tensors sorted by name, f32 row-major; a model's weights by block name.
type Weights = BTreeMap<String, Vec<DeltaTensor>>;

mod report;
mod support;
mod validators;

use report::{gap, print_rounds};

use support::*;

struct Setup {
    cfg: MetaConfig,
    genesis: Model,
    genesis_loss: u64,
    blocks: Vec<BlockName>,
    shards: Vec<Vec<Vec<u32>>>,
    val: Vec<String>,
    train: TrainConfig,
    /// The chain's PoL parameters (defaults, with the bench's `tolerance_bps` override).
    chain: PolParams,
    opts: Opts,
}

impl Setup {
    fn new(opts: Opts) -> anyhow::Result<Self> {
        let cfg = MetaConfig::tiny();
        let genesis = Model::init(&cfg, MODEL_SEED, &Device::Cpu)?;
        let blocks = parse_blocks(&opts.blocks, &cfg)?;
        let n = HONEST + ATTACKERS;
        let (texts, val): (Vec<String>, Vec<String>) = if opts.text {
            let splits = data::TextSplits::load(
                std::path::Path::new(data::KJV_PATH),
                cfg.max_seq,
                &data::SplitSpec::default(),
            )?;
            (
                splits.train_shard(CORPUS_SEED, n * opts.shard_lines),
                splits.val_set(opts.val_lines),
            )
        } else {
            let text = |split: &str, k: usize| -> Vec<String> {
                synth::split(CORPUS_SEED, split, k)
                    .into_iter()
                    .map(|e| e.text)
                    .collect()
            };
            (
                text("train", n * opts.shard_lines),
                text("val", opts.val_lines),
            )
        };
        let shards: Vec<Vec<Vec<u32>>> = texts
            .chunks(opts.shard_lines)
            .map(|c| data::sequences(c, cfg.max_seq))
            .collect();
        let genesis_loss = loss_of(&genesis, &val)?;
        Ok(Self {
            cfg,
            genesis,
            genesis_loss,
            blocks,
            shards,
            val,
            train: TrainConfig {
                lr: opts.lr,
                warmup_steps: opts.warmup,
                ..TrainConfig::default()
            },
            chain: PolParams {
                harmful_tolerance_bps: opts.tolerance_bps,
                ..PolParams::default()
            },
            opts,
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Row {
    base_loss: u64,
    new_loss: Option<u64>,
    accepted: bool,
    admitted: usize,
    byzantine: usize,
    harmful: usize,
    excluded: usize,
    miner_secs: f64,
    miner_max_secs: f64,
    decode_ms: f64,
    screen_ms: f64,
    evals_ms: f64,
    aggregate_ms: f64,
    agg_eval_ms: f64,
    val_wall_ms: f64,
    val_cpu_ms: f64,
    notes: Vec<String>,
}

/// Verdicts of a run: honest submissions, and attacks by mode.
#[derive(Debug, Default)]
struct Tally {
    honest: u64,
    /// Honest submissions that lost money (Byzantine or harmful).
    honest_penalized: u64,
    /// Honest submissions left out of the aggregate without a penalty (round-relative flags).
    honest_excluded: u64,
    /// Per attack mode: (total, byzantine, harmful, excluded).
    per_mode: BTreeMap<String, (u64, u64, u64, u64)>,
}

impl Tally {
    /// Counts one submission's verdict in the tally and the round's row.
    fn record(&mut self, row: &mut Row, sub: &Submission, j: &validators::Judged) {
        use validators::Verdict as V;
        match j.verdict {
            V::Admitted => row.admitted += 1,
            V::Byzantine => row.byzantine += 1,
            V::Harmful => row.harmful += 1,
            V::Excluded => row.excluded += 1,
        }
        let what = format!(
            "{:?}, flags {}, loss {}, contribution {} ± {} µnats; {}",
            j.verdict,
            blyan_worker::validator::describe_flags(j.flags),
            nats(j.loss),
            j.contribution.map_or("-".into(), |c| format!("{c:+}")),
            j.noise,
            j.screen
        );
        match sub.attack {
            None => {
                self.honest += 1;
                let penalized = matches!(j.verdict, V::Byzantine | V::Harmful);
                self.honest_penalized += u64::from(penalized);
                self.honest_excluded += u64::from(j.verdict == V::Excluded);
                let tag = if j.verdict == V::Admitted {
                    "ok"
                } else {
                    "honest"
                };
                row.notes.push(format!("{tag:<6} miner {}: {what}", sub.id));
            }
            Some(a) => {
                let e = self.per_mode.entry(a.to_string()).or_default();
                e.0 += 1;
                e.1 += u64::from(j.verdict == V::Byzantine);
                e.2 += u64::from(j.verdict == V::Harmful);
                e.3 += u64::from(j.verdict == V::Excluded);
                row.notes.push(format!("{a:<10} miner {}: {what}", sub.id));
            }
        }
    }
}

struct Outcome {
    final_loss: u64,
    rows: Vec<Row>,
    tally: Tally,
}

fn attack_of(miner: usize, round: usize) -> Option<Attack> {
    let modes = attack_modes();
    (miner >= HONEST).then(|| modes[(round * ATTACKERS + miner - HONEST) % modes.len()])
}

struct Submission {
    id: u64,
    samples: u64,
    containers: Vec<Vec<u8>>,
    attack: Option<Attack>,
}

#[allow(clippy::too_many_arguments)]
/// One miner's round: train, poison (if attacking; ALIE from the round's `honest` raw
/// deltas), compress with its error feedback. Also returns the raw (uncompressed) delta.
fn mine(
    s: &Setup,
    heads: &Model,
    miner: usize,
    round: usize,
    attack: Option<Attack>,
    feedback: &mut ErrorFeedback,
    optimizer: &mut AdamWState,
    honest: &[Weights],
) -> anyhow::Result<(Submission, Weights)> {
    let seed = SplitMix64::for_label(CORPUS_SEED, &format!("miner{miner}/round{round}")).next_u64();
    let mut tc = TrainConfig {
        steps: s.opts.steps,
        seed,
        ..s.train.clone()
    };
    if attack.is_some_and(|a| a.flips_labels()) {
        tc.targets = TargetMode::Flipped;
    }
    let init = s.opts.persist.then_some(&*optimizer);
    let out = train_from(
        heads,
        &s.blocks,
        &s.shards[miner],
        &tc,
        init,
        &mut |_, _| {},
    )?;
    *optimizer = out.optimizer;
    let mut containers = Vec::new();
    let mut raw = Weights::new();
    for (block, tensors) in &out.deltas {
        let name = block.to_string();
        let mut dt = tensors_to_delta(tensors)?;
        raw.insert(name.clone(), dt.clone());
        if let Some(Attack::Alie { z }) = attack {
            let benign: Vec<&[DeltaTensor]> = honest
                .iter()
                .filter_map(|w| w.get(&name))
                .map(Vec::as_slice)
                .collect();
            dt = alie_block(z, &benign).map_err(anyhow::Error::msg)?;
        } else if let Some(a) = &attack {
            a.apply(&name, &mut dt, seed);
        }
        // an ALIE attacker sends its crafted update without the residual of earlier rounds'
        // (possibly scaled) attacks: the stealthiest version
        let fb = if s.opts.feedback && !attack.is_some_and(|a| a.needs_estimates()) {
            Some(&mut *feedback)
        } else {
            None
        };
        containers.push(encode(&name, &dt, &s.opts.pipeline, fb)?.bytes);
    }
    let sub = Submission {
        id: miner as u64,
        samples: out.samples,
        containers,
        attack,
    };
    Ok((sub, raw))
}

/// Runs the rounds with `miners` miners (the first [`HONEST`] honest).
fn federated(s: &Setup, miners: usize, label: &str) -> anyhow::Result<Outcome> {
    let mut heads = s.genesis.clone();
    let mut weights: BTreeMap<String, BlockWeights> = weights_of(&heads)?
        .into_iter()
        .map(|(b, tensors)| {
            let w = BlockWeights {
                block: b.clone(),
                tensors,
                tile_size: DEFAULT_TILE_SIZE,
            };
            (b, w)
        })
        .collect();
    let mut momentum: BTreeMap<String, BlockWeights> = BTreeMap::new();
    let mut recorded = s.genesis_loss;
    let mut feedback: Vec<ErrorFeedback> = (0..miners).map(|_| ErrorFeedback::new()).collect();
    let mut optim = vec![AdamWState::default(); miners];
    let mut rows = Vec::new();
    let mut tally = Tally::default();
    for round in 0..s.opts.rounds {
        let mut row = Row {
            base_loss: recorded,
            ..Row::default()
        };
        // miners
        let mut subs = Vec::with_capacity(miners);
        let mut honest: Vec<Weights> = Vec::new();
        for (m, (fb, op)) in feedback.iter_mut().zip(&mut optim).enumerate() {
            let attack = attack_of(m, round);
            let (mined, wall, _) = timed(|| mine(s, &heads, m, round, attack, fb, op, &honest));
            row.miner_secs += wall;
            row.miner_max_secs = row.miner_max_secs.max(wall);
            let (sub, raw) = mined?;
            if attack.is_none() {
                honest.push(raw);
            }
            subs.push(sub);
        }
        // validators
        let (wall0, cpu0) = (Instant::now(), cpu_secs());
        let mut base = validators::base_of(s, &weights, &momentum)?;
        let (judged, admitted) = validators::phase1(s, &mut base, &subs, recorded, &mut row)?;
        for (sub, j) in subs.iter().zip(&judged) {
            tally.record(&mut row, sub, j);
        }
        if !admitted.is_empty() {
            let (new_loss, stepped) = validators::phase2(s, &mut base, &admitted, &mut row)?;
            row.new_loss = Some(new_loss);
            let improves = u128::from(new_loss) * 10_000
                <= u128::from(recorded) * u128::from(10_000 - s.opts.min_improvement_bps);
            if improves && new_loss < blyan_worker::validator::judge::MAX_LOSS_MICRO {
                let mut changed = Weights::new();
                for (name, st) in stepped {
                    changed.insert(name.clone(), st.weights.tensors.clone());
                    weights.insert(name.clone(), st.weights);
                    momentum.insert(name, st.momentum);
                }
                heads = with_blocks(&heads, &changed)?;
                recorded = new_loss;
                row.accepted = true;
            }
        }
        row.val_wall_ms = 1e3 * wall0.elapsed().as_secs_f64();
        row.val_cpu_ms = 1e3 * (cpu_secs() - cpu0);
        eprintln!(
            "[{label}] round {round}: {} → {} ({})",
            nats(row.base_loss),
            row.new_loss.map_or("-".into(), nats),
            if row.accepted { "accepted" } else { "rejected" }
        );
        rows.push(row);
    }
    Ok(Outcome {
        final_loss: recorded,
        rows,
        tally,
    })
}

/// One trainer on the union of the honest shards (the same samples the honest miners
/// see): `data_parallel`, `rounds × steps` AdamW steps of batch `4 × batch` (what the 4
/// miners' inner steps add up to: DiLoCo's data-parallel baseline); otherwise
/// `rounds × 4 × steps` steps of the miners' batch (one machine, sequentially). The run is
/// cut into `rounds` equal pieces, each continuing the previous one's weights, AdamW state
/// and batch stream ([`train_from`]: bit-identical to one run), and the validation loss is
/// measured after each piece. Returns the loss after each piece (the last is the final
/// loss) and the seconds it took (the measurements excluded).
fn centralized(s: &Setup, data_parallel: bool) -> anyhow::Result<(Vec<u64>, f64)> {
    let seqs: Vec<Vec<u32>> = s.shards[..HONEST].concat();
    let (steps, batch_size) = if data_parallel {
        (s.opts.steps, HONEST * s.train.batch_size)
    } else {
        (HONEST * s.opts.steps, s.train.batch_size)
    };
    let tc = TrainConfig {
        steps,
        batch_size,
        seed: SplitMix64::for_label(CORPUS_SEED, "centralized").next_u64(),
        ..s.train.clone()
    };
    let mut model = s.genesis.clone();
    let mut state: Option<AdamWState> = None;
    let mut curve = Vec::with_capacity(s.opts.rounds);
    let mut secs = 0.0;
    for _ in 0..s.opts.rounds {
        let t = Instant::now();
        let out = train_from(
            &model,
            &s.blocks,
            &seqs,
            &tc,
            state.as_ref(),
            &mut |_, _| {},
        )?;
        secs += t.elapsed().as_secs_f64();
        let mut trained = Weights::new();
        for (b, ts) in &out.trained {
            trained.insert(b.to_string(), tensors_to_delta(ts)?);
        }
        model = with_blocks(&model, &trained)?;
        state = Some(out.optimizer);
        curve.push(loss_of(&model, &s.val)?);
    }
    Ok((curve, secs))
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse()?;
    let t0 = Instant::now();
    let s = Setup::new(opts.clone())?;
    let seqs: Vec<usize> = s.shards.iter().map(Vec::len).collect();
    println!("# Proof-of-Learning quality, in-process (no chain)");
    println!(
        "preset {} ({} params), model seed {MODEL_SEED}, corpus seed {CORPUS_SEED}; blocks {:?} \
         ({} blocks); {} rounds × {} steps, batch {}, lr {}, wd {}; pipeline {}; defense \
         defaults; rule {}, outer {:?}; min_improvement_bps {}, harmful_tolerance_bps {}; \
         warmup {} steps; error feedback {}; miners' AdamW state {}{}",
        s.cfg.preset,
        s.cfg.n_params(),
        opts.blocks,
        s.blocks.len(),
        opts.rounds,
        opts.steps,
        s.train.batch_size,
        s.train.lr,
        s.train.weight_decay,
        opts.pipeline,
        opts.rule,
        opts.outer,
        opts.min_improvement_bps,
        opts.tolerance_bps,
        opts.warmup,
        if opts.feedback { "on" } else { "off" },
        if opts.persist {
            "kept across rounds"
        } else {
            "fresh every round"
        },
        if opts.quick { " (quick)" } else { "" }
    );
    println!(
        "shards: {} lines each, sequences {:?} (miners 0–3 honest, 4–5 attackers); val: {} \
         lines; genesis loss {} nats",
        opts.shard_lines,
        seqs,
        opts.val_lines,
        nats(s.genesis_loss)
    );

    let (central_curve, central_secs) = match opts.central {
        Some(c) => (vec![c], 0.0),
        None => centralized(&s, true)?,
    };
    let central = *central_curve.last().context("no rounds")?;
    eprintln!(
        "[centralized, data-parallel] {} nats in {central_secs:.0} s",
        nats(central)
    );
    let sequential = match opts.central {
        Some(_) => None,
        None if !opts.sequential => None,
        None => Some(centralized(&s, false)?),
    };
    if let Some((curve, secs)) = &sequential {
        eprintln!(
            "[centralized, sequential] {} nats in {secs:.0} s",
            nats(*curve.last().context("no rounds")?)
        );
    }
    let seq_curve = sequential.as_ref().map(|(c, _)| c.as_slice());
    let honest = federated(&s, HONEST, "federated")?;
    if !opts.attacked {
        print_rounds("federated, 4 honest miners", &honest, false);
        report::print_curves(&s, &central_curve, seq_curve, &honest);
        println!(
            "\nfinal: centralized {} nats, federated {} nats ({:+.2}%); excluded honest {}/{}; \
             total {:.0} s",
            nats(central),
            nats(honest.final_loss),
            gap(honest.final_loss, central),
            honest.tally.honest_excluded,
            honest.tally.honest,
            t0.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let attacked = federated(&s, HONEST + ATTACKERS, "attacked")?;

    let seq = sequential.as_ref().map(|(c, secs)| (c.as_slice(), *secs));
    report::final_report(&s, (central, central_secs), seq, &honest, &attacked);
    report::print_curves(&s, &central_curve, seq_curve, &honest);
    println!("\ntotal {:.0} s", t0.elapsed().as_secs_f64());
    Ok(())
}

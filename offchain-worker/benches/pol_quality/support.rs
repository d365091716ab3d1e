//! Options, timing and weight helpers of the PoL quality benchmark.

use super::*;

#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) rounds: usize,
    pub(crate) steps: usize,
    pub(crate) blocks: String,
    pub(crate) shard_lines: usize,
    pub(crate) val_lines: usize,
    pub(crate) lr: f64,
    pub(crate) pipeline: Pipeline,
    pub(crate) feedback: bool,
    pub(crate) tolerance_bps: u32,
    pub(crate) min_improvement_bps: u64,
    pub(crate) warmup: usize,
    pub(crate) outer: OuterOptimizer,
    pub(crate) central: Option<u64>,
    pub(crate) attacked: bool,
    /// Run the sequential centralized baseline too (default; `sequential=0` skips it).
    pub(crate) sequential: bool,
    pub(crate) rule: AggregationRule,
    pub(crate) quick: bool,
    /// Miners keep their AdamW state across rounds, as `blyan-worker miner` does (default;
    /// `persist=0`: fresh AdamW every round).
    pub(crate) persist: bool,
    /// Train and validate on the real text corpus (`corpus=text`, the default: Debian's
    /// `bible-kjv-text`) or the synthetic one (`corpus=synth`).
    pub(crate) text: bool,
}

/// The `key=value` options [`Opts::parse`] knows.
const KEYS: [&str; 19] = [
    "rounds",
    "steps",
    "blocks",
    "shard_lines",
    "val_lines",
    "lr",
    "pipeline",
    "feedback",
    "tolerance_bps",
    "min_improvement_bps",
    "warmup",
    "outer_lr_bps",
    "outer_momentum_bps",
    "central",
    "attacked",
    "persist",
    "corpus",
    "rule",
    "sequential",
];

impl Opts {
    pub(crate) fn parse() -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var(k).ok();
        let mut kv: BTreeMap<String, String> = BTreeMap::new();
        let mut quick = env("POL_QUICK").is_some_and(|v| v == "1");
        for (k, name) in [
            ("POL_ROUNDS", "rounds"),
            ("POL_STEPS", "steps"),
            ("POL_BLOCKS", "blocks"),
        ] {
            if let Some(v) = env(k) {
                kv.insert(name.into(), v);
            }
        }
        for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
            match a.split_once('=') {
                Some((k, v)) => {
                    kv.insert(k.to_string(), v.to_string());
                }
                None if a == "quick" => quick = true,
                None => anyhow::bail!("unknown argument {a:?} (quick or one of {KEYS:?}=…)"),
            }
        }
        if let Some(k) = kv.keys().find(|k| !KEYS.contains(&k.as_str())) {
            anyhow::bail!(
                "unknown option {k:?} (known: quick, {})",
                KEYS.join("=…, ") + "=…"
            );
        }
        let num = |k: &str, d: usize| -> anyhow::Result<usize> {
            kv.get(k).map_or(Ok(d), |v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{k}={v:?} is not a positive integer"))
            })
        };
        let (r, s) = if quick { (3, 10) } else { (10, 50) };
        let chain = PolParams::default();
        Ok(Self {
            rounds: num("rounds", r)?,
            steps: num("steps", s)?,
            blocks: kv.get("blocks").cloned().unwrap_or_else(|| "all".into()),
            shard_lines: num("shard_lines", if quick { 200 } else { 600 })?,
            val_lines: num("val_lines", if quick { 150 } else { 300 })?,
            lr: parsed(&kv, "lr", |x: &f64| *x > 0.0)?.unwrap_or(TrainConfig::default().lr),
            pipeline: parsed(&kv, "pipeline", |_: &Pipeline| true)?.unwrap_or_default(),
            feedback: kv.get("feedback").is_none_or(|v| v != "0"),
            tolerance_bps: parsed(&kv, "tolerance_bps", |x: &u32| *x < 10_000)?
                .unwrap_or(chain.harmful_tolerance_bps),
            min_improvement_bps: parsed(&kv, "min_improvement_bps", |x: &u64| *x < 10_000)?
                .unwrap_or(chain.min_improvement_bps.into()),
            warmup: parsed(&kv, "warmup", |_: &usize| true)?
                .unwrap_or(TrainConfig::default().warmup_steps),
            outer: OuterOptimizer {
                lr_bps: parsed(&kv, "outer_lr_bps", |x: &u32| (1..=100_000).contains(x))?
                    .unwrap_or(chain.outer.lr_bps),
                momentum_bps: parsed(&kv, "outer_momentum_bps", |x: &u32| *x < 10_000)?
                    .unwrap_or(chain.outer.momentum_bps),
            },
            central: parsed(&kv, "central", |_: &u64| true)?,
            attacked: kv.get("attacked").is_none_or(|v| v != "0"),
            sequential: kv.get("sequential").is_none_or(|v| v != "0"),
            rule: parsed(&kv, "rule", |_: &AggregationRule| true)?
                .unwrap_or_else(|| blyan_worker::validator::aggregate::rule(chain.aggregation)),
            quick,
            persist: kv.get("persist").is_none_or(|v| v != "0"),
            text: match kv.get("corpus").map(String::as_str) {
                None | Some("text") => true,
                Some("synth") => false,
                Some(v) => anyhow::bail!("corpus={v:?} (text or synth)"),
            },
        })
    }
}

/// The value of option `k` parsed as `T` when given (an error when it does not parse or `ok`
/// refuses it), `None` when not given.
fn parsed<T: std::str::FromStr>(
    kv: &BTreeMap<String, String>,
    k: &str,
    ok: impl Fn(&T) -> bool,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let Some(v) = kv.get(k) else {
        return Ok(None);
    };
    let x = v
        .parse::<T>()
        .map_err(|e| anyhow::anyhow!("{k}={v:?}: {e}"))?;
    anyhow::ensure!(ok(&x), "{k}={v:?} is out of range");
    Ok(Some(x))
}

/// Process CPU time (user + system, all threads), seconds; 0 where `/proc` is unavailable.
pub(crate) fn cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = s.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // after "pid (comm) ": field 3 (state) is index 0, utime (14) index 11, stime (15) 12
    (tick(11) + tick(12)) as f64 / 100.0
}

/// Wall and CPU seconds of `f`.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (t, c) = (Instant::now(), cpu_secs());
    let out = f();
    (out, t.elapsed().as_secs_f64(), cpu_secs() - c)
}

pub(crate) fn weights_of(model: &Model) -> anyhow::Result<Weights> {
    let mut out = Weights::new();
    for b in Model::block_names(model.config()) {
        out.insert(b.to_string(), tensors_to_delta(&model.block_tensors(&b)?)?);
    }
    Ok(out)
}

/// `model` with `blocks` replaced.
pub(crate) fn with_blocks(model: &Model, blocks: &Weights) -> anyhow::Result<Model> {
    let mut m = model.clone();
    for (name, ts) in blocks {
        let b: BlockName = name.parse()?;
        m.set_block(&b, &delta_to_tensors(ts, model.device())?)?;
    }
    Ok(m)
}

/// Validation loss in µnats; `u64::MAX` when not finite (a poisoned model).
pub(crate) fn loss_of(model: &Model, val: &[String]) -> anyhow::Result<u64> {
    match validation_loss(model, val, |_, _| {}) {
        Ok(l) => Ok(l.micro_nats),
        Err(EvalError::NonFinite) => Ok(u64::MAX),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn nats(micro: u64) -> String {
    if micro == u64::MAX {
        "inf".into()
    } else {
        format!("{:.4}", micro as f64 / 1e6)
    }
}

//! The Byzantine defense on this CPU (single thread, as validators run it):
//!
//! 1. time of [`screen`] and of [`aggregate`] (each rule) for rounds of 8 and 32 updates of
//!    one `small`-preset expert block (`layer0.expert0`: 3 × 512 × 256 = 393,216 values);
//! 2. detection and false-positive rates of the default [`DefenseParams`] over randomized
//!    synthetic rounds (`small` expert block; 4–16 updates, 30% attackers of mixed modes,
//!    honest updates with cosine 0.1–0.9 to each other and norms spread over 3×), per mode
//!    and per flag; each false positive is printed (they come from 5-update rounds where
//!    30% rounds to 2 attackers, beyond the cosine check's `h − 1 > a`, see `screen`);
//! 3. the error of each rule's aggregate against the FedAvg of the honest updates alone,
//!    over all updates and over the ones screening admits.
//!
//! ```text
//! cargo bench -p blyan-worker --bench defense            # add `-- quick` for 40 rounds
//! ```
//! Prints figures; asserts nothing.

use std::collections::BTreeMap;
use std::time::Instant;

use blyan_worker::defense::synthetic::{self, Attack, Layout};
use blyan_worker::defense::{
    aggregate, flag, screen, AggregationRule, BaseBlock, DefenseParams, Screening, Update,
};
use blyan_worker::model::{BlockName, MetaConfig};
use blyan_worker::rng::SplitMix64;

const RULES: [&str; 9] = [
    "fedavg",
    "median",
    "trimmed:2000",
    "krum:2",
    "multikrum:2:4",
    "cclip:1:10000",
    "cclip:3:10000",
    "cclip:3:15000",
    "cclip:3:20000",
];

fn base_norms(layout: &Layout) -> BTreeMap<String, BaseBlock> {
    // weights 20× an honest delta's size (relative distance ≈ 0.05)
    synthetic::base_blocks(layout, |n| 20.0 * 1e-3 * (n as f64).sqrt())
}

fn mode_name(a: &Attack) -> &'static str {
    match a {
        Attack::Noise { .. } => "noise",
        Attack::AddNoise { .. } => "add-noise:5",
        Attack::SignFlip { k } if *k <= 1.0 => "sign-flip",
        Attack::SignFlip { .. } => "sign-flip×K",
        Attack::Scaled { .. } => "scaled×K",
        Attack::NonFinite => "nan/inf",
    }
}

fn random_attack(rng: &mut SplitMix64) -> Attack {
    match rng.below(6) {
        0 => Attack::Noise {
            norm_rel: 0.5 + 4.5 * rng.unit_f64(),
        },
        1 => Attack::AddNoise { sigma: 5.0 },
        2 => Attack::SignFlip { k: 1.0 },
        3 => Attack::SignFlip {
            k: 5.0 + 15.0 * rng.unit_f64(),
        },
        4 => Attack::Scaled {
            k: 5.0 + 15.0 * rng.unit_f64(),
        },
        _ => Attack::NonFinite,
    }
}

fn time_it<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64() * 1e3)
}

fn timings(layout: &Layout, norms: &BTreeMap<String, BaseBlock>) {
    println!(
        "## time (ms), one small expert block ({} values per update)",
        {
            let n: usize = layout[0]
                .1
                .iter()
                .map(|(_, s)| s.iter().product::<usize>())
                .sum();
            n
        }
    );
    println!(
        "{:>3}  {:>8}  {}",
        "n",
        "screen",
        RULES.map(|r| format!("{r:>14}")).join("")
    );
    for n in [8usize, 32] {
        let attackers = n * 3 / 10;
        let attacks: Vec<Attack> = (0..attackers)
            .map(|_| Attack::SignFlip { k: 1.0 })
            .collect();
        let (ups, _) = synthetic::round(layout, n - attackers, &attacks, 1.0, n as u64);
        let (_, ms) = time_it(|| screen(&ups, norms, &DefenseParams::default()));
        let refs: Vec<&Update> = ups.iter().collect();
        let per_rule: Vec<String> = RULES
            .iter()
            .map(|r| {
                let rule: AggregationRule = r.parse().unwrap_or_default();
                let (_, ms) = time_it(|| aggregate(&refs, &rule));
                format!("{ms:>14.1}")
            })
            .collect();
        println!("{n:>3}  {ms:>8.1}  {}", per_rule.join(""));
    }
}

#[derive(Default)]
struct Tally {
    total: u64,
    flagged: u64,
}

fn rel_err(
    a: &BTreeMap<String, Vec<blyan_worker::compress::DeltaTensor>>,
    b: &BTreeMap<String, Vec<blyan_worker::compress::DeltaTensor>>,
) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (k, ta) in a {
        for (x, y) in ta.iter().zip(&b[k]) {
            for (p, q) in x.values.iter().zip(&y.values) {
                let d = f64::from(*p) - f64::from(*q);
                num += d * d;
                den += f64::from(*q) * f64::from(*q);
            }
        }
    }
    (num / den.max(1e-300)).sqrt()
}

fn rates(layout: &Layout, norms: &BTreeMap<String, BaseBlock>, rounds: u64) {
    let params = DefenseParams::default();
    let mut honest = Tally::default();
    let mut per_mode: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut per_flag: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errs: BTreeMap<(&str, bool), (f64, u64)> = BTreeMap::new();
    let mut rng = SplitMix64::new(2024);
    let t0 = Instant::now();
    for r in 0..rounds {
        let n = 4 + rng.below(13) as usize;
        let attackers = ((n as f64) * 0.3).round() as usize;
        let attacks: Vec<Attack> = (0..attackers).map(|_| random_attack(&mut rng)).collect();
        let noise_rel = 0.3 + 2.7 * rng.unit_f64();
        let (ups, kinds) = synthetic::round(layout, n - attackers, &attacks, noise_rel, r);
        let res: Vec<Screening> = screen(&ups, norms, &params);
        for (s, k) in res.iter().zip(&kinds) {
            let t = match k {
                None => &mut honest,
                Some(a) => per_mode.entry(mode_name(a)).or_default(),
            };
            t.total += 1;
            t.flagged += u64::from(!s.is_clean());
            if k.is_none() && !s.is_clean() {
                println!("false positive: round {r} (n {n}, noise {noise_rel:.2}): {s}");
            }
            if k.is_some() {
                for (bit, name) in flag::ALL {
                    if s.flags & bit != 0 {
                        *per_flag.entry(name).or_default() += 1;
                    }
                }
            }
        }
        if r % 5 == 0 {
            let honest_only: Vec<&Update> = ups
                .iter()
                .zip(&kinds)
                .filter(|(_, k)| k.is_none())
                .map(|(u, _)| u)
                .collect();
            let Ok(target) = aggregate(&honest_only, &AggregationRule::WeightedFedAvg) else {
                continue;
            };
            let finite: Vec<&Update> = ups
                .iter()
                .zip(&kinds)
                .filter(|(_, k)| **k != Some(Attack::NonFinite))
                .map(|(u, _)| u)
                .collect();
            let admitted: Vec<&Update> = ups
                .iter()
                .zip(&res)
                .filter(|(_, s)| s.is_clean())
                .map(|(u, _)| u)
                .collect();
            for rule in RULES {
                let rule_v: AggregationRule = rule.parse().unwrap_or_default();
                for (screened, set) in [(false, &finite), (true, &admitted)] {
                    if let Ok(agg) = aggregate(set, &rule_v) {
                        let e = errs.entry((rule, screened)).or_default();
                        e.0 += rel_err(&agg, &target);
                        e.1 += 1;
                    }
                }
            }
        }
    }
    let pct = |t: &Tally| 100.0 * t.flagged as f64 / t.total.max(1) as f64;
    println!(
        "\n## {rounds} randomized rounds ({:.1} s): 4–16 updates, 30% attackers",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "false positives: {} of {} honest updates flagged ({:.2}%)",
        honest.flagged,
        honest.total,
        pct(&honest)
    );
    let all = per_mode.values().fold(Tally::default(), |a, t| Tally {
        total: a.total + t.total,
        flagged: a.flagged + t.flagged,
    });
    println!(
        "detection: {} of {} attackers flagged ({:.2}%)",
        all.flagged,
        all.total,
        pct(&all)
    );
    for (mode, t) in &per_mode {
        println!(
            "  {mode:<12} {:>4}/{:<4} {:>6.1}%",
            t.flagged,
            t.total,
            pct(t)
        );
    }
    let flags: Vec<String> = per_flag.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("flags on attackers: {}", flags.join(", "));
    println!("\n## aggregate error ‖agg − honest FedAvg‖ / ‖honest FedAvg‖ (mean over rounds)");
    println!("{:<14} {:>10} {:>10}", "rule", "all", "admitted");
    for rule in RULES {
        let get = |s: bool| {
            errs.get(&(rule, s))
                .map_or(f64::NAN, |(e, c)| e / *c as f64)
        };
        println!("{rule:<14} {:>10.3} {:>10.3}", get(false), get(true));
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let layout = synthetic::layout(
        &MetaConfig::small(),
        &[BlockName::Expert {
            layer: 0,
            expert: 0,
        }],
    );
    let norms = base_norms(&layout);
    timings(&layout, &norms);
    rates(&layout, &norms, if quick { 40 } else { 200 });
}

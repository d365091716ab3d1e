//! What the PoL quality benchmark prints: per-round tables and the final comparison.

use super::*;

pub(crate) fn print_rounds(label: &str, o: &Outcome, verbose: bool) {
    println!("\n## {label}: per round (losses in nats; times: miners s, validators ms)");
    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>4} {:>4} {:>4} {:>9} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6} {:>7} {:>8} {:>8}",
        "round", "base", "agg", "verdict", "adm", "byz", "harm", "miners_s", "max_s",
        "decode", "screen", "evals", "eval/sub", "aggr", "agg_ev", "wall", "cpu"
    );
    for (i, r) in o.rows.iter().enumerate() {
        let n = (r.admitted + r.byzantine + r.harmful).max(1);
        println!(
            "{:>5} {:>8} {:>8} {:>8} {:>4} {:>4} {:>4} {:>9.1} {:>8.1} {:>8.1} {:>7.1} {:>7.0} {:>8.0} {:>6.1} {:>7.0} {:>8.0} {:>8.0}",
            i + 1,
            nats(r.base_loss),
            r.new_loss.map_or("-".into(), nats),
            if r.accepted { "accepted" } else { "rejected" },
            r.admitted,
            r.byzantine,
            r.harmful,
            r.miner_secs,
            r.miner_max_secs,
            r.decode_ms,
            r.screen_ms,
            r.evals_ms,
            r.evals_ms / n as f64,
            r.aggregate_ms,
            r.agg_eval_ms,
            r.val_wall_ms,
            r.val_cpu_ms
        );
        if verbose || r.notes.iter().any(|n| n.starts_with("honest")) {
            for n in &r.notes {
                println!("        {n}");
            }
        }
    }
    let k = o.rows.len().max(1) as f64;
    let mean = |f: fn(&Row) -> f64| o.rows.iter().map(f).sum::<f64>() / k;
    println!(
        "mean per round: miners {:.1} s in all ({:.1} s the slowest, miners run in parallel in \
         practice); validator wall {:.0} ms (latency last submission → verdict), CPU {:.0} ms",
        mean(|r| r.miner_secs),
        mean(|r| r.miner_max_secs),
        mean(|r| r.val_wall_ms),
        mean(|r| r.val_cpu_ms)
    );
}

/// Federated against centralized round by round: the heads' loss after each round beside
/// the centralized runs' loss after the same number of samples, and the data-parallel step
/// at which centralized first reaches the federated final loss (linear between the
/// per-round measurements): the federated run's sample efficiency.
pub(crate) fn print_curves(s: &Setup, dp: &[u64], seq: Option<&[u64]>, fed: &Outcome) {
    if dp.len() != fed.rows.len() {
        return;
    }
    println!("\n## federated vs centralized after the same samples (nats)");
    println!(
        "{:>5} {:>9} {:>9} {:>9} {:>8}",
        "round", "federated", "dp", "seq", "gap dp"
    );
    let mut heads = s.genesis_loss;
    for (i, (r, c)) in fed.rows.iter().zip(dp).enumerate() {
        if r.accepted {
            heads = r.new_loss.unwrap_or(heads);
        }
        println!(
            "{:>5} {:>9} {:>9} {:>9} {:>7.2}%",
            i + 1,
            nats(heads),
            nats(*c),
            seq.and_then(|q| q.get(i)).map_or("-".into(), |l| nats(*l)),
            gap(heads, *c)
        );
    }
    let steps = s.opts.steps as f64;
    let f = fed.final_loss as f64;
    let mut prev = s.genesis_loss as f64;
    let mut reached = None;
    for (i, &c) in dp.iter().enumerate() {
        let c = c as f64;
        if c <= f {
            reached = Some(steps * (i as f64 + (prev - f) / (prev - c).max(1.0)));
            break;
        }
        prev = c;
    }
    match reached {
        Some(at) => println!(
            "centralized (dp) reaches the federated final loss after {at:.0} of its {} steps: \
             federated sample efficiency {:.0}%",
            dp.len() * s.opts.steps,
            100.0 * at / (dp.len() as f64 * steps)
        ),
        None => println!("centralized (dp) never reaches the federated final loss"),
    }
}

pub(crate) fn pct(a: u64, b: u64) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

pub(crate) fn gap(x: u64, c: u64) -> f64 {
    100.0 * (x as f64 - c as f64) / c as f64
}

/// The final losses, the defense's tally and the targets.
pub(crate) fn final_report(
    s: &Setup,
    (central, central_secs): (u64, f64),
    sequential: Option<(&[u64], f64)>,
    honest: &Outcome,
    attacked: &Outcome,
) {
    let opts = &s.opts;
    print_rounds("federated, 4 honest miners", honest, false);
    print_rounds("attacked, 4 honest + 2 attackers (33%)", attacked, true);

    println!("\n## final validation loss");
    println!(
        "{:<13} {:>12} {:>8} {:>10}",
        "run", "µnats", "nats", "vs central"
    );
    println!(
        "{:<13} {:>12} {:>8} {:>10}",
        "genesis",
        s.genesis_loss,
        nats(s.genesis_loss),
        format!("{:+.2}%", gap(s.genesis_loss, central))
    );
    println!(
        "{:<13} {:>12} {:>8} {:>10}",
        "central (dp)",
        central,
        nats(central),
        "-"
    );
    let sequential = sequential.and_then(|(c, secs)| Some((*c.last()?, secs)));
    if let Some((l, _)) = sequential {
        println!(
            "{:<13} {:>12} {:>8} {:>10}",
            "central (seq)",
            l,
            nats(l),
            format!("{:+.2}%", gap(l, central))
        );
    }
    for (name, o) in [("federated", &honest), ("attacked", &attacked)] {
        println!(
            "{:<13} {:>12} {:>8} {:>10}",
            name,
            o.final_loss,
            nats(o.final_loss),
            format!("{:+.2}%", gap(o.final_loss, central))
        );
    }
    println!(
        "central (dp): {} steps of batch {} in {central_secs:.0} s (the target's baseline: \
         what the miners' inner steps add up to, DiLoCo's data-parallel comparison)",
        opts.rounds * opts.steps,
        HONEST * s.train.batch_size
    );
    if let Some((l, secs)) = sequential {
        println!(
            "central (seq): {} steps of batch {} in {secs:.0} s (one machine, sequentially, the \
             same samples); federated {:+.2}%, attacked {:+.2}% against it",
            opts.rounds * HONEST * opts.steps,
            s.train.batch_size,
            gap(honest.final_loss, l),
            gap(attacked.final_loss, l)
        );
    }

    let mut hon = (0u64, 0u64, 0u64);
    for t in [&honest.tally, &attacked.tally] {
        hon.0 += t.honest;
        hon.1 += t.honest_penalized;
        hon.2 += t.honest_excluded;
    }
    let (mut att, mut caught, mut kept_out) = (0u64, 0u64, 0u64);
    println!(
        "\n## defense (attacked run; caught = judged Byzantine or harmful, the attacker pays; \
         excluded = left out of the aggregate by round-relative flags, bond returned)"
    );
    for (mode, (n, byz, harm, excl)) in &attacked.tally.per_mode {
        att += n;
        caught += byz + harm;
        kept_out += byz + harm + excl;
        println!(
            "  {mode:<11} {:>2}/{:<2} caught ({byz} byzantine, {harm} harmful), {excl} excluded",
            byz + harm,
            n
        );
    }
    println!(
        "detection: {caught}/{att} attacks caught ({:.1}%), {kept_out}/{att} kept out of the \
         aggregate ({:.1}%)",
        pct(caught, att),
        pct(kept_out, att)
    );
    println!(
        "honest submissions penalized (byzantine or harmful): {}/{} (federated {}/{}, attacked \
         {}/{}); excluded without penalty: {}",
        hon.1,
        hon.0,
        honest.tally.honest_penalized,
        honest.tally.honest,
        attacked.tally.honest_penalized,
        attacked.tally.honest,
        hon.2
    );

    println!("\n## targets (issue 12, at the chain's default parameters)");
    let show = |name: &str, ok: bool, got: String| {
        println!(
            "  {name:<44} {got:<12} {}",
            if ok { "met" } else { "MISSED" }
        );
    };
    let g_h = gap(honest.final_loss, central);
    let g_a = gap(attacked.final_loss, central);
    show(
        "honest within 3% of centralized",
        g_h <= 3.0,
        format!("{g_h:+.2}%"),
    );
    show(
        "attacked within 5% of centralized",
        g_a <= 5.0,
        format!("{g_a:+.2}%"),
    );
    show(
        "≥ 95% of attacks caught",
        pct(caught, att) >= 95.0,
        format!("{:.1}%", pct(caught, att)),
    );
    show(
        "0 honest submissions penalized",
        hon.1 == 0,
        format!("{}/{}", hon.1, hon.0),
    );
}

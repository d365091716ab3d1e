//! Fetching a round's submissions under a time budget.
//!
//! Every delta of every submission is fetched at once by a few threads (at most
//! [`FETCH_CONCURRENCY`] Kubo calls in flight), each call limited to the time left before the
//! round's fetch deadline, and decoded against the base block's layout
//! ([`fetch_delta`]): one unfetchable CID costs the round its budget once, not 60 s per
//! submission one after another. What is not fetched by the deadline is an
//! [`FetchError::Ipfs`] ("not fetched within the round's budget"), which the judge flags
//! [`flags::UNFETCHABLE`](blyan_proto::pol::flags::UNFETCHABLE). The bytes read are bounded
//! by the sizes the submissions declare on chain, each at most what a delta of its base block
//! can take.
//!
//! The budget ([`phase_budget`]) is half the time left in the phase (blocks left times the
//! chain's recent block interval), so that judging and attesting still fit before the phase
//! ends.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blyan_proto::pol::SubmissionInfo;
use serde_json::json;

use crate::chain::submission::{fetch_delta, FetchError, FetchedDelta};
use crate::chain::RpcClient;
use crate::compress::BlockLayout;
use crate::ipfs::KuboClient;

/// Kubo calls in flight at once.
pub const FETCH_CONCURRENCY: usize = 8;
/// The least fetch budget, whatever the phase has left.
pub const MIN_FETCH_BUDGET: Duration = Duration::from_secs(5);
/// The most fetch budget (the old per-call limit).
pub const MAX_FETCH_BUDGET: Duration = Duration::from_secs(120);
/// Blocks over which the recent block interval is measured.
const INTERVAL_BLOCKS: u64 = 10;

/// One submission's fetch result: its deltas, or why they could not all be had.
pub type Fetched = Result<Vec<FetchedDelta>, FetchError>;

/// The fetch budget of a phase ending at height `until`: half of `(until − now) × interval`,
/// clamped to [`MIN_FETCH_BUDGET`]..=[`MAX_FETCH_BUDGET`] (the minimum when the chain cannot
/// tell its block times).
pub fn phase_budget(rpc: &RpcClient, until: u64) -> Duration {
    let estimate = || -> Option<Duration> {
        let now = rpc.latest_height().ok()?;
        let interval = block_interval(rpc, now)?;
        let left = u32::try_from(until.saturating_sub(now).saturating_add(1)).ok()?;
        Some(interval.saturating_mul(left) / 2)
    };
    estimate().map_or(MIN_FETCH_BUDGET, |b| {
        b.clamp(MIN_FETCH_BUDGET, MAX_FETCH_BUDGET)
    })
}

/// The mean block interval over the last [`INTERVAL_BLOCKS`] blocks up to `now`, from their
/// header times.
fn block_interval(rpc: &RpcClient, now: u64) -> Option<Duration> {
    let from = now.saturating_sub(INTERVAL_BLOCKS).max(1);
    if from >= now {
        return None;
    }
    let r = rpc
        .call(
            "blockchain",
            json!({"minHeight": from.to_string(), "maxHeight": now.to_string()}),
        )
        .ok()?;
    let metas = r["block_metas"].as_array()?;
    let times: Vec<(u64, i128)> = metas
        .iter()
        .filter_map(|m| {
            let h = &m["header"];
            let height = h["height"].as_str()?.parse().ok()?;
            Some((height, rfc3339_nanos(h["time"].as_str()?)?))
        })
        .collect();
    let (lo, hi) = (times.iter().min()?, times.iter().max()?);
    let (blocks, nanos) = (hi.0.checked_sub(lo.0)?, hi.1.checked_sub(lo.1)?);
    if blocks == 0 || nanos <= 0 {
        return None;
    }
    let per = u64::try_from(nanos / i128::from(blocks)).ok()?;
    Some(Duration::from_nanos(per))
}

/// Nanoseconds since the Unix epoch of a UTC RFC 3339 time as CometBFT writes it
/// (`2026-12-04T14:30:42.123456789Z`).
pub fn rfc3339_nanos(s: &str) -> Option<i128> {
    let (date, rest) = s.split_once('T')?;
    let rest = rest.strip_suffix('Z')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

/// Fetches every delta of every submission in `subs` in parallel (at most `concurrency`
/// calls at once) by `deadline`, each decoded against `layouts[block]` (a block without a
/// layout is refused as [`FetchError::Shape`] without fetching). The result is in the order
/// of `subs`; a submission whose deltas were not all fetched by the deadline gets a
/// [`FetchError::Ipfs`] saying so. Returns by the deadline whatever the calls still in
/// flight do (they stop at their own time limit, the time that was left).
pub fn fetch_round(
    kubo: &KuboClient,
    subs: &[SubmissionInfo],
    layouts: &BTreeMap<String, BlockLayout>,
    deadline: Instant,
    concurrency: usize,
) -> Vec<Fetched> {
    let jobs: Vec<(usize, usize)> = subs
        .iter()
        .enumerate()
        .flat_map(|(i, s)| (0..s.deltas.len()).map(move |k| (i, k)))
        .collect();
    let shared = Arc::new((subs.to_vec(), layouts.clone(), jobs));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<(usize, usize, Result<FetchedDelta, FetchError>)>();
    for _ in 0..concurrency.max(1).min(shared.2.len()) {
        let (shared, next, tx, kubo) = (shared.clone(), next.clone(), tx.clone(), kubo.clone());
        std::thread::spawn(move || {
            let (subs, layouts, jobs) = &*shared;
            loop {
                let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(i, k)) = jobs.get(j) else { return };
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                let (s, d) = (&subs[i], &subs[i].deltas[k]);
                let r = match layouts.get(&d.block) {
                    Some(l) => fetch_delta(&kubo.clone().with_timeout(left), s, d, Some(l)),
                    None => Err(FetchError::Shape {
                        submission: s.id,
                        block: d.block.clone(),
                        message: "the model has no such block".into(),
                    }),
                };
                if tx.send((i, k, r)).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut got: Vec<Vec<Option<Result<FetchedDelta, FetchError>>>> = subs
        .iter()
        .map(|s| (0..s.deltas.len()).map(|_| None).collect())
        .collect();
    let mut pending = shared.2.len();
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, k, r)) => {
                got[i][k] = Some(r);
                pending -= 1;
            }
            Err(_) => break,
        }
    }
    subs.iter()
        .zip(got)
        .map(|(s, deltas)| {
            deltas
                .into_iter()
                .zip(&s.deltas)
                .map(|(r, d)| {
                    r.unwrap_or_else(|| {
                        Err(FetchError::Ipfs {
                            submission: s.id,
                            part: format!("delta of {}", d.block),
                            message: "not fetched within the round's fetch budget".into(),
                        })
                    })
                })
                .collect()
        })
        .collect()
}

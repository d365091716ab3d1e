//! Progressive trust (seeds 002 §12.3): newcomers have a small daily quota and must attach
//! a hashcash stamp; `promote_after` accepted submissions in a row make a contributor
//! trusted; `demote_after` failed ones in a row make it a newcomer again.

use blyan_proto::pol::{PolParams, TrustInfo, TrustLevel};
use blyan_proto::Address;

use super::state::{set_trust, trust};
use crate::error::TxResult;
use crate::state::StateWrite;

const MS_PER_DAY: i64 = 86_400_000;

/// The UTC day index of a block time (Unix ms); times before 1970 count as day 0.
pub fn day_of(time_unix_ms: i64) -> u64 {
    u64::try_from(time_unix_ms.checked_div(MS_PER_DAY).unwrap_or(0)).unwrap_or(0)
}

/// Submissions `t` has made on `day`.
pub(super) fn used_today(t: &TrustInfo, day: u64) -> u32 {
    if t.day == day {
        t.submissions_today
    } else {
        0
    }
}

/// Counts one submission on `day`.
pub(super) fn count_submission(t: &mut TrustInfo, day: u64) {
    t.submissions_today = used_today(t, day).saturating_add(1);
    t.day = day;
}

/// Records an accepted (admitted) submission of `addr`.
pub fn record_success<S: StateWrite + ?Sized>(
    state: &mut S,
    addr: &Address,
    params: &PolParams,
) -> TxResult<TrustInfo> {
    let mut t = trust(state, addr)?;
    t.accepted = t.accepted.saturating_add(1);
    t.consecutive_successes = t.consecutive_successes.saturating_add(1);
    t.consecutive_failures = 0;
    if t.level == TrustLevel::Newbie && t.consecutive_successes >= params.promote_after {
        t.level = TrustLevel::Trusted;
    }
    set_trust(state, addr, &t);
    Ok(t)
}

/// Records a failed (harmful or Byzantine) submission of `addr`; `reset` (Byzantine)
/// drops the contributor to newcomer at once.
pub fn record_failure<S: StateWrite + ?Sized>(
    state: &mut S,
    addr: &Address,
    params: &PolParams,
    reset: bool,
) -> TxResult<TrustInfo> {
    let mut t = trust(state, addr)?;
    t.failed = t.failed.saturating_add(1);
    t.consecutive_failures = t.consecutive_failures.saturating_add(1);
    t.consecutive_successes = 0;
    if reset || t.consecutive_failures >= params.demote_after {
        t.level = TrustLevel::Newbie;
    }
    set_trust(state, addr, &t);
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemState;

    #[test]
    fn promotion_after_consecutive_successes_and_demotion_after_failures() {
        let mut st = MemState::default();
        let p = PolParams::default();
        let a = blyan_proto::SecretKey::from_seed("m").address();
        record_success(&mut st, &a, &p).unwrap();
        record_success(&mut st, &a, &p).unwrap();
        record_failure(&mut st, &a, &p, false).unwrap();
        // the streak restarts after a failure
        for _ in 0..2 {
            assert_eq!(
                record_success(&mut st, &a, &p).unwrap().level,
                TrustLevel::Newbie
            );
        }
        assert_eq!(
            record_success(&mut st, &a, &p).unwrap().level,
            TrustLevel::Trusted
        );
        for _ in 0..4 {
            assert_eq!(
                record_failure(&mut st, &a, &p, false).unwrap().level,
                TrustLevel::Trusted
            );
        }
        let t = record_failure(&mut st, &a, &p, false).unwrap();
        assert_eq!(t.level, TrustLevel::Newbie);
        assert_eq!((t.accepted, t.failed), (5, 6));
        for _ in 0..3 {
            record_success(&mut st, &a, &p).unwrap();
        }
        assert_eq!(trust(&st, &a).unwrap().level, TrustLevel::Trusted);
        assert_eq!(
            record_failure(&mut st, &a, &p, true).unwrap().level,
            TrustLevel::Newbie
        );
    }

    #[test]
    fn the_daily_count_restarts_each_day() {
        let mut t = TrustInfo::default();
        let d = day_of(3 * MS_PER_DAY + 5);
        assert_eq!(d, 3);
        count_submission(&mut t, d);
        count_submission(&mut t, d);
        assert_eq!(used_today(&t, d), 2);
        assert_eq!(used_today(&t, d + 1), 0);
        count_submission(&mut t, d + 1);
        assert_eq!((t.day, t.submissions_today), (4, 1));
        assert_eq!(day_of(-5), 0);
    }
}

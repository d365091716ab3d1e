//! Amounts on the command line: `1.5bly` (decimal BLY) or a plain integer of base units.

use anyhow::{bail, Context};
use blyan_proto::BLY;

/// Parses `12`, `12bly`, `0.000001BLY` into base units (1 BLY = 10^18).
pub fn parse_amount(s: &str) -> anyhow::Result<u128> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(num) = t.strip_suffix("bly") {
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if frac.len() > 18 {
            bail!("{s}: at most 18 decimals");
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().with_context(|| format!("bad amount {s:?}"))?
        };
        let frac_units: u128 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<18}")
                .parse()
                .with_context(|| format!("bad amount {s:?}"))?
        };
        whole
            .checked_mul(BLY)
            .and_then(|w| w.checked_add(frac_units))
            .with_context(|| format!("{s}: too large"))
    } else {
        t.parse()
            .with_context(|| format!("bad amount {s:?}: use base units or a value like 1.5bly"))
    }
}

/// Formats base units as BLY with trailing zeros trimmed.
pub(super) fn format_bly(units: u128) -> String {
    let whole = units / BLY;
    let frac = units % BLY;
    if frac == 0 {
        format!("{whole} BLY")
    } else {
        let f = format!("{frac:018}");
        format!("{whole}.{} BLY", f.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_format() {
        assert_eq!(parse_amount("12").unwrap(), 12);
        assert_eq!(parse_amount("1.5bly").unwrap(), 15 * BLY / 10);
        assert_eq!(parse_amount("0.000000000000000001BLY").unwrap(), 1);
        assert!(parse_amount("1.0000000000000000001bly").is_err());
        assert!(parse_amount("-1").is_err());
        assert_eq!(format_bly(15 * BLY / 10), "1.5 BLY");
        assert_eq!(format_bly(3 * BLY), "3 BLY");
    }
}

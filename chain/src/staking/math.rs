//! Wide fixed-point arithmetic for stake and reward math.

/// `a × b / c` in 256-bit precision, floor; 0 when `c` is 0; saturates at `u128::MAX`.
pub fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    if let Some(p) = a.checked_mul(b) {
        return p.checked_div(c).unwrap_or(0);
    }
    // Long multiplication into (hi, lo), then long division by c.
    let (a_hi, a_lo) = (a >> 64, a & u128::from(u64::MAX));
    let (b_hi, b_lo) = (b >> 64, b & u128::from(u64::MAX));
    let lo_lo = a_lo.wrapping_mul(b_lo);
    let hi_lo = a_hi.wrapping_mul(b_lo);
    let lo_hi = a_lo.wrapping_mul(b_hi);
    let hi_hi = a_hi.wrapping_mul(b_hi);
    let cross = (lo_lo >> 64)
        .wrapping_add(hi_lo & u128::from(u64::MAX))
        .wrapping_add(lo_hi & u128::from(u64::MAX));
    let lo = (lo_lo & u128::from(u64::MAX)) | (cross << 64);
    let hi = hi_hi
        .wrapping_add(hi_lo >> 64)
        .wrapping_add(lo_hi >> 64)
        .wrapping_add(cross >> 64);
    if hi >= c {
        return u128::MAX;
    }
    let (mut q, mut r) = (0u128, hi);
    for i in (0..128).rev() {
        let carry = r >> 127;
        r = (r << 1) | ((lo >> i) & 1);
        if carry == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1u128 << i;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staking::{BONDED_POOL, REWARDS_POOL, UNBONDING_POOL};

    #[test]
    fn mul_div_matches_wide_arithmetic() {
        assert_eq!(mul_div(10, 20, 3), 66);
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
        assert_eq!(mul_div(u128::MAX, 2, 4), u128::MAX / 2);
        assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 110), 1 << 90);
        assert_eq!(mul_div(5, 5, 0), 0);
        assert_ne!(BONDED_POOL, UNBONDING_POOL);
        assert_ne!(BONDED_POOL, REWARDS_POOL);
    }
}

//! Shared fixed-point arithmetic: every share, rate and basis-point computation of the
//! runtime goes through here, in 256-bit intermediate precision, rounding down, never
//! panicking. [`mul_div`] saturates (callers that cap by a balance rely on it);
//! [`checked_mul_div`] reports what `mul_div` would have saturated or zeroed.

/// Basis points in one whole (100% = 10,000 bps).
pub const BPS: u128 = 10_000;

/// `amount × bps / 10,000`, floor (a basis-point share of an amount).
pub fn bps_of(amount: u128, bps: u32) -> u128 {
    mul_div(amount, u128::from(bps), BPS)
}

/// `a × b / c`, floor; `None` when `c` is 0 or the quotient exceeds `u128::MAX`.
pub fn checked_mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return p.checked_div(c);
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
        return None;
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
    Some(q)
}

/// `a × b / c` in 256-bit precision, floor; 0 when `c` is 0; saturates at `u128::MAX`.
pub fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    checked_mul_div(a, b, c).unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_matches_wide_arithmetic() {
        assert_eq!(mul_div(10, 20, 3), 66);
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
        assert_eq!(mul_div(u128::MAX, 2, 4), u128::MAX / 2);
        assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 110), 1 << 90);
        assert_eq!(mul_div(5, 5, 0), 0);
    }

    #[test]
    fn checked_mul_div_refuses_what_mul_div_saturates_or_zeroes() {
        assert_eq!(checked_mul_div(10, 20, 3), Some(66));
        assert_eq!(checked_mul_div(5, 5, 0), None);
        assert_eq!(checked_mul_div(u128::MAX, 2, 1), None);
        assert_eq!(checked_mul_div(u128::MAX, 2, 2), Some(u128::MAX));
        assert_eq!(
            checked_mul_div(u128::MAX, u128::MAX, u128::MAX),
            Some(u128::MAX)
        );
        assert_eq!(checked_mul_div(1 << 100, 1 << 100, 1 << 110), Some(1 << 90));
    }

    #[test]
    fn bps_of_takes_a_basis_point_share() {
        assert_eq!(bps_of(10_000, 1_000), 1_000);
        assert_eq!(bps_of(999, 1), 0);
        assert_eq!(bps_of(u128::MAX, 10_000), u128::MAX);
        assert_eq!(bps_of(u128::MAX, 5_000), u128::MAX / 2);
    }
}

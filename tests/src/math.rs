//! Arithmetic for expected values, written here rather than taken from the runtime, so a
//! test checks the chain's figures against an independent computation.

/// ⌊a·b / c⌋ exactly, through a 256-bit product and bit-by-bit long division; panics when
/// `c` is 0 or the quotient does not fit in a `u128` (an expected value never does that).
pub fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    assert!(c != 0, "mul_div_floor: division by zero");
    let (hi, lo) = mul_wide(a, b);
    let (mut rem, mut q) = (0u128, 0u128);
    for i in (0..256u32).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        // The remainder before the shift is below c; if its top bit is set the shifted
        // value is 2^128 or more, so certainly ≥ c.
        let carry = rem >> 127 == 1;
        rem = (rem << 1) | bit;
        if carry || rem >= c {
            rem = rem.wrapping_sub(c);
            assert!(i < 128, "mul_div_floor({a}, {b}, {c}) does not fit in u128");
            q |= 1 << i;
        }
    }
    q
}

/// The 256-bit product of two `u128`s as `(high, low)` halves (schoolbook on 64-bit limbs).
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let mask = u128::from(u64::MAX);
    let (a0, a1, b0, b1) = (a & mask, a >> 64, b & mask, b >> 64);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

#[cfg(test)]
mod tests {
    use super::mul_div_floor;

    #[test]
    fn small_values_match_plain_arithmetic() {
        for (a, b, c) in [
            (7u128, 3, 2),
            (0, 5, 3),
            (10, 10, 7),
            (1 << 100, 1 << 20, 1 << 30),
        ] {
            assert_eq!(mul_div_floor(a, b, c), a * b / c);
        }
    }

    #[test]
    fn products_beyond_u128_divide_exactly() {
        // (2^127)·(2^10) / 2^20 = 2^117; (10^30·10^30)/10^25 = 10^35.
        assert_eq!(mul_div_floor(1 << 127, 1 << 10, 1 << 20), 1 << 117);
        let e = 10u128.pow(30);
        assert_eq!(mul_div_floor(e, e, 10u128.pow(25)), 10u128.pow(35));
        assert_eq!(mul_div_floor(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
        assert_eq!(
            mul_div_floor(u128::MAX, 3, 7),
            u128::MAX / 7 * 3 + (u128::MAX % 7) * 3 / 7
        );
    }
}

//! Tokenomics: the hard cap, how genesis splits it, and the emission schedule.
//!
//! 1,000,000,000 BLY hard cap. 40% is reserved for emission as rewards and is **not** minted
//! at genesis; 20% foundation, 15% team and 25% ecosystem are minted at genesis. Emission
//! pays at most 10% of the cap per year (273,972 BLY a day), split 45% inference,
//! 35% learning, 10% validation, 10% datasets.

use blyan_proto::{Address, BLY, SUPPLY_CAP};

use crate::app_state::GenesisAccount;

/// Basis points in 100%.
pub const BPS_DENOMINATOR: u128 = 10_000;

/// Share of the cap reserved for emission (not minted at genesis), basis points.
pub const EMISSION_RESERVE_BPS: u128 = 4_000;
/// Share of the cap minted to the foundation at genesis, basis points.
pub const FOUNDATION_BPS: u128 = 2_000;
/// Share of the cap minted to the team at genesis, basis points.
pub const TEAM_BPS: u128 = 1_500;
/// Share of the cap minted to the ecosystem fund at genesis, basis points.
pub const ECOSYSTEM_BPS: u128 = 2_500;

/// Base units reserved for emission: 400,000,000 BLY.
pub const EMISSION_RESERVE: u128 = SUPPLY_CAP / BPS_DENOMINATOR * EMISSION_RESERVE_BPS;
/// Base units minted to the foundation: 200,000,000 BLY.
pub const FOUNDATION_ALLOCATION: u128 = SUPPLY_CAP / BPS_DENOMINATOR * FOUNDATION_BPS;
/// Base units minted to the team: 150,000,000 BLY.
pub const TEAM_ALLOCATION: u128 = SUPPLY_CAP / BPS_DENOMINATOR * TEAM_BPS;
/// Base units minted to the ecosystem fund (before dev carve-outs): 250,000,000 BLY.
pub const ECOSYSTEM_ALLOCATION: u128 = SUPPLY_CAP / BPS_DENOMINATOR * ECOSYSTEM_BPS;

/// Most emission in one year, basis points of the cap (10%).
pub const MAX_ANNUAL_EMISSION_BPS: u128 = 1_000;
/// Most emission in one year, base units: 100,000,000 BLY.
pub const MAX_ANNUAL_EMISSION: u128 = SUPPLY_CAP / BPS_DENOMINATOR * MAX_ANNUAL_EMISSION_BPS;
/// Emission per day, base units: 273,972 BLY (the yearly maximum / 365, rounded down to a
/// whole BLY).
pub const DAILY_EMISSION: u128 = 273_972 * BLY;

// The genesis split covers exactly the cap, and a year of daily emission stays within the
// yearly maximum; both are checked at compile time.
const _: () = assert!(
    EMISSION_RESERVE + FOUNDATION_ALLOCATION + TEAM_ALLOCATION + ECOSYSTEM_ALLOCATION == SUPPLY_CAP
);
const _: () = assert!(DAILY_EMISSION * 365 <= MAX_ANNUAL_EMISSION);

/// Share of emission paid for serving inference, basis points.
pub const EMISSION_INFERENCE_BPS: u128 = 4_500;
/// Share of emission paid for accepted learning (Proof-of-Learning), basis points.
pub const EMISSION_LEARNING_BPS: u128 = 3_500;
/// Share of emission paid to validation (attesting submissions), basis points.
pub const EMISSION_VALIDATION_BPS: u128 = 1_000;
/// Share of emission paid for datasets, basis points.
pub const EMISSION_DATASETS_BPS: u128 = 1_000;

/// Why an allocation cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenomicsError {
    /// The dev accounts ask for more than the ecosystem share holds.
    #[error(
        "dev accounts request {requested} base units but the ecosystem share holds {available}"
    )]
    DevFundsExceedEcosystem {
        /// Sum requested by the dev accounts.
        requested: u128,
        /// The ecosystem share.
        available: u128,
    },
    /// Summing the dev account balances overflows u128.
    #[error("the dev account balances overflow u128")]
    Overflow,
}

/// The genesis allocation: foundation, team and ecosystem accounts (labelled so), then one
/// account per `dev_accounts` entry (unlabelled), whose funds are carved out of the
/// ecosystem share; and the emission reserve. An ecosystem remainder of zero is left out,
/// since genesis accounts may not hold zero.
pub fn default_allocation(
    foundation: Address,
    team: Address,
    ecosystem: Address,
    dev_accounts: &[(Address, u128)],
) -> Result<(Vec<GenesisAccount>, u128), TokenomicsError> {
    let requested = dev_accounts
        .iter()
        .try_fold(0u128, |s, (_, b)| s.checked_add(*b))
        .ok_or(TokenomicsError::Overflow)?;
    let remainder = ECOSYSTEM_ALLOCATION.checked_sub(requested).ok_or(
        TokenomicsError::DevFundsExceedEcosystem {
            requested,
            available: ECOSYSTEM_ALLOCATION,
        },
    )?;
    let labelled = |address, balance, label: &str| GenesisAccount {
        address,
        balance,
        label: Some(label.to_string()),
    };
    let mut accounts = vec![
        labelled(foundation, FOUNDATION_ALLOCATION, "foundation"),
        labelled(team, TEAM_ALLOCATION, "team"),
    ];
    if remainder > 0 {
        accounts.push(labelled(ecosystem, remainder, "ecosystem"));
    }
    accounts.extend(
        dev_accounts
            .iter()
            .map(|(address, balance)| GenesisAccount {
                address: *address,
                balance: *balance,
                label: None,
            }),
    );
    Ok((accounts, EMISSION_RESERVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use blyan_proto::SecretKey;

    fn addr(seed: &str) -> Address {
        SecretKey::from_seed(seed).address()
    }

    #[test]
    fn shares_add_up_to_the_cap() {
        assert_eq!(
            EMISSION_RESERVE_BPS + FOUNDATION_BPS + TEAM_BPS + ECOSYSTEM_BPS,
            BPS_DENOMINATOR
        );
        assert_eq!(
            EMISSION_RESERVE + FOUNDATION_ALLOCATION + TEAM_ALLOCATION + ECOSYSTEM_ALLOCATION,
            SUPPLY_CAP
        );
        assert_eq!(FOUNDATION_ALLOCATION, 200_000_000 * BLY);
        assert_eq!(EMISSION_RESERVE, 400_000_000 * BLY);
    }

    #[test]
    fn emission_schedule_is_consistent() {
        assert_eq!(
            EMISSION_INFERENCE_BPS
                + EMISSION_LEARNING_BPS
                + EMISSION_VALIDATION_BPS
                + EMISSION_DATASETS_BPS,
            BPS_DENOMINATOR
        );
        assert_eq!(MAX_ANNUAL_EMISSION, 100_000_000 * BLY);
        assert_eq!(
            DAILY_EMISSION,
            MAX_ANNUAL_EMISSION / 365 / BLY * BLY,
            "the yearly maximum over 365 days, in whole BLY"
        );
    }

    #[test]
    fn dev_funds_come_out_of_the_ecosystem_share() {
        let dev = [(addr("d0"), 10 * BLY), (addr("d1"), 5 * BLY)];
        let (accounts, reserve) =
            default_allocation(addr("f"), addr("t"), addr("e"), &dev).unwrap();
        assert_eq!(reserve, EMISSION_RESERVE);
        let minted: u128 = accounts.iter().map(|a| a.balance).sum();
        assert_eq!(minted + reserve, SUPPLY_CAP);
        let eco = accounts.iter().find(|a| a.address == addr("e")).unwrap();
        assert_eq!(eco.balance, ECOSYSTEM_ALLOCATION - 15 * BLY);
        assert_eq!(accounts.len(), 5);
    }

    #[test]
    fn dev_funds_above_the_ecosystem_share_are_refused() {
        let dev = [(addr("d0"), ECOSYSTEM_ALLOCATION), (addr("d1"), 1)];
        assert_eq!(
            default_allocation(addr("f"), addr("t"), addr("e"), &dev),
            Err(TokenomicsError::DevFundsExceedEcosystem {
                requested: ECOSYSTEM_ALLOCATION + 1,
                available: ECOSYSTEM_ALLOCATION
            })
        );
        let overflow = [(addr("d0"), u128::MAX), (addr("d1"), 1)];
        assert_eq!(
            default_allocation(addr("f"), addr("t"), addr("e"), &overflow),
            Err(TokenomicsError::Overflow)
        );
    }

    #[test]
    fn an_exhausted_ecosystem_share_is_left_out() {
        let dev = [(addr("d0"), ECOSYSTEM_ALLOCATION)];
        let (accounts, _) = default_allocation(addr("f"), addr("t"), addr("e"), &dev).unwrap();
        assert!(accounts.iter().all(|a| a.address != addr("e")));
        assert!(accounts.iter().all(|a| a.balance > 0));
    }
}

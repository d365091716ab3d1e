//! The gateway's book of channels: what each owes, the vouchers taken, usage since the
//! last redemption; persisted atomically under the gateway's home.

use super::*;

/// One channel's book.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ChannelBook {
    /// Owed for tokens produced since the channel opened, base units.
    #[serde(with = "u128_string")]
    pub(super) billed: u128,
    /// Redeemed on chain, as last seen.
    #[serde(with = "u128_string")]
    pub(super) redeemed: u128,
    /// Accepted vouchers above `redeemed`, by increasing cumulative: the highest one at or
    /// below `billed` (the redeemable one) and those above `billed`.
    pub(super) vouchers: Vec<SignedVoucher>,
    /// Tokens per block since the last redemption.
    pub(super) usage: BTreeMap<String, u64>,
    /// Paid requests settled.
    pub(super) requests: u64,
    /// Quotes of requests still running (not persisted: they end with the process).
    #[serde(skip)]
    pub(super) in_flight: u128,
}

impl ChannelBook {
    /// The voucher to redeem: the highest at or below the billed total.
    pub(super) fn redeemable(&self) -> Option<&SignedVoucher> {
        self.vouchers
            .iter()
            .rev()
            .find(|v| v.voucher.cumulative <= self.billed)
    }

    pub(super) fn highest(&self) -> u128 {
        self.vouchers
            .last()
            .map_or(self.redeemed, |v| v.voucher.cumulative)
    }

    /// Drops vouchers that can never be redeemed now.
    pub(super) fn prune(&mut self) {
        let redeemed = self.redeemed;
        self.vouchers.retain(|v| v.voucher.cumulative > redeemed);
        if let Some(r) = self.redeemable().map(|v| v.voucher.cumulative) {
            self.vouchers.retain(|v| v.voucher.cumulative >= r);
        }
        if self.vouchers.len() > MAX_PENDING_VOUCHERS {
            self.vouchers.truncate(MAX_PENDING_VOUCHERS);
        }
    }

    pub(super) fn status(&self) -> Value {
        json!({
            "billed": self.billed.to_string(),
            "in_flight": self.in_flight.to_string(),
            "redeemed": self.redeemed.to_string(),
            "redeemable": self.redeemable().map_or("0".to_string(), |v| v.voucher.cumulative.to_string()),
            "highest_voucher": self.highest().to_string(),
            "next_voucher_min": self.billed.saturating_add(self.in_flight).to_string(),
            "requests": self.requests,
            "usage_blocks": self.usage.len(),
        })
    }
}

/// The persisted state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Book {
    pub(super) chain_id: String,
    pub(super) provider: String,
    pub(super) model: String,
    pub(super) channels: BTreeMap<u64, ChannelBook>,
}

pub(super) fn write_atomic(path: &Path, book: &Book) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(book).map_err(std::io::Error::other)?;
    {
        use std::io::Write as _;
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

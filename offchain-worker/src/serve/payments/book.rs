//! The gateway's book of channels: what each owes, the vouchers taken (each with the usage
//! it commits to), the usage since the channel opened; persisted atomically under the
//! gateway's home.

use std::collections::VecDeque;

use blyan_proto::inference::usage_root;

use super::*;

/// Usage states kept per channel besides the current one, so a voucher signed just before
/// another request of the same channel settled is still taken.
const RECENT_USAGE: usize = 16;

/// Most blocks counted per channel (the chain's default `max_usage_entries`); tokens of
/// further blocks are not counted, so a usage report always fits a redemption.
pub(super) const MAX_USAGE_BLOCKS: usize = 1024;

/// An accepted voucher with the usage its `usage_root` commits to (what a redemption of it
/// reports).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct HeldVoucher {
    /// The voucher.
    #[serde(flatten)]
    pub(super) signed: SignedVoucher,
    /// Its usage: tokens per block since the channel opened, sorted by block.
    pub(super) usage: Vec<BlockUsage>,
}

impl HeldVoucher {
    pub(super) fn cumulative(&self) -> u128 {
        self.signed.voucher.cumulative
    }
}

/// Whether usage `a` is at or above `b` for every block of `b`.
pub(super) fn dominates(a: &[BlockUsage], b: &[BlockUsage]) -> bool {
    let a: BTreeMap<&str, u64> = a.iter().map(|u| (u.block.as_str(), u.tokens)).collect();
    b.iter()
        .all(|u| a.get(u.block.as_str()).is_some_and(|t| *t >= u.tokens))
}

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
    pub(super) vouchers: Vec<HeldVoucher>,
    /// Tokens per block since the channel opened (what vouchers commit to).
    pub(super) usage: BTreeMap<String, u64>,
    /// The last few usage states with their roots (not persisted).
    #[serde(skip)]
    pub(super) recent: VecDeque<([u8; 32], Vec<BlockUsage>)>,
    /// Paid requests settled.
    pub(super) requests: u64,
    /// Quotes of requests still running (not persisted: they end with the process).
    #[serde(skip)]
    pub(super) in_flight: u128,
}

impl ChannelBook {
    /// The voucher to redeem: the highest at or below the billed total.
    pub(super) fn redeemable(&self) -> Option<&HeldVoucher> {
        self.vouchers
            .iter()
            .rev()
            .find(|v| v.cumulative() <= self.billed)
    }

    pub(super) fn highest(&self) -> u128 {
        self.vouchers
            .last()
            .map_or(self.redeemed, HeldVoucher::cumulative)
    }

    /// The usage since the channel opened, as a redemption reports it.
    pub(super) fn usage_list(&self) -> Vec<BlockUsage> {
        self.usage
            .iter()
            .filter(|(_, t)| **t > 0)
            .map(|(block, tokens)| BlockUsage {
                block: block.clone(),
                tokens: *tokens,
            })
            .collect()
    }

    /// The usage whose root is `root`: the current one or a recent one.
    pub(super) fn usage_for_root(&self, root: &[u8; 32]) -> Option<Vec<BlockUsage>> {
        let now = self.usage_list();
        if usage_root(&now) == *root {
            return Some(now);
        }
        self.recent
            .iter()
            .find(|(r, _)| r == root)
            .map(|(_, u)| u.clone())
    }

    /// Adds a settled request's tokens per block and remembers the previous usage state.
    pub(super) fn add_usage(&mut self, blocks: &BlockTokens) {
        let before = self.usage_list();
        self.recent.push_back((usage_root(&before), before));
        while self.recent.len() > RECENT_USAGE {
            self.recent.pop_front();
        }
        for (block, t) in blocks {
            if self.usage.contains_key(block) || self.usage.len() < MAX_USAGE_BLOCKS {
                let e = self.usage.entry(block.clone()).or_insert(0);
                *e = e.saturating_add(*t);
            }
        }
    }

    /// Drops vouchers that can never be redeemed now.
    pub(super) fn prune(&mut self) {
        let redeemed = self.redeemed;
        self.vouchers.retain(|v| v.cumulative() > redeemed);
        if let Some(r) = self.redeemable().map(HeldVoucher::cumulative) {
            self.vouchers.retain(|v| v.cumulative() >= r);
        }
        if self.vouchers.len() > MAX_PENDING_VOUCHERS {
            self.vouchers.truncate(MAX_PENDING_VOUCHERS);
        }
    }

    pub(super) fn status(&self) -> Value {
        let usage = self.usage_list();
        json!({
            "usage": usage,
            "usage_root": format!("0x{}", hex::encode(usage_root(&usage))),
            "billed": self.billed.to_string(),
            "in_flight": self.in_flight.to_string(),
            "redeemed": self.redeemed.to_string(),
            "redeemable": self.redeemable().map_or("0".to_string(), |v| v.cumulative().to_string()),
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

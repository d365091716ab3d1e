//! Taking a voucher: the checks that need no chain first (provider, model, a signature
//! that recovers), then the channel on chain, then the book (replays, usage, amount).

use super::*;

impl VoucherBilling {
    /// Checks a voucher header and records the voucher when it covers `amount` on top of
    /// the channel's billed and in-flight totals; `reserve` adds `amount` to in flight.
    pub(super) fn accept(
        &self,
        headers: &HeaderMap,
        amount: u128,
        reserve: bool,
    ) -> Result<(SignedVoucher, ChannelInfo, u128), BillingError> {
        let text = headers
            .get(VOUCHER_HEADER)
            .ok_or_else(|| {
                refuse(
                    "voucher_missing",
                    "send a signed voucher in x-blyan-voucher",
                )
            })?
            .to_str()
            .map_err(|_| refuse("voucher_malformed", "x-blyan-voucher is not text"))?;
        let sv = parse_voucher(text).map_err(|e| {
            refuse(
                "voucher_malformed",
                format!("x-blyan-voucher: {e}; send the SignedVoucher JSON or its base64"),
            )
        })?;
        let v = &sv.voucher;
        let me = self.cfg.provider;
        if v.provider != me {
            return Err(refuse(
                "voucher_wrong_provider",
                format!(
                    "the voucher names provider {}; this gateway is provider {me}",
                    v.provider
                ),
            ));
        }
        if v.model != self.cfg.model {
            return Err(refuse(
                "voucher_wrong_model",
                format!(
                    "the voucher is for model {:?}; this gateway serves {:?}",
                    v.model, self.cfg.model
                ),
            ));
        }
        // Recover the signer before asking the chain: a voucher whose signature does not
        // even recover costs no lookup (and cannot fill the channel cache).
        let signer = sv.signer(&self.cfg.chain_id).map_err(|e| {
            refuse(
                "voucher_bad_signature",
                format!("bad voucher signature: {e}"),
            )
        })?;
        let (c, height) = self.channel(v.channel, false)?;
        let Some(c) = c else {
            return Err(refuse(
                "voucher_unknown_channel",
                format!(
                    "channel {} does not exist on chain {}",
                    v.channel, self.cfg.chain_id
                ),
            ));
        };
        if c.provider != me {
            return Err(refuse(
                "voucher_wrong_channel",
                format!(
                    "channel {} pays provider {}, not this gateway ({me}); open a channel to {me}",
                    c.id, c.provider
                ),
            ));
        }
        if signer != c.user {
            return Err(refuse(
                "voucher_bad_signature",
                format!(
                    "bad voucher signature: it recovers {signer}, not channel {}'s user {} (vouchers are signed for chain {})",
                    c.id, c.user, self.cfg.chain_id
                ),
            ));
        }
        if c.closed {
            return Err(refuse(
                "channel_closed",
                format!("channel {} is closed", c.id),
            ));
        }
        if height.saturating_add(self.cfg.min_blocks_left) > c.expires_at {
            return Err(refuse(
                "channel_expired",
                format!(
                    "channel {} expires at height {} (now {height}; this gateway needs {} blocks left to redeem); extend it with blyand tx inference top-up --extend-blocks",
                    c.id, c.expires_at, self.cfg.min_blocks_left
                ),
            ));
        }
        if v.cumulative > c.deposit {
            return Err(refuse(
                "voucher_above_deposit",
                format!(
                    "the voucher is for {} but channel {} holds {}; top it up with blyand tx inference top-up",
                    v.cumulative, c.id, c.deposit
                ),
            ));
        }
        let mut book = lock(&self.book);
        let b = book.channels.entry(c.id).or_default();
        if c.redeemed > b.redeemed {
            b.redeemed = c.redeemed;
            b.prune();
        }
        let floor = b
            .redeemable()
            .map_or(b.redeemed, HeldVoucher::cumulative)
            .max(b.redeemed);
        // A voucher for the cumulative of one already taken replaces it only as a receipt
        // with newer usage; otherwise it is a replay.
        let same = b
            .vouchers
            .iter()
            .position(|x| x.cumulative() == v.cumulative);
        let replay = |b: &ChannelBook| {
            refuse(
                "voucher_replayed",
                format!(
                    "replayed voucher: cumulative {} was already accepted or is not above {floor} (redeemed or redeemable) on channel {}; sign a new one for at least {}",
                    v.cumulative,
                    c.id,
                    b.billed.saturating_add(b.in_flight).saturating_add(amount)
                ),
            )
        };
        let held_same = same.and_then(|i| b.vouchers.get(i));
        if held_same.is_some_and(|x| x.signed.voucher.usage_root == v.usage_root)
            || v.cumulative < floor
            || (v.cumulative == floor && same.is_none())
        {
            return Err(replay(b));
        }
        let Some(usage) = b.usage_for_root(&v.usage_root) else {
            return Err(refuse(
                "voucher_usage_mismatch",
                format!(
                    "the voucher commits to usage root 0x{}, which is not channel {}'s usage; sign usage_root 0x{} (GET /v1/blyan/channel/{}: usage, usage_root)",
                    hex::encode(v.usage_root),
                    c.id,
                    hex::encode(blyan_proto::inference::usage_root(&b.usage_list())),
                    c.id
                ),
            ));
        };
        let newer = held_same.is_some_and(|x| dominates(&usage, &x.usage));
        if same.is_some() && !newer {
            return Err(replay(b));
        }
        let need = b.billed.saturating_add(b.in_flight).saturating_add(amount);
        if v.cumulative < need {
            return Err(refuse(
                "voucher_insufficient",
                format!(
                    "the voucher for {} does not cover billed {} + in flight {} + this request's quote {amount} = {need} on channel {}",
                    v.cumulative, b.billed, b.in_flight, c.id
                ),
            ));
        }
        let at = b
            .vouchers
            .partition_point(|x| x.cumulative() < v.cumulative);
        let below_ok = at == 0
            || b.vouchers
                .get(at - 1)
                .is_none_or(|x| dominates(&usage, &x.usage));
        if !below_ok {
            return Err(refuse(
                "voucher_usage_mismatch",
                format!(
                    "the voucher's usage is older than that of a voucher for less on channel {}; sign the current usage_root",
                    c.id
                ),
            ));
        }
        let billed_before = b.billed;
        let held = HeldVoucher {
            signed: sv.clone(),
            usage,
        };
        match same {
            Some(i) => {
                if let Some(x) = b.vouchers.get_mut(i) {
                    *x = held;
                }
            }
            None => b.vouchers.insert(at, held),
        }
        // Vouchers for more with older usage could never be redeemed after this one (the
        // chain takes usage that only grows): they go.
        let newest = b
            .vouchers
            .get(at)
            .map(|x| x.usage.clone())
            .unwrap_or_default();
        let mut i = 0usize;
        b.vouchers.retain(|x| {
            i += 1;
            i <= at + 1 || dominates(&x.usage, &newest)
        });
        if reserve {
            b.in_flight = b.in_flight.saturating_add(amount);
        }
        b.prune();
        let snapshot = book.clone();
        drop(book);
        self.save(&snapshot);
        Ok((sv, c, billed_before))
    }
}

//! Redeeming the vouchers a gateway holds, and the book as `/v1/blyan/payments` shows it.

use super::*;

impl VoucherBilling {
    /// Sends `MsgRedeem` for every channel whose redeemable voucher is above what was
    /// redeemed, with its usage since the last redemption; waits up to `timeout` for each.
    pub fn redeem_all(&self, sender: &TxSender, timeout: Duration) -> Vec<RedeemReport> {
        let max_entries = sender
            .rpc()
            .query::<InferenceParams>(&QueryPath::InferenceParams)
            .map(|p| usize::try_from(p.max_usage_entries).unwrap_or(usize::MAX))
            .unwrap_or(1024);
        let work: Vec<RedeemWork> = {
            let book = lock(&self.book);
            book.channels
                .iter()
                .filter_map(|(id, b)| {
                    let v = b.redeemable()?;
                    (v.voucher.cumulative > b.redeemed)
                        .then(|| (*id, v.clone(), b.redeemed, b.billed, b.usage.clone()))
                })
                .collect()
        };
        let mut out = Vec::new();
        for (id, sv, redeemed, billed, usage_map) in work {
            // The chain may have moved (an earlier redemption from another home).
            let on_chain = match self.channel(id, true) {
                Ok((Some(c), _)) => c.redeemed,
                Ok((None, _)) => redeemed,
                Err(e) => {
                    tracing::warn!(channel = id, error = %e, "redeem: channel read failed");
                    redeemed
                }
            };
            if on_chain >= sv.voucher.cumulative {
                let mut book = lock(&self.book);
                if let Some(b) = book.channels.get_mut(&id) {
                    b.redeemed = b.redeemed.max(on_chain);
                    b.prune();
                }
                let snapshot = book.clone();
                drop(book);
                self.save(&snapshot);
                continue;
            }
            let mut usage: Vec<BlockUsage> = usage_map
                .iter()
                .filter(|(_, t)| **t > 0)
                .map(|(block, tokens)| BlockUsage {
                    block: block.clone(),
                    tokens: *tokens,
                })
                .collect();
            if usage.len() > max_entries {
                usage.sort_by(|a, b| b.tokens.cmp(&a.tokens).then(a.block.cmp(&b.block)));
                usage.truncate(max_entries);
                usage.sort_by(|a, b| a.block.cmp(&b.block));
            }
            let msg = Msg::Inference(InferenceMsg::Redeem {
                voucher: sv.clone(),
                model: self.cfg.model.clone(),
                usage: usage.clone(),
            });
            let mut report = RedeemReport {
                channel: id,
                amount: sv.voucher.cumulative.saturating_sub(on_chain),
                voucher: sv.clone(),
                billed,
                usage,
                hash: String::new(),
                code: 0,
                log: String::new(),
                height: 0,
            };
            match sender.send(|_| vec![msg]) {
                Err(e) => {
                    report.code = u32::MAX;
                    report.log = e.to_string();
                }
                Ok(sent) if sent.code != 0 => {
                    report.hash = sent.hash;
                    report.code = sent.code;
                    report.log = sent.log;
                }
                Ok(sent) => {
                    report.hash = sent.hash.clone();
                    match sender.wait(&sent.hash, timeout) {
                        Ok(c) => {
                            report.code = c.code;
                            report.log = c.log;
                            report.height = c.height;
                        }
                        Err(e) => {
                            report.code = u32::MAX;
                            report.log = e.to_string();
                        }
                    }
                }
            }
            if report.code == 0 {
                let mut book = lock(&self.book);
                if let Some(b) = book.channels.get_mut(&id) {
                    b.redeemed = b.redeemed.max(sv.voucher.cumulative);
                    for (block, t) in &usage_map {
                        if let Some(x) = b.usage.get_mut(block) {
                            *x = x.saturating_sub(*t);
                        }
                    }
                    b.usage.retain(|_, t| *t > 0);
                    b.prune();
                }
                let snapshot = book.clone();
                drop(book);
                self.save(&snapshot);
                lock(&self.cache).remove(&id);
                tracing::info!(channel = id, amount = %report.amount, height = report.height, "voucher redeemed");
            } else {
                tracing::warn!(channel = id, code = report.code, log = %report.log, "redemption refused");
            }
            out.push(report);
        }
        out
    }

    /// The book of every channel, as JSON.
    pub fn book_status(&self) -> Value {
        let book = lock(&self.book);
        let channels: serde_json::Map<String, Value> = book
            .channels
            .iter()
            .map(|(id, b)| (id.to_string(), b.status()))
            .collect();
        json!({"provider": book.provider, "chain_id": book.chain_id, "model": book.model, "channels": channels})
    }
}

//! Redeeming the vouchers a gateway holds, and the book as `/v1/blyan/payments` shows it.

use super::*;

impl VoucherBilling {
    /// Sends `MsgRedeem` for every channel whose redeemable voucher is above what was
    /// redeemed, with the usage that voucher commits to; waits up to `timeout` for each.
    pub fn redeem_all(&self, sender: &TxSender, timeout: Duration) -> Vec<RedeemReport> {
        let work: Vec<RedeemWork> = {
            let book = lock(&self.book);
            book.channels
                .iter()
                .filter_map(|(id, b)| {
                    let v = b.redeemable()?;
                    (v.cumulative() > b.redeemed).then(|| (*id, v.clone(), b.redeemed, b.billed))
                })
                .collect()
        };
        let mut out = Vec::new();
        for (id, held, redeemed, billed) in work {
            let sv = held.signed;
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
            // exactly the usage the voucher commits to (its usage_root)
            let usage = held.usage;
            let msg = Msg::Inference(InferenceMsg::Redeem {
                voucher: sv.clone(),
                model: sv.voucher.model.clone(),
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
            match sender.send(|_| vec![msg.clone()]) {
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

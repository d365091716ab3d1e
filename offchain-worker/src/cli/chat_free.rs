//! What `blyan-worker chat` without `--channel` tells its user about the free tier: how many
//! free requests are left today (the gateway reports it in the stream's `blyan.payment`),
//! and, once the quota is used up (HTTP 429 `free_quota_exceeded`, or a 402 from a gateway
//! that wants payment), how to pay per token from a payment channel instead, with the exact
//! commands of the README ("Inference payments").

use serde_json::Value;

/// The free-tier line printed after a free reply, from the last chunk's `blyan.payment`
/// (`None` when the request was not on the free tier).
pub fn free_tier_note(payment: &Value) -> Option<String> {
    if payment["kind"].as_str() != Some("free_tier") {
        return None;
    }
    let left = payment["remaining_today"].as_u64()?;
    let caller = payment["caller"].as_str().unwrap_or("?");
    let level = payment["level"].as_str().unwrap_or("newbie");
    let who = match caller.strip_prefix("ip:") {
        Some(ip) => format!("anonymous caller {ip} (by IP, {level} quota)"),
        None => format!("{caller} (signed in, {level} quota)"),
    };
    let s = if left == 1 { "" } else { "s" };
    let mut note = format!(
        "[free tier: {left} free request{s} left today for {who}; \
         the quota resets at 00:00 UTC"
    );
    if left == 0 {
        note.push_str("; the next request needs a payment channel (`--channel ID`)");
    }
    note.push(']');
    Some(note)
}

/// Whether a refusal (`status`, error body) means the free tier will not serve this caller
/// any more today and only a payment would.
pub fn is_quota_refusal(status: u16, body: &Value) -> bool {
    status == 402 || (status == 429 && body["error"]["code"] == "free_quota_exceeded")
}

/// The help printed when the free quota is used up: the gateway's own message, then how to
/// open a payment channel to this gateway's provider and chat from it. `payments` is the
/// gateway's `GET /v1/blyan/payments` answer (`None` when it could not be read); `retry_after`
/// the seconds until the quota resets, when the gateway said.
pub fn quota_help(
    url: &str,
    status: u16,
    body: &Value,
    payments: Option<&Value>,
    retry_after: Option<u64>,
) -> String {
    let msg = body["error"]["message"].as_str().unwrap_or("(no message)");
    let mut out = format!("the gateway refused a free request (HTTP {status}): {msg}\n\n");
    if let Some(secs) = retry_after {
        out.push_str(&format!(
            "The free quota resets in {}h {:02}m (00:00 UTC).\n",
            secs / 3600,
            secs % 3600 / 60
        ));
    }
    let info = payments.map(|p| &p["payments"]).filter(|p| !p.is_null());
    let Some(info) = info else {
        out.push_str(
            "This gateway takes no payments (it runs without a provider key and --home), so \
             only its free tier is available. Wait for the reset, or find a provider that \
             takes payment channels: `blyand query inference providers`.\n",
        );
        return out;
    };
    let provider = info["provider"].as_str().unwrap_or("0xPROVIDER");
    let model = info["model"].as_str().unwrap_or("?");
    out.push_str(&format!(
        "To keep chatting now, pay per token from a payment channel to this gateway's provider \
         {provider} (model {model}, {} base units per 1000 tokens):\n\
         \n  # 1. open a channel with a deposit, from your key (e.g. the localnet's dev0)\n  \
         blyand tx inference open-channel {provider} 5bly --duration-blocks 10000 --from KEY --wait\n  \
         # 2. find its id\n  \
         blyand query inference channels YOUR_ADDRESS\n  \
         # 3. chat paying from it (vouchers are signed with the same key)\n  \
         BLYAN_WORKER_KEY=<hex key> blyan-worker chat --url {url} --channel ID 'your message'\n\
         \nOr sign in (`--sign-in` with a key) as a trusted Proof-of-Learning contributor for a \
         larger free quota. See \"Paying with a payment channel\" in offchain-worker/README.md.\n",
        payments
            .and_then(|p| p["price_per_1k_tokens"].as_str())
            .unwrap_or("?"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_note_says_how_many_free_requests_are_left() {
        let p = json!({"kind": "free_tier", "caller": "ip:127.0.0.1", "level": "newbie", "remaining_today": 3});
        let n = free_tier_note(&p).unwrap();
        assert!(n.contains("3 free requests left today"), "{n}");
        assert!(n.contains("anonymous caller 127.0.0.1"), "{n}");
        let last = json!({"kind": "free_tier", "caller": "0xAb", "remaining_today": 0});
        assert!(free_tier_note(&last).unwrap().contains("--channel ID"));
        assert_eq!(free_tier_note(&json!({"kind": "voucher"})), None);
    }

    #[test]
    fn the_help_names_the_provider_and_the_exact_commands() {
        let body = json!({"error": {"code": "free_quota_exceeded", "message": "used up"}});
        assert!(is_quota_refusal(429, &body));
        assert!(!is_quota_refusal(
            429,
            &json!({"error": {"code": "too_many_concurrent_requests"}})
        ));
        assert!(is_quota_refusal(402, &json!({})));
        let payments = json!({"accepts_vouchers": true, "price_per_1k_tokens": "1000000000000000",
            "payments": {"provider": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "model": "blyan-small", "chain_id": "c"}});
        let h = quota_help("http://gw", 429, &body, Some(&payments), Some(3_720));
        for want in [
            "used up",
            "resets in 1h 02m",
            "blyand tx inference open-channel 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed 5bly --duration-blocks 10000 --from KEY --wait",
            "blyand query inference channels YOUR_ADDRESS",
            "blyan-worker chat --url http://gw --channel ID",
        ] {
            assert!(h.contains(want), "{want:?} not in:\n{h}");
        }
        let none = json!({"accepts_vouchers": false, "payments": null});
        let h = quota_help("http://gw", 429, &body, Some(&none), None);
        assert!(h.contains("takes no payments"), "{h}");
        assert!(h.contains("blyand query inference providers"), "{h}");
    }
}

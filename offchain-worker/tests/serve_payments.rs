//! Paid requests through `VoucherBilling` with a fake chain (channels held in memory): exact
//! billing of the tokens produced (a dropped stream pays less), receipts, the redeemable
//! voucher never above the billed total, every refusal as a 402 with an OpenAI-style body
//! and no charge, per-block usage, and the book surviving a restart (a replayed voucher is
//! still refused).

mod serve_common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blyan_proto::inference::{usage_root, BlockUsage, ChannelInfo, SignedVoucher, Voucher};
use blyan_proto::{Address, SecretKey};
use blyan_worker::serve::payments::{voucher_header_value, ChannelSource, VOUCHER_HEADER};
use blyan_worker::serve::quote::{cost, Signer};
use blyan_worker::serve::{
    Billing, FreeTier, FreeTierConfig, GatewayConfig, PaymentsConfig, VoucherBilling,
};
use serde_json::{json, Value};
use serve_common::*;

const CHAIN: &str = "blyan-fake";
const PRICE: u128 = 1_000_000;

#[derive(Clone, Default)]
struct FakeChain {
    channels: Arc<Mutex<BTreeMap<u64, ChannelInfo>>>,
    height: Arc<AtomicU64>,
    lookups: Arc<AtomicU64>,
}

impl ChannelSource for FakeChain {
    fn channel(&self, id: u64) -> Result<Option<ChannelInfo>, String> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(self.channels.lock().unwrap().get(&id).cloned())
    }
    fn height(&self) -> Result<u64, String> {
        Ok(self.height.load(Ordering::SeqCst))
    }
}

fn channel(id: u64, user: Address, provider: Address, deposit: u128) -> ChannelInfo {
    ChannelInfo {
        id,
        user,
        provider,
        deposit,
        redeemed: 0,
        expires_at: 1_000,
        opened_at: 1,
        closed: false,
    }
}

fn billing(chain: &FakeChain, home: &std::path::Path, provider: Address) -> Arc<VoucherBilling> {
    let free = FreeTier::new(
        FreeTierConfig {
            hashcash: false,
            ..FreeTierConfig::default()
        },
        Arc::new(Signer::new(None)),
    );
    Arc::new(
        VoucherBilling::open(
            PaymentsConfig {
                chain_id: CHAIN.into(),
                provider,
                model: "blyan-tiny".into(),
                home: home.to_path_buf(),
                channel_ttl: Duration::ZERO,
                min_blocks_left: 5,
            },
            Box::new(chain.clone()),
            free,
        )
        .unwrap(),
    )
}

/// A voucher committing to the usage channel 1 has now (read from the gateway's book).
fn sign(key: &SecretKey, channel: u64, provider: Address, cumulative: u128) -> SignedVoucher {
    let root = USAGE_ROOT.with(|r| *r.borrow());
    sign_with(key, channel, provider, cumulative, "blyan-tiny", root)
}

fn sign_with(
    key: &SecretKey,
    channel: u64,
    provider: Address,
    cumulative: u128,
    model: &str,
    usage_root: [u8; 32],
) -> SignedVoucher {
    Voucher {
        channel,
        provider,
        cumulative,
        model: model.into(),
        usage_root,
    }
    .sign(CHAIN, key)
}

thread_local! {
    /// The usage root `sign` commits to (set by `refresh_root`).
    static USAGE_ROOT: std::cell::RefCell<[u8; 32]> = std::cell::RefCell::new(usage_root(&[]));
}

/// Reads channel 1's usage root from the gateway for the next `sign`.
fn refresh_root(g: &Gw) {
    let st = status(g, 1);
    let usage: Vec<BlockUsage> = serde_json::from_value(st["usage"].clone()).unwrap();
    let root = usage_root(&usage);
    assert_eq!(
        st["usage_root"].as_str().unwrap(),
        format!("0x{}", hex::encode(root))
    );
    USAGE_ROOT.with(|r| *r.borrow_mut() = root);
}

fn vh(v: &SignedVoucher) -> Vec<(&'static str, String)> {
    vec![(VOUCHER_HEADER, voucher_header_value(v))]
}

fn status(g: &Gw, id: u64) -> Value {
    let (s, _, b) = get(&g.url, &format!("/v1/blyan/channel/{id}"));
    assert_eq!(s, 200, "{b}");
    b
}

fn num(v: &Value) -> u128 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .parse()
        .unwrap()
}

fn quote(g: &Gw, body: &Value) -> (String, u128) {
    let (s, _, q) = post(&g.url, "/v1/quote", body, &[]);
    assert_eq!(s, 200, "{q}");
    (q["id"].as_str().unwrap().to_string(), num(&q["amount"]))
}

#[test]
fn vouchers_pay_for_exactly_the_tokens_produced_and_bad_ones_are_refused_without_charge() {
    let home = tempfile::tempdir().unwrap();
    let provider = SecretKey::from_seed("provider").address();
    let other_provider = SecretKey::from_seed("other provider").address();
    let user = SecretKey::from_seed("user");
    let stranger = SecretKey::from_seed("stranger");
    let chain = FakeChain::default();
    chain.height.store(10, Ordering::SeqCst);
    {
        let mut c = chain.channels.lock().unwrap();
        c.insert(1, channel(1, user.address(), provider, 1_000_000));
        c.insert(2, channel(2, user.address(), other_provider, 1_000_000));
        let mut near = channel(3, user.address(), provider, 1_000_000);
        near.expires_at = 12;
        c.insert(3, near);
    }
    let vb = billing(&chain, home.path(), provider);
    let g = Gw::start_with(
        GatewayConfig {
            price_per_1k: PRICE,
            ..base()
        },
        Some(vb.clone() as Arc<dyn Billing>),
    );
    let (s, _, info) = get(&g.url, "/v1/blyan/payments");
    assert_eq!(s, 200);
    assert_eq!(info["payments"]["provider"], provider.to_string());
    assert_eq!(info["payments"]["chain_id"], CHAIN);

    // A paid completion: billed exactly cost(total tokens), reported in x-blyan-billed.
    let body = chat_body("hello", 8, false);
    let (qid, amount) = quote(&g, &body);
    let v1 = sign(&user, 1, provider, amount);
    let mut h = vh(&v1);
    h.push(("x-blyan-quote", qid));
    let resp = ureq::post(&format!("{}/v1/chat/completions", g.url))
        .set(h[0].0, &h[0].1)
        .set(h[1].0, &h[1].1)
        .send_string(&body.to_string())
        .unwrap();
    let billed_hdr: u128 = resp.header("x-blyan-billed").unwrap().parse().unwrap();
    let r: Value = resp.into_json().unwrap();
    let total = r["usage"]["total_tokens"].as_u64().unwrap();
    let charged = cost(total, PRICE);
    assert_eq!(billed_hdr, charged);
    assert_eq!(num(&r["blyan"]["payment"]["charged"]), charged);
    assert_eq!(r["blyan"]["payment"]["kind"], "voucher");
    assert_eq!(r["blyan"]["payment"]["caller"], user.address().to_string());
    let st = status(&g, 1);
    assert_eq!(num(&st["billed"]), charged);
    assert_eq!(num(&st["in_flight"]), 0);
    // v1 covers the whole quote: redeemable only if every quoted token was produced.
    assert!(amount >= charged);
    let expect = if amount == charged { amount } else { 0 };
    assert_eq!(num(&st["redeemable"]), expect);

    // Refusals: 402 with an OpenAI-style error naming the reason; nothing billed.
    refresh_root(&g);
    let next = charged + amount;
    let mut bad_sig = sign(&user, 1, provider, next);
    bad_sig.sig[10] ^= 0x55;
    let cases: Vec<(SignedVoucher, &str)> = vec![
        (bad_sig, "voucher_bad_signature"),
        (sign(&stranger, 1, provider, next), "voucher_bad_signature"),
        (
            sign(&user, 1, other_provider, next),
            "voucher_wrong_provider",
        ),
        (sign(&user, 2, provider, next), "voucher_wrong_channel"),
        (sign(&user, 9, provider, next), "voucher_unknown_channel"),
        (v1.clone(), "voucher_replayed"),
        (sign(&user, 1, provider, 2_000_000), "voucher_above_deposit"),
        (
            sign(&user, 1, provider, charged + 1),
            "voucher_insufficient",
        ),
        (sign(&user, 3, provider, amount), "channel_expired"),
        (
            sign_with(&user, 1, provider, next, "another-model", usage_root(&[])),
            "voucher_wrong_model",
        ),
        (
            sign_with(&user, 1, provider, next, "blyan-tiny", [7; 32]),
            "voucher_usage_mismatch",
        ),
    ];
    for (v, code) in &cases {
        let (s, _, e) = post(&g.url, "/v1/chat/completions", &body, &vh(v));
        assert_eq!(s, 402, "{code}: {e}");
        assert_eq!(e["error"]["code"], *code, "{e}");
        assert_eq!(e["error"]["type"], "payment_error");
        assert!(e["error"]["message"].as_str().unwrap().len() > 20);
    }
    let (s, _, e) = post_raw(
        &g.url,
        "/v1/chat/completions",
        &body.to_string(),
        &[(VOUCHER_HEADER, "not a voucher".into())],
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (402, Some("voucher_malformed"))
    );
    // An expired quote is refused before any voucher is looked at.
    let (s, _, e) = post(
        &g.url,
        "/v1/chat/completions",
        &body,
        &[
            ("x-blyan-quote", "bq1.e30.00".into()),
            (
                VOUCHER_HEADER,
                voucher_header_value(&sign(&user, 1, provider, next)),
            ),
        ],
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_quote")),
        "{e}"
    );
    assert_eq!(
        num(&status(&g, 1)["billed"]),
        charged,
        "no charge for refusals"
    );

    // A streamed request dropped after 3 events pays only for what was produced.
    let long = chat_body("go", 400, true);
    let (_, amount2) = quote(&g, &long);
    let v2 = sign(&user, 1, provider, charged + amount2);
    let resp = ureq::post(&format!("{}/v1/chat/completions", g.url))
        .set(VOUCHER_HEADER, &voucher_header_value(&v2))
        .send_string(&long.to_string())
        .unwrap();
    let mut lines = BufReader::new(resp.into_reader()).lines();
    let mut seen = 0;
    while seen < 3 {
        if lines.next().unwrap().unwrap().starts_with("data: ") {
            seen += 1;
        }
    }
    drop(lines);
    let deadline = Instant::now() + Duration::from_secs(60);
    let st = loop {
        let st = status(&g, 1);
        if num(&st["in_flight"]) == 0 {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the dropped stream never settled"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let billed2 = num(&st["billed"]);
    let stream_charge = billed2 - charged;
    assert!(
        stream_charge > 0 && stream_charge < amount2,
        "{stream_charge} of {amount2}"
    );
    assert_eq!(g.gw.metrics.cancelled.get(), 1);
    // v1 (≤ billed now) is what would be redeemed; never more than billed.
    assert!(num(&st["redeemable"]) <= billed2);

    // A receipt for exactly the billed total makes it redeemable; posting it twice is a
    // replay.
    refresh_root(&g);
    let receipt = sign(&user, 1, provider, billed2);
    let (s, _, r) = post(&g.url, "/v1/blyan/voucher", &json!({}), &vh(&receipt));
    assert_eq!(s, 200, "{r}");
    assert_eq!(num(&r["redeemable"]), billed2);
    let (s, _, r) = post(&g.url, "/v1/blyan/voucher", &json!({}), &vh(&receipt));
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (402, Some("voucher_replayed"))
    );

    // Usage per block: dense blocks count every billed token, experts some of them.
    let book = vb.book_status();
    assert_eq!(book["channels"]["1"]["requests"], 2);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("payments.json")).unwrap()).unwrap();
    let usage = &saved["channels"]["1"]["usage"];
    let tokens = (billed2 * 1000 / PRICE) as u64; // PRICE / 1000 per token, exact here
    assert_eq!(usage["embed"], tokens, "{usage}");
    assert_eq!(usage["head"], tokens);
    assert_eq!(usage["layer0.router"], tokens);
    let experts: Vec<u64> = usage
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("expert"))
        .map(|(_, v)| v.as_u64().unwrap())
        .collect();
    assert!(
        !experts.is_empty() && experts.iter().all(|t| *t <= tokens),
        "{usage}"
    );

    // Requests without a voucher still get the free tier.
    let (s, _, r) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("x", 2, false),
        &[],
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["blyan"]["payment"]["kind"], "free_tier");

    // The book survives a restart: the receipt is still a replay; the lock keeps a second
    // opener out while the first is alive.
    let home2 = home.path().to_path_buf();
    let free = FreeTier::new(FreeTierConfig::default(), Arc::new(Signer::new(None)));
    let cfg = vb.config().clone();
    assert!(VoucherBilling::open(cfg.clone(), Box::new(chain.clone()), free).is_err());
    drop(g);
    drop(vb);
    let vb2 = billing(&chain, &home2, provider);
    let g2 = Gw::start_with(
        GatewayConfig {
            price_per_1k: PRICE,
            ..base()
        },
        Some(vb2 as Arc<dyn Billing>),
    );
    assert_eq!(num(&status(&g2, 1)["billed"]), billed2);
    assert_eq!(num(&status(&g2, 1)["redeemable"]), billed2);
    let (s, _, r) = post(&g2.url, "/v1/chat/completions", &body, &vh(&receipt));
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (402, Some("voucher_replayed"))
    );
}

#[test]
fn junk_vouchers_for_random_channels_cost_no_lookup_and_the_cache_stays_bounded() {
    use blyan_worker::serve::payments::MAX_CACHED_CHANNELS;
    use blyan_worker::serve::BillingRequest;
    let home = tempfile::tempdir().unwrap();
    let provider = SecretKey::from_seed("provider").address();
    let chain = FakeChain::default();
    chain.height.store(10, Ordering::SeqCst);
    let vb = billing(&chain, home.path(), provider);
    let quote = Signer::new(None)
        .issue_quote("blyan-tiny", 1, 1, PRICE, 60)
        .0;
    let attempt = |v: &SignedVoucher| {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(VOUCHER_HEADER, voucher_header_value(v).parse().unwrap());
        let req = BillingRequest {
            headers: &headers,
            peer: None,
            address: None,
        };
        match vb.authorize(&req, &quote) {
            Err(blyan_worker::serve::BillingError::Voucher { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    };
    // Random channel ids with signatures that do not recover (bad v, high s, garbage):
    // refused before the chain is asked.
    let user = SecretKey::from_seed("user");
    for i in 0..3_000u64 {
        let mut v = sign(
            &user,
            rand::random::<u64>() | 1 << 40,
            provider,
            1_000 + u128::from(i),
        );
        match i % 3 {
            0 => v.sig[64] = 9,
            1 => v.sig[32..64].copy_from_slice(&[0xff; 32]),
            _ => v.sig = [0; 65],
        }
        assert_eq!(attempt(&v), "voucher_bad_signature");
    }
    assert_eq!(chain.lookups.load(Ordering::SeqCst), 0, "no chain lookups");
    assert_eq!(vb.cached_channels(), 0);
    // Well-signed vouchers (any key) for random channels are looked up, but the cache
    // keeps at most MAX_CACHED_CHANNELS of them.
    let n = MAX_CACHED_CHANNELS as u64 + 500;
    for i in 0..n {
        let v = sign(&user, 1 << 41 | i, provider, 1_000);
        assert_eq!(attempt(&v), "voucher_unknown_channel");
    }
    assert_eq!(chain.lookups.load(Ordering::SeqCst), n);
    assert!(
        vb.cached_channels() <= MAX_CACHED_CHANNELS,
        "{} cached",
        vb.cached_channels()
    );
}

//! The free tier reads trust levels from the chain: a fake CometBFT RPC answers
//! `abci_query /pol/trust/{address}` with a SCALE `TrustInfo` (trusted for one address,
//! nothing for the rest), and the gateway gives the trusted caller, signed in with Ethereum,
//! the larger quota without a hashcash stamp, while a newbie still needs one. Naming the
//! trusted address as a bare bearer (the old impersonation) gets nothing: no trust lookup,
//! an anonymous newbie that must solve a stamp.

mod serve_common;

use base64::Engine as _;
use blyan_proto::pol::{TrustInfo, TrustLevel};
use blyan_worker::serve::{FreeTierConfig, GatewayConfig};
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use serve_common::*;

/// A JSON-RPC endpoint on a free port answering every abci_query; returns its URL.
fn fake_chain(
    rt: &tokio::runtime::Runtime,
    trusted_addr: String,
    lookups: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> String {
    let trusted = TrustInfo {
        level: TrustLevel::Trusted,
        ..TrustInfo::default()
    };
    let value = base64::engine::general_purpose::STANDARD.encode(trusted.encode());
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let value = value.clone();
            let trusted_addr = trusted_addr.clone();
            lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let req: Value = serde_json::from_str(&body).unwrap();
                let path = req["params"]["path"].as_str().unwrap().to_lowercase();
                assert!(path.starts_with("/pol/trust/"), "{path}");
                let v = if path.contains(&trusted_addr) { value } else { String::new() };
                axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {"response": {"code": 0, "log": "", "value": v}}}))
            }
        }),
    );
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    rt.spawn(async move { axum::serve(l, app).await });
    url
}

#[test]
fn trusted_callers_get_the_larger_quota_without_a_stamp() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let trusted = blyan_proto::SecretKey::from_seed("trusted caller");
    let newbie = blyan_proto::SecretKey::from_seed("newbie caller");
    let lookups = std::sync::Arc::new(AtomicU64::new(0));
    let chain = fake_chain(&rt, hex::encode(trusted.address().0), lookups.clone());
    let g = Gw::start(GatewayConfig {
        hashcash_bits: 6,
        free_tier: FreeTierConfig {
            newbie_per_day: 1,
            trusted_per_day: 3,
            chain_rpc: Some(chain),
            ..FreeTierConfig::default()
        },
        ..base()
    });
    let body = chat_body("t", 1, false);
    // The attack: a bare bearer naming the trusted address. No trust lookup, no quota: an
    // anonymous newbie, so a stamp is required.
    let claim = vec![("authorization", format!("Bearer {}", trusted.address()))];
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &claim);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("hashcash_required")),
        "{b}"
    );
    // a session token the gateway never issued
    let forged = vec![("authorization", "Bearer blyan_siwe_00ff".to_string())];
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &forged);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("invalid_session"))
    );
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        0,
        "no trust lookup for claims"
    );
    let h1 = session(&g.url, &trusted);
    for i in 0..3 {
        let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h1);
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["blyan"]["payment"]["remaining_today"], 2 - i);
    }
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h1);
    assert_eq!(s, 429, "{b}");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 requests a day for trusted"));
    let h2 = session(&g.url, &newbie);
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h2);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("hashcash_required"))
    );
    let mut h = h2.clone();
    h.push(("x-blyan-hashcash", g.stamp()));
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(
        (s, b["blyan"]["payment"]["remaining_today"].as_u64()),
        (200, Some(0))
    );
}

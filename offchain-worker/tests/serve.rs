//! The inference gateway end to end on loopback: a tiny model directory, the gateway
//! in-process on a free port, plain HTTP from the test (ureq).

mod serve_common;

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blyan_worker::model::{generate, GenerateOptions};
use blyan_worker::serve::{ExpertCache, GatewayConfig, ModelOrigin, ModelVersion};
use blyan_worker::source::{load_model, DirSource};
use candle_core::Device;
use serde_json::{json, Value};
use serve_common::*;

#[test]
fn completion_names_its_version_and_matches_the_plain_model() {
    let g = Gw::start(base());
    let (status, headers, body) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("hi", 24, false),
        &g.headers(ADDR1),
    );
    assert_eq!(status, 200, "{body}");
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let u = &body["usage"];
    let prompt = "user: hi\nassistant: ";
    assert_eq!(u["prompt_tokens"], json!(prompt.len() + 1));
    let n = u["completion_tokens"].as_u64().unwrap();
    assert!(n > 0 && n <= 24);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        prompt.len() as u64 + 1 + n
    );
    let fp = body["system_fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("fp_"));
    assert_eq!(headers, fp);
    assert_eq!(body["blyan"]["heads"].as_array().unwrap().len(), 14);
    assert_eq!(body["object"], "chat.completion");
    // the gateway's greedy reply is the plain fully loaded model's greedy generation
    let model = load_model(&DirSource::new(g.dir.path()), &Device::Cpu, |_, _, _| {}).unwrap();
    let opts = GenerateOptions {
        max_tokens: 24,
        temperature: 0.0,
        seed: 0,
    };
    let (want, _) = generate(&model, prompt, &opts).unwrap();
    assert_eq!(text, want);
    // models, health, blyan/model, metrics
    let (s, _, m) = get(&g.url, "/v1/models");
    assert_eq!((s, m["data"][0]["id"].as_str()), (200, Some("blyan-tiny")));
    let (s, _, info) = get(&g.url, "/v1/blyan/model");
    assert_eq!(s, 200);
    assert_eq!(info["model_version"], fp);
    let metrics = get_text(&g.url, "/metrics");
    for name in [
        "blyan_gateway_request_seconds_bucket",
        "blyan_gateway_tokens_generated_total",
        "blyan_gateway_tokens_per_second",
        "blyan_gateway_expert_cache_hits_total",
        "blyan_gateway_expert_cache_misses_total",
        "blyan_gateway_active_streams",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

#[test]
fn stream_is_sse_ending_with_done_and_equals_the_plain_reply() {
    let g = Gw::start(base());
    let (_, _, plain) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("abc", 20, false),
        &g.headers(ADDR1),
    );
    let resp = g.stream(ADDR1, &chat_body("abc", 20, true)).unwrap();
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let version = resp.header("x-blyan-model-version").unwrap().to_string();
    let events = read_events(resp);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"
            && c["system_fingerprint"] == version.as_str()));
    let last = chunks.last().unwrap();
    assert!(matches!(
        last["choices"][0]["finish_reason"].as_str(),
        Some("stop" | "length")
    ));
    assert_eq!(last["usage"], plain["usage"]);
}

#[test]
fn bad_requests_get_openai_error_bodies() {
    let g = Gw::start(GatewayConfig {
        max_tokens_limit: 100,
        ..base()
    });
    let h = g.headers(ADDR1);
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "invalid_json"),
        (
            json!({"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]}).to_string(),
            404,
            "model_not_found",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}).to_string(),
            400,
            "invalid_max_tokens",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1_000_000})
                .to_string(),
            400,
            "invalid_max_tokens",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": 9}).to_string(),
            400,
            "invalid_temperature",
        ),
        (json!({"messages": []}).to_string(), 400, "invalid_request"),
        (
            json!({"messages": "nope"}).to_string(),
            400,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let (s, version, b) = post_raw(&g.url, "/v1/chat/completions", &body, &h);
        assert_eq!(s, status, "{body}: {b}");
        assert_eq!(b["error"]["code"], code, "{body}: {b}");
        assert!(b["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(b["error"].get("type").is_some() && b["error"].get("param").is_some());
        assert!(version.starts_with("fp_"));
    }
    let (s, _, b) = get(&g.url, "/v1/nothing");
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("unknown_url")));
}

#[test]
fn free_tier_needs_hashcash_and_answers_429_over_quota() {
    let cfg = GatewayConfig {
        hashcash_bits: 6,
        free_tier: blyan_worker::serve::FreeTierConfig {
            newbie_per_day: 2,
            ..Default::default()
        },
        ..base()
    };
    let g = Gw::start(cfg);
    let body = chat_body("q", 1, false);
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &[]);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("hashcash_required"))
    );
    let stamp = g.stamp();
    for _ in 0..2 {
        let (s, _, b) = post(
            &g.url,
            "/v1/chat/completions",
            &body,
            &[("x-blyan-hashcash", g.stamp())],
        );
        assert_eq!(s, 200, "{b}");
    }
    let r = ureq::post(&format!("{}/v1/chat/completions", g.url))
        .set("x-blyan-hashcash", &stamp)
        .send_string(&body.to_string());
    let Err(ureq::Error::Status(429, r)) = r else {
        panic!("expected 429")
    };
    assert!(r.header("retry-after").is_some());
    let b: Value = r.into_json().unwrap();
    assert_eq!(b["error"]["code"], "free_quota_exceeded");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("POST /v1/quote") && msg.contains("voucher"),
        "{msg}"
    );
    // the 429 did not spend the stamp: a retry with the same headers (as the OpenAI SDK
    // does) is answered 429 again, not "replayed"
    let (s, _, b) = post(
        &g.url,
        "/v1/chat/completions",
        &body,
        &[("x-blyan-hashcash", stamp.clone())],
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("free_quota_exceeded"))
    );
    // another caller (signed in with Ethereum) has its own quota; the stamp refused over
    // quota is still good there, and a request refused as invalid spends neither its stamp
    // nor quota
    let mut h = session(&g.url, &blyan_proto::SecretKey::from_seed("caller 2"));
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("hashcash_required"))
    );
    h.push(("x-blyan-hashcash", stamp.clone()));
    let (s, _, b) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("q", 0, false),
        &h,
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_max_tokens"))
    );
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["blyan"]["payment"]["remaining_today"], 1);
    // once served, the stamp is spent: a replay is refused and counts nothing
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("invalid_hashcash"))
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already used")),
        "{b}"
    );
    h[1].1 = g.stamp();
    let (s, _, b) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["blyan"]["payment"]["remaining_today"], 0);
}

#[test]
fn quotes_price_requests_and_expire() {
    let g = Gw::start(GatewayConfig {
        quote_ttl_secs: 1,
        price_per_1k: 3_000,
        ..base()
    });
    let body = chat_body("hello", 10, false);
    let (s, _, q) = post(&g.url, "/v1/quote", &body, &[]);
    assert_eq!(s, 200, "{q}");
    let prompt = "user: hello\nassistant: ".len() as u64 + 1;
    assert_eq!(q["prompt_tokens"].as_u64(), Some(prompt));
    let want = ((prompt + 10) * 3_000).div_ceil(1000);
    assert_eq!(q["amount"].as_str(), Some(want.to_string().as_str()));
    let id = q["id"].as_str().unwrap().to_string();
    let mut h = g.headers(ADDR1);
    h.push(("x-blyan-quote", id.clone()));
    let (s, _, r) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["blyan"]["quote_id"].as_str(), Some(id.as_str()));
    // asking for more than quoted, or a forged quote
    let (s, _, r) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("hello", 11, false),
        &h,
    );
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (400, Some("quote_mismatch"))
    );
    let mut forged = h.clone();
    forged.last_mut().unwrap().1 = id.replace("bq1.", "bq1.x");
    let (s, _, r) = post(&g.url, "/v1/chat/completions", &body, &forged);
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (400, Some("invalid_quote"))
    );
    std::thread::sleep(Duration::from_millis(2_100));
    let (s, _, r) = post(&g.url, "/v1/chat/completions", &body, &h);
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (400, Some("quote_expired")),
        "{r}"
    );
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("POST /v1/quote"));
}

#[test]
fn capped_expert_cache_generates_the_same_tokens() {
    let dir = tiny_model_dir(7);
    let snap = || {
        ModelOrigin::Dir(dir.path().to_path_buf())
            .snapshot()
            .unwrap()
    };
    let full = ModelVersion::load(
        snap(),
        Arc::new(ExpertCache::new(usize::MAX).unwrap()),
        &Device::Cpu,
    )
    .unwrap();
    let total = full.expert_bytes as usize;
    let one = total / 8;
    // room for 3 of the 8 experts (each layer's top-2 alone needs 2)
    let capped = ModelVersion::load(
        snap(),
        Arc::new(ExpertCache::new(one * 3).unwrap()),
        &Device::Cpu,
    )
    .unwrap();
    let model = load_model(&DirSource::new(dir.path()), &Device::Cpu, |_, _, _| {}).unwrap();
    let opts = blyan_worker::serve::engine::SampleOptions {
        max_tokens: 40,
        temperature: 0.0,
        top_p: 1.0,
        seed: 1,
    };
    for prompt in ["user: hi\nassistant: ", "12+7=", "the quick brown fox"] {
        let ctx = blyan_worker::serve::engine::prompt_ids(prompt);
        let (a, _) =
            blyan_worker::serve::engine::run(&capped, ctx.clone(), &opts, |_| true).unwrap();
        let (b, _) = blyan_worker::serve::engine::run(&full, ctx, &opts, |_| true).unwrap();
        let (_, c) = generate(
            &model,
            prompt,
            &GenerateOptions {
                max_tokens: 40,
                temperature: 0.0,
                seed: 0,
            },
        )
        .unwrap();
        assert_eq!(a, b, "{prompt}");
        assert_eq!(a, c, "{prompt}");
    }
    let s = capped.cache().stats();
    assert!(s.bytes <= one * 3, "{s:?}");
    assert!(
        s.misses > 8 && s.evictions > 0,
        "the capped cache must miss and evict: {s:?}"
    );
    // Each pass sweeps the experts in order: plain LRU with room for 3 of 8 (almost) never
    // hits; the sweep-resistant eviction keeps 2 of them from pass to pass.
    assert!(s.hit_rate() >= 0.2, "the capped cache thrashes: {s:?}");
    let f = full.cache().stats();
    assert!(f.misses <= 8 && f.evictions == 0, "{f:?}");
    eprintln!(
        "capped: {s:?} hit rate {:.2}; full: {f:?} hit rate {:.2}",
        s.hit_rate(),
        f.hit_rate()
    );
}

#[test]
fn hot_reload_serves_the_new_version_while_an_open_stream_finishes_on_the_old() {
    let g = Gw::start(GatewayConfig {
        poll: Some(Duration::from_millis(200)),
        max_tokens_limit: 4000,
        cache_bytes: 0,
        ..base()
    });
    let old = g.gw.handle.current().fingerprint.clone();
    // a long stream, not read until the new version is live (it blocks on backpressure)
    let resp = g.stream(ADDR1, &json!({"messages": [{"role": "user", "content": "go"}], "max_tokens": 4000, "temperature": 0, "stream": true})).unwrap();
    let mut lines = BufReader::new(resp.into_reader()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&old));
    let new = write_new_version(g.dir.path(), 99);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v, b) = get(&g.url, "/health");
        if b["model_version"] == new.as_str() {
            assert_eq!(v, new);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never picked up {new}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(old, new);
    assert!(
        g.gw.metrics.active_streams.get() >= 1,
        "the old stream must still be running"
    );
    let (s, v, b) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("x", 4, false),
        &g.headers(ADDR2),
    );
    assert_eq!(
        (s, v.as_str(), b["system_fingerprint"].as_str()),
        (200, new.as_str(), Some(new.as_str()))
    );
    let mut n = 0;
    let mut done = false;
    for line in lines {
        let line = line.unwrap();
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            break;
        }
        let c: Value = serde_json::from_str(data).unwrap();
        assert_eq!(c["system_fingerprint"], old.as_str());
        n += 1;
    }
    assert!(done && n > 1);
    assert_eq!(g.gw.metrics.reloads.get(), 1);
}

/// A billing that records what it settles (and allows everything).
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<usize>>);

impl blyan_worker::serve::Billing for Recorder {
    fn authorize(
        &self,
        _req: &blyan_worker::serve::BillingRequest<'_>,
        quote: &blyan_worker::serve::quote::Quote,
    ) -> Result<blyan_worker::serve::Authorization, blyan_worker::serve::BillingError> {
        Ok(blyan_worker::serve::Authorization {
            caller: "test".into(),
            payment: blyan_worker::serve::billing::Payment::Free {
                level: Default::default(),
                remaining: 0,
            },
            quote: quote.clone(),
        })
    }

    fn settle(
        &self,
        _auth: &blyan_worker::serve::Authorization,
        usage: &blyan_worker::serve::api::Usage,
        _blocks: &blyan_worker::serve::BlockTokens,
    ) -> blyan_worker::serve::Settlement {
        self.0.lock().unwrap().push(usage.completion_tokens);
        Default::default()
    }
}

#[test]
fn a_dropped_stream_stops_generation_and_settles_the_tokens_produced() {
    let rec = Arc::new(Recorder::default());
    let g = Gw::start_with(
        GatewayConfig {
            max_tokens_limit: 4000,
            cache_bytes: 0,
            ..base()
        },
        Some(rec.clone()),
    );
    let resp = g
        .stream(ADDR1, &json!({"messages": [{"role": "user", "content": "go"}], "max_tokens": 4000, "temperature": 0, "stream": true}))
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
    while rec.0.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "generation never stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let settled = rec.0.lock().unwrap()[0];
    let generated = g.gw.metrics.tokens_generated.get() as usize;
    assert_eq!(settled, generated);
    assert!((2..4000).contains(&settled), "settled {settled}");
    assert_eq!(g.gw.metrics.cancelled.get(), 1);
    assert_eq!(g.gw.metrics.active_streams.get(), 0);
}

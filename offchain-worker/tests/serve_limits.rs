//! Streaming slowloris: clients that open a stream over raw TCP on loopback and never read.
//! The send timeout drops them, so their generation permit is freed and other callers are
//! served; one caller cannot run more than `max_per_caller` generations at once (429).

mod serve_common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use blyan_proto::SecretKey;
use blyan_worker::serve::GatewayConfig;
use serde_json::json;
use serve_common::*;

/// Opens a streamed completion over raw TCP with a tiny receive buffer, sends the request
/// and never reads the answer. Its reply (greedy; the tiny model stops after about 3,900
/// tokens, some 1 MB of events) is more than the gateway's buffers (its HTTP write buffer
/// and a small socket send buffer) hold, so the gateway's sends block.
fn never_reading_stream(url: &str, headers: &[(&str, String)]) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut s: TcpStream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(1024).unwrap();
        let stream = sock.connect(addr.parse().unwrap()).await.unwrap();
        let std = stream.into_std().unwrap();
        std.set_nonblocking(false).unwrap();
        std
    });
    let body = json!({"messages": [{"role": "user", "content": "the quick brown fox"}], "max_tokens": 4000, "temperature": 0, "stream": true}).to_string();
    let mut req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    s
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_that_never_reads_is_dropped_and_frees_its_permit() {
    let g = Gw::start_with_send_buffer(
        GatewayConfig {
            max_concurrency: 1,
            max_tokens_limit: 4000,
            send_timeout: Duration::from_secs(1),
            ..base()
        },
        4096,
    );
    // the attacker (anonymous) holds the only permit with a stream it never reads
    let _attacker = never_reading_stream(&g.url, &[]);
    wait_until("the stream to start", 60, || {
        g.gw.metrics.active_streams.get() == 1
    });
    // another caller is served once the stalled stream is dropped (before the fix it
    // waited forever: the permit was held by a blocked send)
    let other = session(&g.url, &SecretKey::from_seed("other caller"));
    let started = Instant::now();
    let r = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
        .post(&format!("{}/v1/chat/completions", g.url))
        .set(other[0].0, &other[0].1)
        .send_string(&chat_body("hi", 4, false).to_string())
        .expect("the other caller must be served");
    assert_eq!(r.status(), 200);
    eprintln!(
        "tokens {} cancelled {} stalled {} after {:?}",
        g.gw.metrics.tokens_generated.get(),
        g.gw.metrics.cancelled.get(),
        g.gw.metrics.stalled.get(),
        started.elapsed()
    );
    assert_eq!(
        g.gw.metrics.stalled.get(),
        1,
        "the stalled stream was dropped"
    );
    wait_until("the permit to be free", 30, || {
        g.gw.metrics.active_streams.get() == 0
    });
    eprintln!(
        "served after {:?}; stalled streams dropped: {}",
        started.elapsed(),
        g.gw.metrics.stalled.get()
    );
}

#[test]
fn one_caller_cannot_hold_more_than_its_share_of_generations() {
    let g = Gw::start_with_send_buffer(
        GatewayConfig {
            max_concurrency: 4,
            max_per_caller: 2,
            max_tokens_limit: 4000,
            send_timeout: Duration::from_secs(60),
            ..base()
        },
        4096,
    );
    let me = session(&g.url, &SecretKey::from_seed("greedy"));
    let _a = never_reading_stream(&g.url, &me);
    let _b = never_reading_stream(&g.url, &me);
    wait_until("two streams", 60, || g.gw.metrics.active_streams.get() == 2);
    let (s, _, b) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("x", 2, false),
        &me,
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("too_many_concurrent_requests")),
        "{b}"
    );
    // other callers still get the free permits
    let (s, _, b) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("x", 2, false),
        &[],
    );
    assert_eq!(s, 200, "{b}");
    let other = session(&g.url, &SecretKey::from_seed("modest"));
    let (s, _, b) = post(
        &g.url,
        "/v1/chat/completions",
        &chat_body("x", 2, false),
        &other,
    );
    assert_eq!(s, 200, "{b}");
}

#[test]
fn a_stream_ends_at_its_deadline() {
    let g = Gw::start(GatewayConfig {
        max_tokens_limit: 4000,
        stream_deadline: Duration::from_millis(300),
        ..base()
    });
    let started = Instant::now();
    let body = json!({"messages": [{"role": "user", "content": "the quick brown fox"}], "max_tokens": 4000, "temperature": 0, "stream": true});
    let resp = ureq::post(&format!("{}/v1/chat/completions", g.url))
        .send_string(&body.to_string())
        .unwrap();
    let events = read_events(resp);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let produced = g.gw.metrics.tokens_generated.get();
    // unbounded, this reply is about 3,900 tokens
    assert!(produced < 3_000, "{produced} tokens after the deadline");
    assert_eq!(g.gw.metrics.cancelled.get(), 1);
    wait_until("the permit to be free", 30, || {
        g.gw.metrics.active_streams.get() == 0
    });
    eprintln!("stopped after {produced} tokens, {:?}", started.elapsed());
}

//! `POST /v1/chat/completions`: validate, quote, authorize, then generate on the blocking
//! pool (at most `max_concurrency` at once), either collected into one response or streamed
//! as server-sent events (`data: {chunk}` lines, then `data: [DONE]`).
//!
//! A client that goes away stops generation: for a stream, the event channel closes when
//! the response body is dropped; for a plain request, a guard owned by the handler future
//! raises a cancel flag when that future is dropped. Either way the tokens actually produced
//! are counted, and that is what [`super::Billing::settle`] receives.
//!
//! A client that stops reading is treated as gone: each event must be taken within
//! `send_timeout`, and no generation runs past `stream_deadline`, so the generation permit
//! and the caller's slot are freed. One caller runs at most `max_per_caller` generations at
//! once (more: 429 `too_many_concurrent_requests`); the caller is the signed-in address or
//! the client IP, checked before billing, and for paid requests also the channel's user.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use blyan_proto::pol::TrustLevel;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::wrappers::ReceiverStream;

use super::api::{
    blyan_object, version_header, ApiError, ChatRequest, Usage, BILLED_HEADER, VERSION_HEADER,
};
use super::billing::{Authorization, BillingRequest, Payment, Settlement};
use super::engine::{self, BlockTally, Finish};
use super::handlers::{parse_json, prepare, request_quote, Prepared};
use super::limits::CallerSlot;
use super::metrics::ActiveGuard;
use super::quote::{cost, now_secs};
use super::version::ModelVersion;
use super::Gateway;
use crate::model::Utf8Stream;

/// One admitted request.
struct Job {
    _slots: Vec<CallerSlot>,
    deadline: Instant,
    gw: Arc<Gateway>,
    version: Arc<ModelVersion>,
    p: Prepared,
    auth: Authorization,
    quote_id: String,
    id: String,
    created: u64,
    start: Instant,
}

/// What a finished generation produced.
struct Outcome {
    text: String,
    usage: Usage,
    finish: Finish,
    error: Option<String>,
    settled: Settlement,
}

impl Job {
    /// The `blyan` object of this request's responses (`done`: the usage and settlement of
    /// a finished request).
    fn blyan(&self, done: Option<(&Usage, &Settlement)>) -> Value {
        let mut b = blyan_object(&self.version);
        b["quote_id"] = json!(self.quote_id);
        b["quote_amount"] = json!(self.auth.quote.amount.to_string());
        b["price_per_1k_tokens"] = json!(self.auth.quote.price_per_1k.to_string());
        b["payment"] = match &self.auth.payment {
            Payment::Free { remaining, level } => {
                let level = match level {
                    TrustLevel::Newbie => "newbie",
                    TrustLevel::Trusted => "trusted",
                };
                json!({"kind": "free_tier", "caller": self.auth.caller, "level": level, "remaining_today": remaining})
            }
            Payment::Voucher {
                channel,
                cumulative,
                billed_before,
            } => json!({
                "kind": "voucher", "caller": self.auth.caller, "channel": channel,
                "voucher_cumulative": cumulative.to_string(),
                "billed_before": billed_before.to_string(),
            }),
        };
        if let Some((u, s)) = done {
            b["cost"] =
                json!(cost(u.total_tokens as u64, self.auth.quote.price_per_1k).to_string());
            b["payment"]["charged"] = json!(s.charged.to_string());
            if let Some(t) = s.billed_total {
                b["payment"]["billed_total"] = json!(t.to_string());
            }
        }
        b
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, done: Option<&Outcome>) -> String {
        let usage = done.map(|o| &o.usage);
        let choices = if delta.is_null() {
            json!([])
        } else {
            json!([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}])
        };
        let mut c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.gw.cfg.model_name, "system_fingerprint": self.version.fingerprint,
            "choices": choices, "usage": usage,
        });
        // the first and the last chunks carry the heads; the others only the fingerprint
        if usage.is_some() || delta.get("role").is_some() {
            c["blyan"] = self.blyan(done.map(|o| (&o.usage, &o.settled)));
        }
        c.to_string()
    }

    /// Runs generation (blocking), calling `emit(text)` with each complete UTF-8 piece until
    /// it returns false or `cancel` is raised; records metrics and settles billing.
    fn run(&self, cancel: &AtomicBool, mut emit: impl FnMut(&str) -> bool) -> Outcome {
        let m = &self.gw.metrics;
        let _active = ActiveGuard::new(&m.active_streams);
        let gen_start = Instant::now();
        let mut produced = 0usize;
        let mut utf8 = Utf8Stream::new();
        let mut text = String::new();
        let mut tally = BlockTally::default();
        let ctx = self.p.ctx.clone();
        let result = engine::run_tallied(&self.version, ctx, &self.p.opts, &mut tally, |id| {
            if produced == 0 {
                m.first_token_seconds
                    .observe(self.start.elapsed().as_secs_f64());
            }
            produced += 1;
            let piece = utf8.push(id);
            text.push_str(&piece);
            !cancel.load(Ordering::Relaxed)
                && Instant::now() < self.deadline
                && (piece.is_empty() || emit(&piece))
        });
        let (finish, error) = match result {
            Ok((_, f)) => (f, None),
            Err(e) => (Finish::Cancelled, Some(e.to_string())),
        };
        if finish != Finish::Cancelled {
            let rest = utf8.finish();
            if !rest.is_empty() {
                text.push_str(&rest);
                emit(&rest);
            }
        } else if error.is_none() {
            m.cancelled.inc();
        }
        let secs = gen_start.elapsed().as_secs_f64();
        m.tokens_generated.inc_by(produced as u64);
        if produced > 0 && secs > 0.0 {
            m.tokens_per_second.set(produced as f64 / secs);
        }
        let usage = Usage::new(self.p.ctx.len(), produced);
        let blocks = tally.blocks(self.version.model().config(), usage.total_tokens as u64);
        let settled = self.gw.billing.settle(&self.auth, &usage, &blocks);
        tracing::info!(id = %self.id, caller = %self.auth.caller, version = %self.version.fingerprint, tokens = produced, finish = finish.reason(), secs, charged = %settled.charged, "generation done");
        Outcome {
            text,
            usage,
            finish,
            error,
            settled,
        }
    }
}

/// Raises a flag when dropped (the handler future was dropped: the client went away).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn too_many(max: usize, caller: &str) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "too_many_concurrent_requests",
        format!("{caller} already runs {max} generations at once on this gateway; wait for one to finish"),
    )
}

/// The handler.
pub(super) async fn completions(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let req: ChatRequest = parse_json(&body)?;
    let p = prepare(&gw, &req)?;
    let (quote, quote_id) = request_quote(&gw, &headers, &p)?;
    let session = gw.siwe.authenticate(&headers)?;
    let address = session.map(|s| s.address);
    // The caller as known before billing (signed-in address, else IP): its slot is taken
    // first, so a refused request spends no stamp and no quota.
    let pre_caller = address.map_or_else(|| format!("ip:{}", peer.ip()), |a| a.to_string());
    let max = gw.callers.max();
    let mut slots = vec![gw
        .callers
        .try_acquire(&pre_caller)
        .ok_or_else(|| too_many(max, &pre_caller))?];
    let billing = gw.billing.clone();
    let auth = tokio::task::spawn_blocking(move || {
        billing.authorize(
            &BillingRequest {
                headers: &headers,
                peer: Some(peer),
                address,
            },
            &quote,
        )
    })
    .await
    .map_err(|e| ApiError::internal(format!("billing task: {e}")))??;
    if auth.caller != pre_caller {
        // a paid request: the channel's user is a caller too
        match gw.callers.try_acquire(&auth.caller) {
            Some(s) => slots.push(s),
            None => {
                // release the reservation: nothing was produced
                gw.billing
                    .settle(&auth, &Usage::new(0, 0), &Default::default());
                return Err(too_many(max, &auth.caller));
            }
        }
    }
    let permit = gw
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("the gateway is shutting down"))?;
    let job = Job {
        _slots: slots,
        deadline: Instant::now() + gw.cfg.stream_deadline,
        version: gw.handle.current(),
        gw,
        p,
        auth,
        quote_id,
        id: format!("chatcmpl-{:016x}", rand::random::<u64>()),
        created: now_secs(),
        start,
    };
    if job.p.stream {
        Ok(stream(job, permit))
    } else {
        complete(job, permit).await
    }
}

async fn complete(job: Job, permit: OwnedSemaphorePermit) -> Result<Response, ApiError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let job = Arc::new(job);
    let j = job.clone();
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        j.run(&cancel, |_| true)
    })
    .await
    .map_err(|e| ApiError::internal(format!("generation task: {e}")))?;
    if let Some(e) = out.error {
        return Err(ApiError::internal(format!("generation failed: {e}")));
    }
    let body = json!({
        "id": job.id, "object": "chat.completion", "created": job.created,
        "model": job.gw.cfg.model_name, "system_fingerprint": job.version.fingerprint,
        "choices": [{
            "index": 0, "message": {"role": "assistant", "content": out.text},
            "finish_reason": out.finish.reason(), "logprobs": null,
        }],
        "usage": out.usage, "blyan": job.blyan(Some((&out.usage, &out.settled))),
    });
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(VERSION_HEADER, version_header(&job.version));
    if let Some(t) = out.settled.billed_total {
        if let Ok(v) = HeaderValue::from_str(&t.to_string()) {
            resp.headers_mut().insert(BILLED_HEADER, v);
        }
    }
    Ok(resp)
}

fn stream(job: Job, permit: OwnedSemaphorePermit) -> Response {
    // a small buffer: a client that stops reading is noticed soon
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    let version = job.version.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let gone = AtomicBool::new(false);
        // Each event must be taken within the send timeout, else the client counts as gone:
        // generation stops and the permit is freed. (The deadline stops generation itself,
        // see `Job::run`.)
        let send = |data: String| {
            if gone.load(Ordering::Relaxed) {
                return false;
            }
            let wait = job.gw.cfg.send_timeout;
            let ev = Event::default().data(data);
            let ok = matches!(
                rt.block_on(tokio::time::timeout(wait, tx.send(ev))),
                Ok(Ok(()))
            );
            if !ok {
                gone.store(true, Ordering::Relaxed);
                if !tx.is_closed() {
                    job.gw.metrics.stalled.inc();
                    tracing::info!(id = %job.id, caller = %job.auth.caller, "client stopped reading; stream dropped");
                }
            }
            ok
        };
        if !send(job.chunk(json!({"role": "assistant", "content": ""}), None, None)) {
            return;
        }
        let never = AtomicBool::new(false);
        let out = job.run(&never, |piece| {
            send(job.chunk(json!({"content": piece}), None, None))
        });
        if let Some(e) = &out.error {
            let err = ApiError::internal(format!("generation failed: {e}"));
            send(err.body().to_string());
        } else if out.finish != Finish::Cancelled {
            send(job.chunk(json!({}), Some(out.finish.reason()), Some(&out)));
            if job.p.include_usage {
                send(job.chunk(Value::Null, None, Some(&out)));
            }
        }
        send("[DONE]".to_string());
        job.gw
            .metrics
            .request_seconds
            .with_label_values(&["/v1/chat/completions", "200"])
            .observe(job.start.elapsed().as_secs_f64());
    });
    let events = ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    resp.headers_mut()
        .insert(VERSION_HEADER, version_header(&version));
    resp
}

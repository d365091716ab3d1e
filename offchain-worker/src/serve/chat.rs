//! `POST /v1/chat/completions`: validate, quote, authorize, then generate on the blocking
//! pool (at most `max_concurrency` at once), either collected into one response or streamed
//! as server-sent events (`data: {chunk}` lines, then `data: [DONE]`).
//!
//! A client that goes away stops generation: for a stream, the event channel closes when
//! the response body is dropped; for a plain request, a guard owned by the handler future
//! raises a cancel flag when that future is dropped. Either way the tokens actually produced
//! are counted, and that is what [`super::Billing::settle`] receives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::wrappers::ReceiverStream;

use super::api::{
    blyan_object, version_header, ApiError, ChatRequest, Usage, BILLED_HEADER, VERSION_HEADER,
};
use super::billing::{Authorization, BillingRequest, Payment, Settlement};
use super::engine::{self, BlockTally, Finish, Utf8Stream};
use super::handlers::{parse_json, prepare, request_quote, Prepared};
use super::metrics::ActiveGuard;
use super::quote::{cost, now_secs};
use super::version::ModelVersion;
use super::Gateway;

/// One admitted request.
struct Job {
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
            Payment::Free { remaining, .. } => {
                json!({"kind": "free_tier", "caller": self.auth.caller, "remaining_today": remaining})
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
        let mut utf8 = Utf8Stream::default();
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
            !cancel.load(Ordering::Relaxed) && (piece.is_empty() || emit(&piece))
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
    let billing = gw.billing.clone();
    let auth = tokio::task::spawn_blocking(move || {
        billing.authorize(
            &BillingRequest {
                headers: &headers,
                peer: Some(peer),
            },
            &quote,
        )
    })
    .await
    .map_err(|e| ApiError::internal(format!("billing task: {e}")))??;
    let permit = gw
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("the gateway is shutting down"))?;
    let job = Job {
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
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(256);
    let version = job.version.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let send = |data: String| tx.blocking_send(Event::default().data(data)).is_ok();
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

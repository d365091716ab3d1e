//! The router, the small endpoints, request validation and the version/latency middleware.
//! Chat completions are in [`super::chat`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::api::{blyan_object, version_header, ApiError, ChatRequest, VERSION_HEADER};
use super::engine::{chat_prompt, prompt_ids, SampleOptions, TemplateMessage};
use super::quote::{now_secs, Quote, TokenError};
use super::siwe::SiweError;
use super::Gateway;

/// The chat page.
const PAGE: &str = include_str!("page.html");

/// The router of every endpoint.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/blyan/model", get(blyan_model))
        .route("/v1/challenge", get(challenge))
        .route("/v1/auth/nonce", get(auth_nonce).post(auth_nonce))
        .route("/v1/auth/siwe", post(auth_siwe))
        .route("/v1/quote", post(quote))
        .route("/v1/chat/completions", post(super::chat::completions))
        .route("/v1/blyan/payments", get(payments))
        .route("/v1/blyan/channel/{id}", get(channel))
        .route("/v1/blyan/voucher", post(voucher))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(gw.clone(), stamp_version))
        .with_state(gw)
}

/// Adds the version header (unless the handler set the one its stream started with) and
/// records the latency of non-streamed responses.
async fn stamp_version(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key(VERSION_HEADER) {
        let v = version_header(&gw.handle.current());
        resp.headers_mut().insert(VERSION_HEADER, v);
    }
    let streamed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streamed {
        let known = matches!(
            path.as_str(),
            "/" | "/health"
                | "/metrics"
                | "/v1/models"
                | "/v1/blyan/model"
                | "/v1/challenge"
                | "/v1/auth/nonce"
                | "/v1/auth/siwe"
                | "/v1/quote"
                | "/v1/chat/completions"
                | "/v1/blyan/payments"
                | "/v1/blyan/voucher"
        );
        let label = if known { path.as_str() } else { "other" };
        gw.metrics
            .request_seconds
            .with_label_values(&[label, resp.status().as_str()])
            .observe(start.elapsed().as_secs_f64());
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "unknown_url",
        "no such endpoint; see GET /v1/models, POST /v1/chat/completions, POST /v1/quote",
    )
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let v = gw.handle.current();
    Json(json!({"status": "ok", "model": gw.cfg.model_name, "model_version": v.fingerprint}))
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.metrics.render(&gw.cache),
    )
}

async fn models(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let v = gw.handle.current();
    Json(json!({
        "object": "list",
        "data": [{
            "id": gw.cfg.model_name, "object": "model", "created": v.loaded_at,
            "owned_by": "blyan", "blyan": blyan_object(&v),
        }],
    }))
}

async fn blyan_model(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let v = gw.handle.current();
    let stats = gw.cache.stats();
    Json(json!({
        "model": gw.cfg.model_name,
        "model_version": v.fingerprint,
        "heads": v.heads,
        "loss_micro": v.loss_micro,
        "loss_nats": v.loss_micro.map(|l| l as f64 / 1e6),
        "loaded_at": v.loaded_at,
        "config": v.model().config(),
        "price_per_1k_tokens": gw.cfg.price_per_1k.to_string(),
        "max_tokens_limit": gw.cfg.max_tokens_limit,
        "hashcash_bits": gw.cfg.hashcash_bits,
        "expert_cache": {
            "capacity_bytes": stats.capacity, "bytes": stats.bytes, "entries": stats.entries,
            "hits": stats.hits, "misses": stats.misses, "evictions": stats.evictions,
            "expert_bytes_total": v.expert_bytes,
        },
    }))
}

async fn payments(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let info = gw.billing.payment_info();
    Json(json!({
        "accepts_vouchers": !info.is_null(),
        "price_per_1k_tokens": gw.cfg.price_per_1k.to_string(),
        "payments": info,
    }))
}

async fn channel(
    State(gw): State<Arc<Gateway>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: u64 = id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_channel",
            None,
            format!("{id:?} is not a channel id"),
        )
    })?;
    let billing = gw.billing.clone();
    let s = tokio::task::spawn_blocking(move || billing.channel_status(id))
        .await
        .map_err(|e| ApiError::internal(format!("billing task: {e}")))??;
    Ok(Json(s))
}

/// `POST /v1/blyan/voucher`: a receipt voucher (see [`super::payments`]).
async fn voucher(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let billing = gw.billing.clone();
    let s = tokio::task::spawn_blocking(move || billing.deposit_voucher(&headers))
        .await
        .map_err(|e| ApiError::internal(format!("billing task: {e}")))??;
    Ok(Json(s))
}

impl From<SiweError> for ApiError {
    fn from(e: SiweError) -> Self {
        let code = match e {
            SiweError::Malformed(_) => "invalid_siwe_message",
            SiweError::Mismatch(_) => "siwe_mismatch",
            SiweError::BadNonce(_) => "invalid_siwe_nonce",
            SiweError::BadSignature(_) => "invalid_siwe_signature",
            SiweError::BadSession => "invalid_session",
        };
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            code,
            e.to_string(),
        )
    }
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// `GET|POST /v1/auth/nonce`: a Sign-In with Ethereum nonce and the message to sign.
async fn auth_nonce(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Json<Value> {
    let (nonce, expires_at) = gw.siwe.issue_nonce();
    let domain = gw.siwe.domain(host(&headers));
    let cfg = gw.siwe.config();
    let uri = format!("http://{domain}");
    let message = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{{address}}\n\n{}\n\nURI: {uri}\nVersion: 1\nChain ID: {}\nNonce: {nonce}\nIssued At: {{issued_at}}\nExpiration Time: {{expiration_time}}",
        cfg.statement, cfg.chain_id
    );
    Json(json!({
        "nonce": nonce, "expires_at": expires_at, "domain": domain, "uri": uri,
        "chain_id": cfg.chain_id, "statement": cfg.statement, "version": "1",
        "message": message,
        "rule": "fill in {address} (EIP-55), {issued_at} and {expiration_time} (RFC 3339, UTC), sign with personal_sign (EIP-191), POST {message, signature} to /v1/auth/siwe; send the token as Authorization: Bearer {token}",
    }))
}

/// `POST /v1/auth/siwe`: `{message, signature}` → a session token.
async fn auth_siwe(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(serde::Deserialize)]
    struct SignIn {
        message: String,
        signature: String,
    }
    let req: SignIn = parse_json(&body)?;
    let (token, session) = gw
        .siwe
        .sign_in(&req.message, &req.signature, host(&headers))?;
    Ok(Json(json!({
        "token": token, "token_type": "Bearer", "address": session.address.to_string(),
        "expires_at": session.expires_at,
    })))
}

async fn challenge(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let bits = gw.cfg.hashcash_bits;
    let (c, expires_at) = gw.signer.issue_challenge(bits, gw.cfg.challenge_ttl_secs);
    Json(json!({
        "challenge": c, "bits": bits, "expires_at": expires_at, "algorithm": "sha3-256",
        "header": "x-blyan-hashcash",
        "rule": "find a decimal nonce such that sha3-256(challenge + \":\" + nonce) starts with `bits` zero bits; send x-blyan-hashcash: {challenge}:{nonce} (one request per challenge)",
    }))
}

/// A validated request.
pub(super) struct Prepared {
    pub ctx: Vec<u32>,
    pub opts: SampleOptions,
    pub stream: bool,
    pub include_usage: bool,
}

/// Parses a JSON body into `T`, with OpenAI-style errors.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if serde_json::from_slice::<Value>(body).is_ok() {
            "invalid_request"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, None, format!("could not parse the request body: {e}"))
    })
}

/// Checks a request against the config and builds its context and sampling options.
pub(super) fn prepare(gw: &Gateway, req: &ChatRequest) -> Result<Prepared, ApiError> {
    if let Some(m) = &req.model {
        if *m != gw.cfg.model_name {
            return Err(ApiError {
                param: Some("model"),
                ..ApiError::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    "model_not_found",
                    format!(
                        "the model `{m}` does not exist; this gateway serves `{}`",
                        gw.cfg.model_name
                    ),
                )
            });
        }
    }
    if req.messages.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            Some("messages"),
            "messages must not be empty",
        ));
    }
    let limit = gw.cfg.max_tokens_limit;
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    let max_tokens = match max_tokens {
        None => gw.cfg.default_max_tokens.min(limit),
        Some(n) if n >= 1 && (n as u64) <= limit as u64 => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_max_tokens",
                Some("max_tokens"),
                format!("max_tokens is {n}; it must be between 1 and {limit}"),
            ))
        }
    };
    let temperature = req.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad_request(
            "invalid_temperature",
            Some("temperature"),
            format!("temperature is {temperature}; it must be between 0 and 2"),
        ));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::bad_request(
            "invalid_top_p",
            Some("top_p"),
            format!("top_p is {top_p}; it must be in (0, 1]"),
        ));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_request(
            "invalid_n",
            Some("n"),
            "only n = 1 is supported",
        ));
    }
    let mut texts = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" => "tool",
            other => {
                return Err(ApiError::bad_request(
                    "invalid_role",
                    Some("messages"),
                    format!("unknown role {other:?}"),
                ))
            }
        };
        let text = m
            .text()
            .map_err(|e| ApiError::bad_request("invalid_content", Some("messages"), e))?;
        texts.push((role, text));
    }
    let msgs: Vec<TemplateMessage<'_>> = texts
        .iter()
        .map(|(role, content)| TemplateMessage { role, content })
        .collect();
    let prompt = chat_prompt(&msgs);
    if prompt.len() > gw.cfg.max_prompt_bytes {
        return Err(ApiError::bad_request(
            "context_length_exceeded",
            Some("messages"),
            format!(
                "the prompt is {} bytes; at most {} are accepted",
                prompt.len(),
                gw.cfg.max_prompt_bytes
            ),
        ));
    }
    Ok(Prepared {
        ctx: prompt_ids(&prompt),
        opts: SampleOptions {
            max_tokens,
            temperature,
            top_p,
            seed: req.seed.unwrap_or_else(rand::random),
        },
        stream: req.stream,
        include_usage: req.stream_options.as_ref().is_some_and(|o| o.include_usage),
    })
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let code = match e {
            TokenError::Expired { .. } => "quote_expired",
            _ => "invalid_quote",
        };
        ApiError::bad_request(code, None, e.to_string())
    }
}

/// The quote a request runs under: the one in `x-blyan-quote` (checked: genuine, not
/// expired, for this model, covering this request), or a fresh one.
pub(super) fn request_quote(
    gw: &Gateway,
    headers: &HeaderMap,
    p: &Prepared,
) -> Result<(Quote, String), ApiError> {
    let prompt = p.ctx.len() as u64;
    let max = p.opts.max_tokens as u64;
    let Some(id) = headers.get("x-blyan-quote") else {
        return Ok(gw.signer.issue_quote(
            &gw.cfg.model_name,
            prompt,
            max,
            gw.cfg.price_per_1k,
            gw.cfg.quote_ttl_secs,
        ));
    };
    let id = id
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid_quote", None, "x-blyan-quote is not text"))?;
    let q = gw.signer.check_quote(id)?;
    if q.model != gw.cfg.model_name || q.prompt_tokens < prompt || q.max_tokens < max {
        return Err(ApiError::bad_request(
            "quote_mismatch",
            None,
            format!(
                "the quote covers {} prompt + {} new tokens of `{}`; this request needs {prompt} + {max} of `{}`",
                q.prompt_tokens, q.max_tokens, q.model, gw.cfg.model_name
            ),
        ));
    }
    Ok((q, id.to_string()))
}

async fn quote(State(gw): State<Arc<Gateway>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: ChatRequest = parse_json(&body)?;
    let p = prepare(&gw, &req)?;
    let (q, id) = gw.signer.issue_quote(
        &gw.cfg.model_name,
        p.ctx.len() as u64,
        p.opts.max_tokens as u64,
        gw.cfg.price_per_1k,
        gw.cfg.quote_ttl_secs,
    );
    let v = gw.handle.current();
    Ok(Json(json!({
        "id": id, "object": "blyan.quote", "model": q.model,
        "prompt_tokens": q.prompt_tokens, "max_tokens": q.max_tokens,
        "price_per_1k_tokens": q.price_per_1k.to_string(), "amount": q.amount.to_string(),
        "currency": "base units (1 BLY = 10^18)",
        "created": now_secs(), "expires_at": q.expires_at, "ttl_secs": gw.cfg.quote_ttl_secs,
        "system_fingerprint": v.fingerprint, "blyan": blyan_object(&v),
    })))
}

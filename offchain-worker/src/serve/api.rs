//! The OpenAI wire shapes the gateway speaks (requests, responses, stream chunks, error
//! bodies), plus the `blyan` object every response carries.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::version::{HeadRef, ModelVersion};

/// Response header naming the model version (the fingerprint of the head block ids).
pub const VERSION_HEADER: &str = "x-blyan-model-version";

/// Response header of a paid, non-streamed completion: the channel's billed total after
/// it, base units (a stream carries it in its last chunk, `blyan.payment.billed_total`).
pub const BILLED_HEADER: &str = "x-blyan-billed";

/// A chat message. `content` may be a string or OpenAI's array of `{type: "text", text}`
/// parts (text parts are concatenated).
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool` (or `developer`, treated as `system`).
    pub role: String,
    /// The text.
    #[serde(default)]
    pub content: Value,
}

impl ChatMessage {
    /// The message's text.
    pub fn text(&self) -> Result<String, String> {
        match &self.content {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Array(parts) => parts
                .iter()
                .map(
                    |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                        (Some("text"), Some(Value::String(t))) => Ok(t.clone()),
                        _ => Err("only text content parts are supported".to_string()),
                    },
                )
                .collect(),
            _ => Err("content must be a string or an array of text parts".into()),
        }
    }
}

/// Options of a streamed response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and no choices.
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /v1/chat/completions` (and `/v1/quote`) body. Unknown fields are ignored, as
/// OpenAI clients send many.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Model id (default: the served model).
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Most new tokens (bytes).
    #[serde(default)]
    pub max_tokens: Option<i64>,
    /// OpenAI's newer name for `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// Temperature in [0, 2]; 0 is greedy.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus mass in (0, 1].
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Sampler seed (random when absent).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Choices wanted (only 1 is supported).
    #[serde(default)]
    pub n: Option<u32>,
    /// Stream as server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Stream options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Usage {
    /// Context tokens (BOS + prompt bytes).
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Their sum.
    pub total_tokens: usize,
}

impl Usage {
    /// Usage of `prompt` + `completion` tokens.
    pub fn new(prompt: usize, completion: usize) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// The `blyan` object of a response: which version produced it.
pub fn blyan_object(v: &ModelVersion) -> Value {
    json!({
        "model_version": v.fingerprint,
        "heads": v.heads.iter().map(|h: &HeadRef| json!({"block": h.block, "id": h.id, "version": h.version})).collect::<Vec<_>>(),
        "loss_micro": v.loss_micro,
    })
}

/// The version header value of `v`.
pub fn version_header(v: &ModelVersion) -> HeaderValue {
    HeaderValue::from_str(&v.fingerprint).unwrap_or(HeaderValue::from_static("unknown"))
}

/// An OpenAI-style error: `{"error": {"message", "type", "param", "code"}}` with a status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// `invalid_request_error`, `not_found_error`, `rate_limit_error`, …
    pub kind: &'static str,
    /// The offending parameter.
    pub param: Option<&'static str>,
    /// Machine-readable code.
    pub code: &'static str,
    /// Extra headers (e.g. `retry-after`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn bad_request(
        code: &'static str,
        param: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code,
            headers: Vec::new(),
        }
    }

    /// An error with any status.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
            headers: Vec::new(),
        }
    }

    /// A 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            message,
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                r.headers_mut().insert(*k, v);
            }
        }
        r
    }
}

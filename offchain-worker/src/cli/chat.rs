//! `blyan-worker chat`: streams a reply from a gateway to the terminal. Free requests solve
//! the gateway's hashcash challenge first; `--address` identifies the caller (its on-chain
//! trust level sets the free quota).

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use blyan_worker::serve::quote::solve_challenge;
use clap::Args;
use serde_json::{json, Value};

/// Arguments of `chat`.
#[derive(Args)]
pub struct ChatArgs {
    /// The gateway, e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "BLYAN_GATEWAY")]
    url: String,
    /// Most bytes to generate.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Sampler seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Caller address (`Authorization: Bearer 0x…`).
    #[arg(long)]
    address: Option<String>,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// The message (default: read from stdin).
    prompt: Vec<String>,
}

fn api_error(e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, r) => {
            let body: Value = r.into_json().unwrap_or(Value::Null);
            let msg = body["error"]["message"]
                .as_str()
                .unwrap_or("(no message)")
                .to_string();
            anyhow::anyhow!("HTTP {code}: {msg}")
        }
        e => anyhow::anyhow!(e),
    }
}

/// Runs `chat`.
pub fn chat(a: ChatArgs) -> Result<()> {
    let prompt = if a.prompt.is_empty() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the prompt from stdin")?;
        s.trim_end().to_string()
    } else {
        a.prompt.join(" ")
    };
    if prompt.is_empty() {
        bail!("empty prompt");
    }
    let base = a.url.trim_end_matches('/');
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .build();
    let mut messages = Vec::new();
    if let Some(s) = &a.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let mut body = json!({
        "messages": messages, "max_tokens": a.max_tokens,
        "temperature": a.temperature, "stream": true,
    });
    if let Some(s) = a.seed {
        body["seed"] = json!(s);
    }
    let quote: Value = agent
        .post(&format!("{base}/v1/quote"))
        .send_json(body.clone())
        .map_err(api_error)?
        .into_json()?;
    let mut req = agent
        .post(&format!("{base}/v1/chat/completions"))
        .set("x-blyan-quote", quote["id"].as_str().unwrap_or_default());
    if let Some(addr) = &a.address {
        req = req.set("authorization", &format!("Bearer {addr}"));
    }
    let ch: Value = agent
        .get(&format!("{base}/v1/challenge"))
        .call()
        .map_err(api_error)?
        .into_json()?;
    let bits = ch["bits"].as_u64().unwrap_or(0) as u32;
    if bits > 0 {
        let c = ch["challenge"].as_str().unwrap_or_default();
        req = req.set("x-blyan-hashcash", &solve_challenge(c, bits));
    }
    let start = Instant::now();
    let resp = req.send_json(body).map_err(api_error)?;
    let version = resp
        .header("x-blyan-model-version")
        .unwrap_or("?")
        .to_string();
    let mut out = std::io::stdout().lock();
    let mut first: Option<Duration> = None;
    let mut usage = Value::Null;
    let mut cost = Value::Null;
    for line in BufReader::new(resp.into_reader()).lines() {
        let line = line.context("reading the stream")?;
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let c: Value = serde_json::from_str(data).context("bad chunk")?;
        if let Some(m) = c["error"]["message"].as_str() {
            bail!("gateway error mid-stream: {m}");
        }
        if let Some(piece) = c["choices"][0]["delta"]["content"].as_str() {
            if !piece.is_empty() {
                first.get_or_insert_with(|| start.elapsed());
                out.write_all(piece.as_bytes())?;
                out.flush()?;
            }
        }
        if !c["usage"].is_null() {
            usage = c["usage"].clone();
            cost = c["blyan"]["cost"].clone();
        }
    }
    writeln!(out)?;
    let secs = start.elapsed().as_secs_f64();
    let n = usage["completion_tokens"].as_u64().unwrap_or(0);
    eprintln!(
        "[{n} tokens in {secs:.2}s, {:.1} tokens/s, first token after {:.0} ms; model version {version}; cost {} base units (quoted at most {})]",
        n as f64 / secs.max(1e-9),
        first.unwrap_or_default().as_secs_f64() * 1e3,
        cost.as_str().unwrap_or("?"),
        quote["amount"].as_str().unwrap_or("?"),
    );
    Ok(())
}

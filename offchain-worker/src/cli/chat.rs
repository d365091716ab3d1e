//! `blyan-worker chat`: streams a reply from a gateway to the terminal. Free requests solve
//! the gateway's hashcash challenge first (unless the signed-in caller is trusted);
//! `--sign-in` signs in with the key options (Sign-In with Ethereum: the caller's on-chain
//! trust level then sets its free quota), else the caller is anonymous.
//!
//! With `--channel ID` the request is paid from that payment channel with the user key
//! (`--key-hex`/`BLYAN_WORKER_KEY` or `--keystore`): the client asks `POST /v1/quote`,
//! reads the channel's billed and in-flight totals from `GET /v1/blyan/channel/{id}`, signs
//! `cumulative = billed + in flight + quote amount` for the gateway's model and the
//! channel's usage as listed there (`usage_root`), and streams. When the stream ends it
//! signs a receipt for exactly the billed total the last chunk reports, over the usage as it
//! now stands, and posts it to `POST /v1/blyan/voucher`, so the provider can redeem exactly
//! what was used.
//!
//! Without `--channel` the request is on the gateway's free tier: the reply is followed by
//! how many free requests are left today, and a used-up quota is explained with the commands
//! that open a payment channel ([`super::chat_free`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use blyan_proto::inference::{usage_root, BlockUsage, Voucher};
use blyan_proto::{Address, SecretKey};
use blyan_worker::serve::payments::{voucher_header_value, VOUCHER_HEADER};
use blyan_worker::serve::quote::{now_secs, solve_challenge};
use blyan_worker::serve::siwe::{format_rfc3339, personal_sign, SiweMessage};
use clap::Args;

use super::chat_free;
use super::miner::KeyArgs;
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
    /// Sign in with the key (`--key-hex`/`BLYAN_WORKER_KEY` or `--keystore`) through
    /// Sign-In with Ethereum and send the session as the bearer.
    #[arg(long)]
    sign_in: bool,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// Pay from this payment channel (signs vouchers with the key options).
    #[arg(long)]
    channel: Option<u64>,
    /// With `--channel`: do not post a receipt voucher after the stream.
    #[arg(long)]
    no_receipt: bool,
    #[command(flatten)]
    key: KeyArgs,
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
    if a.sign_in {
        let token = sign_in(&agent, base, &a.key.load()?)?;
        req = req.set("authorization", &format!("Bearer {token}"));
    }
    let payer = match a.channel {
        Some(channel) => {
            let p = Payer::new(&agent, base, channel, a.key.load()?)?;
            let amount: u128 = quote["amount"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .context("the quote has no amount")?;
            let status = p.status(&agent)?;
            let cumulative = u128_field(&status, "next_voucher_min")? + amount;
            eprintln!(
                "[channel {channel}: billed {}, signing a voucher for {cumulative} (quote {amount})]",
                status["billed"].as_str().unwrap_or("?")
            );
            req = req.set(VOUCHER_HEADER, &p.voucher(cumulative, &status)?);
            Some((p, cumulative))
        }
        None => {
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
            None
        }
    };
    let start = Instant::now();
    let resp = match req.send_json(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) if payer.is_none() => {
            let retry_after = r.header("retry-after").and_then(|v| v.parse().ok());
            let err: Value = r.into_json().unwrap_or(Value::Null);
            if chat_free::is_quota_refusal(code, &err) {
                let payments: Option<Value> = agent
                    .get(&format!("{base}/v1/blyan/payments"))
                    .call()
                    .ok()
                    .and_then(|r| r.into_json().ok());
                bail!(
                    "{}",
                    chat_free::quota_help(base, code, &err, payments.as_ref(), retry_after)
                );
            }
            let msg = err["error"]["message"].as_str().unwrap_or("(no message)");
            bail!("HTTP {code}: {msg}");
        }
        Err(e) => return Err(api_error(e)),
    };
    let version = resp
        .header("x-blyan-model-version")
        .unwrap_or("?")
        .to_string();
    let mut out = std::io::stdout().lock();
    let mut first: Option<Duration> = None;
    let mut usage = Value::Null;
    let mut cost = Value::Null;
    let mut payment = Value::Null;
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
            payment = c["blyan"]["payment"].clone();
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
    if let Some(note) = chat_free::free_tier_note(&payment) {
        eprintln!("{note}");
    }
    if let Some((p, voucher_cumulative)) = payer {
        let billed = u128_field(&payment, "billed_total")?;
        eprintln!(
            "[channel {}: charged {}, billed total {billed}]",
            p.channel,
            payment["charged"].as_str().unwrap_or("?")
        );
        if !a.no_receipt {
            // the receipt commits to the usage as it stands now, this request included
            let status = p.status(&agent)?;
            let r = agent
                .post(&format!("{base}/v1/blyan/voucher"))
                .set(VOUCHER_HEADER, &p.voucher(billed, &status)?)
                .call();
            match r {
                Ok(_) => eprintln!("[receipt for {billed} sent]"),
                // the voucher sent with the request was for exactly the billed total
                Err(ureq::Error::Status(402, _)) if billed == voucher_cumulative => {
                    eprintln!("[receipt for {billed}: the request's voucher already is one]")
                }
                Err(e) => return Err(api_error(e)),
            }
        }
    }
    Ok(())
}

/// Signs in at `base` with `key` (Sign-In with Ethereum); returns the session token.
fn sign_in(agent: &ureq::Agent, base: &str, key: &SecretKey) -> Result<String> {
    let n: Value = agent
        .get(&format!("{base}/v1/auth/nonce"))
        .call()
        .map_err(api_error)?
        .into_json()?;
    let now = now_secs();
    let m = SiweMessage {
        domain: n["domain"].as_str().unwrap_or_default().to_string(),
        address: key.address(),
        statement: n["statement"].as_str().map(str::to_string),
        uri: n["uri"].as_str().unwrap_or_default().to_string(),
        chain_id: n["chain_id"].as_u64().unwrap_or(1),
        nonce: n["nonce"].as_str().unwrap_or_default().to_string(),
        issued_at: format_rfc3339(now),
        expiration_time: format_rfc3339(now + 3600),
    };
    let text = m.text();
    let r: Value = agent
        .post(&format!("{base}/v1/auth/siwe"))
        .send_json(json!({"message": text, "signature": personal_sign(key, &text)}))
        .map_err(api_error)?
        .into_json()?;
    let token = r["token"].as_str().context("no session token")?;
    eprintln!("[signed in as {}]", key.address());
    Ok(token.to_string())
}

/// Signs vouchers for one channel.
struct Payer {
    base: String,
    channel: u64,
    provider: Address,
    chain_id: String,
    model: String,
    key: SecretKey,
}

impl Payer {
    fn new(agent: &ureq::Agent, base: &str, channel: u64, key: SecretKey) -> Result<Self> {
        let info: Value = agent
            .get(&format!("{base}/v1/blyan/payments"))
            .call()
            .map_err(api_error)?
            .into_json()?;
        let p = &info["payments"];
        if p.is_null() {
            bail!("this gateway takes no vouchers");
        }
        let provider: Address = p["provider"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e| anyhow::anyhow!("the gateway's provider address: {e:?}"))?;
        Ok(Self {
            base: base.to_string(),
            channel,
            provider,
            chain_id: p["chain_id"].as_str().unwrap_or_default().to_string(),
            model: p["model"].as_str().unwrap_or_default().to_string(),
            key,
        })
    }

    fn status(&self, agent: &ureq::Agent) -> Result<Value> {
        let s: Value = agent
            .get(&format!("{}/v1/blyan/channel/{}", self.base, self.channel))
            .call()
            .map_err(api_error)?
            .into_json()?;
        if s["user"].as_str() != Some(self.key.address().to_string().as_str()) {
            bail!(
                "channel {} belongs to {}, not this key's {}",
                self.channel,
                s["user"],
                self.key.address()
            );
        }
        Ok(s)
    }

    /// A voucher for `cumulative` committing to the usage in the channel's `status`: the
    /// root is recomputed from the listed usage, so the key signs what it was shown.
    fn voucher(&self, cumulative: u128, status: &Value) -> Result<String> {
        let usage: Vec<BlockUsage> = serde_json::from_value(status["usage"].clone())
            .with_context(|| format!("no usage in the channel status {status}"))?;
        let root = usage_root(&usage);
        if status["usage_root"].as_str() != Some(format!("0x{}", hex::encode(root)).as_str()) {
            bail!("the gateway's usage_root does not match its usage list: {status}");
        }
        let v = Voucher {
            channel: self.channel,
            provider: self.provider,
            cumulative,
            model: self.model.clone(),
            usage_root: root,
        }
        .sign(&self.chain_id, &self.key);
        Ok(voucher_header_value(&v))
    }
}

fn u128_field(v: &Value, key: &str) -> Result<u128> {
    v[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no {key} in {v}"))
}

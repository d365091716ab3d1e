//! Paid inference end to end (issue 7 acceptance): a one-validator net with the tiny
//! genesis model on Kubo, `blyan-worker serve` in chain mode taking vouchers as provider
//! dev1, user dev2 with a payment channel. 50 paid requests (non-streamed, streamed, one
//! stream dropped midway, two through `blyan-worker chat --channel`) are billed for exactly
//! the tokens produced; bad vouchers (bad signature, another provider, another provider's
//! channel, replayed) and an expired quote get OpenAI-style errors and cost nothing. The
//! gateway is killed, `blyan-worker redeem` redeems the billed total, and balances move
//! exactly as the split says (provider share minus its fee, the contributors' share to the
//! model owner dev0, the rest burned). Redeeming the same voucher again is refused with
//! 511 and a voucher above the deposit with 512. The restarted gateway still refuses the
//! replayed voucher and goes on taking new ones.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use blyan_proto::inference::{usage_root, BlockUsage, SignedVoucher, Voucher};
use blyan_proto::{Address, SecretKey, BLY};
use blyan_tests::kubo::KuboNode;
use blyan_tests::ports::free_port_block;
use blyan_tests::process::ProcSpec;
use blyan_tests::txs::{attr_u128, balance, events};
use blyan_tests::worker::{tiny_genesis_model, worker_bin};
use blyan_tests::{wait_for, Localnet, LocalnetOptions};
use blyan_worker::serve::payments::{voucher_header_value, VOUCHER_HEADER};
use serde_json::{json, Value};

const MODEL: &str = "blyan-tiny";
/// 0.001 BLY per 1,000 tokens: 10^12 base units a token.
const PRICE: u128 = BLY / 1000;
const DEPOSIT: u128 = BLY;

fn num(v: &Value) -> u128 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
        Value::Number(n) => u128::from(n.as_u64().unwrap()),
        _ => panic!("not a number: {v}"),
    }
}

fn cost(tokens: u64) -> u128 {
    (u128::from(tokens) * PRICE).div_ceil(1000)
}

/// Runs a `blyand tx …` with `--wait --output json`; returns its JSON whatever the code.
fn tx(net: &Localnet, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--wait", "--output", "json"]);
    let out = net.cli(&all);
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap_or_else(|e| {
        panic!(
            "blyand {}: {e}\n{}\n{}",
            all.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ok(v: Value) -> Value {
    assert_eq!(v["code"], 0, "{v}");
    v
}

struct Client {
    url: String,
    chain_id: String,
    channel: u64,
    provider: Address,
    key: SecretKey,
}

impl Client {
    fn sign(&self, cumulative: u128) -> SignedVoucher {
        self.sign_for(self.channel, self.provider, cumulative, &self.key)
    }

    fn sign_for(
        &self,
        channel: u64,
        provider: Address,
        cumulative: u128,
        key: &SecretKey,
    ) -> SignedVoucher {
        // commit to the channel's usage as the gateway lists it (the root recomputed here)
        let usage: Vec<BlockUsage> =
            serde_json::from_value(self.status()["usage"].clone()).unwrap();
        self.sign_with_root(channel, provider, cumulative, key, usage_root(&usage))
    }

    fn sign_with_root(
        &self,
        channel: u64,
        provider: Address,
        cumulative: u128,
        key: &SecretKey,
        usage_root: [u8; 32],
    ) -> SignedVoucher {
        Voucher {
            channel,
            provider,
            cumulative,
            model: MODEL.into(),
            usage_root,
        }
        .sign(&self.chain_id, key)
    }

    fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_json()
            .unwrap()
    }

    fn status(&self) -> Value {
        self.get(&format!("/v1/blyan/channel/{}", self.channel))
    }

    fn quote(&self, body: &Value) -> (String, u128) {
        let q: Value = ureq::post(&format!("{}/v1/quote", self.url))
            .send_json(body.clone())
            .unwrap()
            .into_json()
            .unwrap();
        (q["id"].as_str().unwrap().to_string(), num(&q["amount"]))
    }

    /// Posts a completion with optional voucher and quote headers: (status, body, billed
    /// header).
    fn post(
        &self,
        body: &Value,
        voucher: Option<&SignedVoucher>,
        quote: Option<&str>,
    ) -> (u16, Value, Option<u128>) {
        let mut req = ureq::post(&format!("{}/v1/chat/completions", self.url));
        if let Some(v) = voucher {
            req = req.set(VOUCHER_HEADER, &voucher_header_value(v));
        }
        if let Some(q) = quote {
            req = req.set("x-blyan-quote", q);
        }
        let r = match req.send_json(body.clone()) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let status = r.status();
        let billed = r.header("x-blyan-billed").map(|b| b.parse().unwrap());
        (status, r.into_json().unwrap(), billed)
    }
}

fn body(i: usize, max_tokens: u64, stream: bool) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": format!("request {i}: tell me something")}],
        "max_tokens": max_tokens, "temperature": 0.8, "seed": i, "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

#[test]
fn paid_requests_are_billed_per_token_and_redeemed_with_the_exact_split() {
    let started = Instant::now();
    let worker = worker_bin().expect("blyan-worker");
    let dir = tempfile::tempdir().unwrap();
    let mut kubos = blyan_tests::Processes::new();
    let p = free_port_block(4).unwrap();
    let kubo = KuboNode::start(&mut kubos, &dir.path().join("kubo"), p, p + 1, p + 2).unwrap();
    let gw_port = p + 3;
    let gm = tiny_genesis_model(dir.path(), &kubo.api_url(), MODEL, 11).unwrap();
    let mut opts = LocalnetOptions::new(1);
    opts.models = vec![gm];
    let mut net = Localnet::start_with(opts);
    let rpc = net.node(0).rpc_url.clone();
    let owner = net.dev_accounts()[0].address;
    let provider = net.dev_accounts()[1].clone();
    let user = net.dev_accounts()[2].clone();
    let other = net.dev_accounts()[3].clone();
    assert_ne!(
        net.operator(0),
        owner,
        "the model owner is not the fee-earning validator"
    );
    let (kp, ku, ko) = (
        net.import_dev_key(1),
        net.import_dev_key(2),
        net.import_dev_key(3),
    );
    let url = format!("http://127.0.0.1:{gw_port}");
    let price = PRICE.to_string();

    // Providers register; the user opens a channel to dev1 and one to dev3.
    for k in [&kp, &ko] {
        ok(tx(
            &net,
            &[
                "tx",
                "inference",
                "register-provider",
                "--endpoint",
                &url,
                "--models",
                MODEL,
                "--price-per-1k",
                &price,
                "--from",
                k,
            ],
        ));
    }
    let open = |net: &Localnet, to: &Address| {
        ok(tx(
            net,
            &[
                "tx",
                "inference",
                "open-channel",
                &to.to_string(),
                &DEPOSIT.to_string(),
                "--duration-blocks",
                "5000",
                "--from",
                &ku,
            ],
        ))
    };
    open(&net, &provider.address);
    open(&net, &other.address);
    let chans = net.cli_json(&["query", "inference", "channels", &user.address.to_string()]);
    let chans = chans["result"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{chans}"));
    let find = |prov: &Address| {
        chans
            .iter()
            .find(|c| c["provider"] == prov.to_string())
            .map(|c| c["id"].as_u64().unwrap())
            .unwrap()
    };
    let (channel, other_channel) = (find(&provider.address), find(&other.address));
    let user_balance0 = balance(net.rpc(0), user.address, 0).unwrap();

    // The gateway in chain mode, taking vouchers as dev1.
    let home = dir.path().join("gateway");
    let gw_spec = ProcSpec::new(
        &worker,
        [
            "serve",
            "--chain",
            &rpc,
            "--model-id",
            MODEL,
            "--ipfs",
            &kubo.api_url(),
            "--cache",
            &dir.path().join("blocks").to_string_lossy(),
            "--listen",
            &format!("127.0.0.1:{gw_port}"),
            "--poll-secs",
            "0",
            "--hashcash-bits",
            "0",
            "--price-per-1k",
            &price,
            "--quote-ttl-secs",
            "4",
            "--max-tokens-limit",
            "400",
            "--home",
            &home.to_string_lossy(),
            "--quote-key",
            &"ab".repeat(32),
        ]
        .map(String::from),
        dir.path().join("gateway.log"),
    )
    .env("BLYAN_WORKER_KEY", &provider.private_key_hex)
    .env("RUST_LOG", "info");
    net.processes().spawn("gateway", gw_spec).unwrap();
    let c = Client {
        url: url.clone(),
        chain_id: net.chain_id().to_string(),
        channel,
        provider: provider.address,
        key: net.dev_key(2),
    };
    wait_for("the gateway", Duration::from_secs(120), || {
        ureq::get(&format!("{url}/health")).call().ok().map(|_| ())
    });
    let info = c.get("/v1/blyan/payments");
    assert_eq!(info["payments"]["provider"], provider.address.to_string());
    assert_eq!(info["payments"]["chain_id"], net.chain_id());
    let model = c.get("/v1/blyan/model");
    assert!(model["heads"].as_array().unwrap().len() > 5, "{model}");

    // 50 paid requests. The client signs billed + quote each time.
    let mut billed: u128 = 0;
    let mut produced_total: u128 = 0;
    let mut streamed = 0;
    let mut cancelled_charge = 0;
    for i in 0..50 {
        if i == 20 || i == 40 {
            // through the CLI (it signs from the key, streams, then posts a receipt)
            let out = std::process::Command::new(&worker)
                .args([
                    "chat",
                    "--url",
                    &url,
                    "--channel",
                    &channel.to_string(),
                    "--max-tokens",
                    "8",
                    "--seed",
                    "5",
                    "say hi",
                ])
                .env("BLYAN_WORKER_KEY", &user.private_key_hex)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "chat: {err}");
            assert!(err.contains("receipt for"), "{err}");
            let now = num(&c.status()["billed"]);
            assert!(
                now > billed && now - billed <= cost(8 + 40),
                "{billed} -> {now}"
            );
            produced_total += now - billed;
            billed = now;
            continue;
        }
        let stream = i % 3 == 0;
        let cancel = i == 9;
        let max = if cancel { 300 } else { 4 + (i as u64 % 9) };
        let b = body(i, max, stream);
        let (qid, amount) = c.quote(&b);
        let v = c.sign(billed + amount);
        if !stream {
            let (s, r, hdr) = c.post(&b, Some(&v), Some(&qid));
            assert_eq!(s, 200, "{r}");
            let charge = cost(r["usage"]["total_tokens"].as_u64().unwrap());
            assert_eq!(num(&r["blyan"]["payment"]["charged"]), charge);
            billed += charge;
            produced_total += charge;
            assert_eq!(hdr, Some(billed), "x-blyan-billed");
            continue;
        }
        streamed += 1;
        let resp = ureq::post(&format!("{url}/v1/chat/completions"))
            .set(VOUCHER_HEADER, &voucher_header_value(&v))
            .set("x-blyan-quote", &qid)
            .send_json(b)
            .unwrap();
        let mut lines = BufReader::new(resp.into_reader()).lines();
        if cancel {
            let mut seen = 0;
            while seen < 4 {
                if lines.next().unwrap().unwrap().starts_with("data: ") {
                    seen += 1;
                }
            }
            drop(lines);
            let st = wait_for(
                "the dropped stream to settle",
                Duration::from_secs(60),
                || {
                    let st = c.status();
                    (num(&st["in_flight"]) == 0).then_some(st)
                },
            );
            let now = num(&st["billed"]);
            cancelled_charge = now - billed;
            assert!(
                cancelled_charge > 0 && cancelled_charge < amount,
                "the dropped stream pays {cancelled_charge} of its {amount} quote"
            );
            produced_total += cancelled_charge;
            billed = now;
            continue;
        }
        let mut last = Value::Null;
        for l in lines {
            let l = l.unwrap();
            if let Some(d) = l.strip_prefix("data: ") {
                if d != "[DONE]" {
                    let ch: Value = serde_json::from_str(d).unwrap();
                    if !ch["usage"].is_null() {
                        last = ch;
                    }
                }
            }
        }
        let charge = cost(last["usage"]["total_tokens"].as_u64().unwrap());
        billed += charge;
        produced_total += charge;
        assert_eq!(
            num(&last["blyan"]["payment"]["billed_total"]),
            billed,
            "{last}"
        );
    }
    assert!(streamed >= 15);
    let st = c.status();
    assert_eq!(num(&st["billed"]), billed);
    assert_eq!(billed, produced_total);
    assert_eq!(st["requests"], 50);

    // Refusals: OpenAI-style bodies, nothing billed.
    let b = body(99, 6, false);
    let (qid, amount) = c.quote(&b);
    let good = billed + amount;
    let mut bad_sig = c.sign(good);
    bad_sig.sig[7] ^= 0x20;
    let dev3 = net.dev_key(3);
    let cases = [
        (bad_sig, "voucher_bad_signature"),
        (
            c.sign_for(channel, provider.address, good, &dev3),
            "voucher_bad_signature",
        ),
        (
            c.sign_for(channel, other.address, good, &c.key),
            "voucher_wrong_provider",
        ),
        (
            c.sign_for(other_channel, provider.address, good, &c.key),
            "voucher_wrong_channel",
        ),
        (c.sign(billed + 1), "voucher_insufficient"),
        (c.sign(DEPOSIT + 1), "voucher_above_deposit"),
    ];
    for (v, code) in &cases {
        let (s, e, _) = c.post(&b, Some(v), Some(&qid));
        assert_eq!(s, 402, "{code}: {e}");
        assert_eq!(e["error"]["code"], *code, "{e}");
        assert_eq!(e["error"]["type"], "payment_error");
    }
    // A receipt for exactly the billed total over the usage as it stands (it replaces the
    // last request's voucher if that was for exactly the billed total but signed before
    // its usage), then the same voucher again: a replay.
    let receipt = c.sign(billed);
    let r: Value = ureq::post(&format!("{url}/v1/blyan/voucher"))
        .set(VOUCHER_HEADER, &voucher_header_value(&receipt))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(num(&r["redeemable"]), billed, "{r}");
    let (s, e, _) = c.post(&b, Some(&receipt), Some(&qid));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (402, Some("voucher_replayed")),
        "{e}"
    );
    // An expired quote.
    let (old_q, old_amount) = c.quote(&b);
    std::thread::sleep(Duration::from_secs(6));
    let (s, e, _) = c.post(&b, Some(&c.sign(billed + old_amount + 1)), Some(&old_q));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("quote_expired")),
        "{e}"
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("expired"));
    let st = c.status();
    assert_eq!(num(&st["billed"]), billed, "no charge for refused requests");
    assert_eq!(num(&st["redeemable"]), billed);

    // The gateway stops; the provider redeems from its book.
    net.processes().kill9("gateway").unwrap();
    let out = std::process::Command::new(&worker)
        .args(["redeem", "--home", &home.to_string_lossy(), "--chain", &rpc])
        .env("BLYAN_WORKER_KEY", &provider.private_key_hex)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redeem: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reds = report["redemptions"].as_array().unwrap();
    assert_eq!(reds.len(), 1, "{report}");
    let red = &reds[0];
    assert_eq!(red["code"], 0, "{red}");
    assert_eq!(num(&red["amount"]), billed);
    let h = red["height"].as_u64().unwrap();
    let committed = net
        .rpc(0)
        .wait_tx(red["hash"].as_str().unwrap(), Duration::from_secs(30))
        .unwrap()
        .raw;

    // The split, exactly.
    let ip = net.cli_json(&["query", "inference", "params"]);
    let ip = &ip["result"];
    let (pbps, cbps) = (num(&ip["provider_bps"]), num(&ip["contributors_bps"]));
    let provider_share = billed * pbps / 10_000;
    let contributors = billed * cbps / 10_000;
    let usage: BTreeMap<String, u128> = red["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["block"].as_str().unwrap().to_string(), num(&u["tokens"])))
        .collect();
    let total_tokens: u128 = usage.values().sum();
    let owner_share: u128 = usage
        .values()
        .map(|t| contributors * t / total_tokens)
        .sum();
    let burned = billed - provider_share - owner_share;
    let ev = &events(&committed, "channel_redeemed")[0];
    assert_eq!(ev["amount"], billed.to_string());
    assert_eq!(ev["provider_share"], provider_share.to_string());
    assert_eq!(ev["contributors_share"], owner_share.to_string());
    assert_eq!(ev["burned"], burned.to_string());
    let fee = attr_u128(&committed, "fee", "burned") + attr_u128(&committed, "fee", "tip");
    let bal = |a: Address, h: u64| balance(net.rpc(0), a, h).unwrap();
    assert_eq!(
        bal(provider.address, h) + fee,
        bal(provider.address, h - 1) + provider_share,
        "provider: + its share - the redeem fee"
    );
    assert_eq!(
        bal(owner, h),
        bal(owner, h - 1) + owner_share,
        "model owner: the contributors' share"
    );
    assert_eq!(
        bal(user.address, h),
        user_balance0,
        "the user pays from the deposit"
    );
    let ch = net.cli_json(&["query", "inference", "channel", &channel.to_string()]);
    assert_eq!(num(&ch["result"]["redeemed"]), billed, "{ch}");
    // Dense blocks took part in every billed token; experts in some.
    let tokens = billed * 1000 / PRICE;
    assert_eq!(
        (usage["embed"], usage["head"]),
        (tokens, tokens),
        "{usage:?}"
    );
    assert!(usage
        .iter()
        .filter(|(b, _)| b.contains("expert"))
        .all(|(_, t)| *t <= tokens));
    println!(
        "billed {billed} for {} tokens over 50 requests ({streamed} streamed, one dropped paying {cancelled_charge}); provider {provider_share} (fee {fee}), owner {owner_share}, burned {burned}",
        billed * 1000 / PRICE
    );

    // The same voucher again: 511; a voucher above the deposit: 512 (chain codes).
    let file = dir.path().join("again.json");
    let redeem_file = |v: &SignedVoucher| {
        std::fs::write(
            &file,
            json!({"voucher": v, "model": MODEL, "usage": []}).to_string(),
        )
        .unwrap();
        tx(
            &net,
            &[
                "tx",
                "inference",
                "redeem",
                &file.to_string_lossy(),
                "--from",
                &kp,
            ],
        )
    };
    let again: SignedVoucher = serde_json::from_value(red["voucher"].clone()).unwrap();
    let r = redeem_file(&again);
    assert_eq!(r["code"], 511, "{r}");
    assert_eq!(r["error"], "VoucherNotNewer", "{r}");
    // (the gateway is stopped: no usage to read; the deposit check comes first anyway)
    let r = redeem_file(&c.sign_with_root(
        channel,
        provider.address,
        DEPOSIT + 1,
        &c.key,
        usage_root(&[]),
    ));
    assert_eq!(r["code"], 512, "{r}");

    // Restarted on the same book: the receipt is still a replay; new vouchers still pay.
    net.processes().restart("gateway").unwrap();
    wait_for("the gateway again", Duration::from_secs(120), || {
        ureq::get(&format!("{url}/health")).call().ok().map(|_| ())
    });
    let (qid, amount) = c.quote(&b);
    let (s, e, _) = c.post(&b, Some(&receipt), Some(&qid));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (402, Some("voucher_replayed")),
        "{e}"
    );
    let (s, r, hdr) = c.post(&b, Some(&c.sign(billed + amount)), Some(&qid));
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        hdr,
        Some(billed + cost(r["usage"]["total_tokens"].as_u64().unwrap()))
    );
    println!("inference_payments took {:?}", started.elapsed());
}

//! An outside Ethereum library signs a Blyan transaction by following README.md alone:
//! the Python `eth-account` package (installed by `./run-tests.sh` into `.venv`).

use std::io::Write;
use std::process::{Command, Stdio};

use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, SignedTx, Tx};

fn python() -> String {
    if let Ok(p) = std::env::var("BLYAN_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    if std::path::Path::new(venv).exists() {
        venv.to_string()
    } else {
        "python3".to_string()
    }
}

#[test]
fn eth_account_signs_a_transaction_the_node_accepts() {
    let key_hex = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    let key = SecretKey::from_hex(key_hex).unwrap();
    let to: Address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        .parse()
        .unwrap();
    let tx = Tx {
        chain_id: "blyan-localnet".into(),
        nonce: 3,
        fee: Fee {
            gas_limit: 30_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 10_000_000,
        },
        msgs: vec![Msg::Bank(BankMsg::Send {
            to,
            amount: 1_500_000_000_000_000_000,
        })],
        memo: "from python".into(),
    };
    let spec = serde_json::json!({
        "private_key": key_hex, "chain_id": tx.chain_id, "nonce": tx.nonce,
        "gas_limit": tx.fee.gas_limit,
        "max_fee_per_gas": tx.fee.max_fee_per_gas.to_string(),
        "max_priority_fee_per_gas": tx.fee.max_priority_fee_per_gas.to_string(),
        "transfers": [[to.to_string(), "1500000000000000000"]],
        "memo": tx.memo,
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/sign_with_eth_account.py"
    );
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the signing script failed (run ./run-tests.sh, which installs eth-account into .venv): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["address"],
        key.address().to_string(),
        "same EIP-55 address"
    );
    let wire = hex::decode(v["tx_hex"].as_str().unwrap()).unwrap();
    let decoded = SignedTx::from_bytes(&wire).expect("the node decodes it");
    assert_eq!(decoded.tx, tx, "same transaction fields");
    assert_eq!(
        decoded.recover_signer().unwrap(),
        key.address(),
        "same signer"
    );
    let ours = tx.sign(&key).to_bytes();
    assert_eq!(
        wire, ours,
        "same body, r and s (RFC 6979), and v in {{0, 1}} as README says (eth-account's 27/28 minus 27)"
    );
}

//! Running the real `cometbft` binary and reading the files it writes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::LocalnetError;
use crate::doc::ED25519_PUBKEY_TYPE;

/// Runs `cometbft <args> --home <home>` and returns its stdout.
fn run(bin: &Path, args: &[&str], home: &Path) -> Result<String, LocalnetError> {
    let output = Command::new(bin)
        .args(args)
        .arg("--home")
        .arg(home)
        .output()
        .map_err(|source| LocalnetError::Spawn {
            bin: bin.to_path_buf(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(LocalnetError::Command {
            command: format!(
                "{} {} --home {}",
                bin.display(),
                args.join(" "),
                home.display()
            ),
            output: format!(
                "{}\n{}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(stdout)
}

/// `cometbft init`: writes the node key, the validator key, a genesis and `config.toml`.
pub(super) fn init(bin: &Path, home: &Path) -> Result<(), LocalnetError> {
    run(bin, &["init"], home).map(|_| ())
}

/// `cometbft show-node-id`: the node's p2p id.
pub(super) fn node_id(bin: &Path, home: &Path) -> Result<String, LocalnetError> {
    let out = run(bin, &["show-node-id"], home)?;
    let id = out.trim().to_string();
    if id.len() != 40 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(LocalnetError::Parse {
            path: home.to_path_buf(),
            reason: format!("`cometbft show-node-id` printed {out:?}, not a node id"),
        });
    }
    Ok(id)
}

/// The base64 ed25519 public key in `config/priv_validator_key.json`.
pub(super) fn validator_pub_key(home: &Path) -> Result<String, LocalnetError> {
    let path = home.join("config").join("priv_validator_key.json");
    let text = std::fs::read_to_string(&path).map_err(LocalnetError::io(&path))?;
    let parse_error = |reason: &str| LocalnetError::Parse {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let json: Value = serde_json::from_str(&text).map_err(|e| parse_error(&e.to_string()))?;
    let key_type = json.pointer("/pub_key/type").and_then(Value::as_str);
    if key_type != Some(ED25519_PUBKEY_TYPE) {
        return Err(parse_error("pub_key.type is not an ed25519 key"));
    }
    json.pointer("/pub_key/value")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| parse_error("pub_key.value is missing"))
}

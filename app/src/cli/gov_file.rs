//! The proposal file of `blyand tx gov submit-proposal FILE`: JSON a person can write.
//!
//! ```json
//! {
//!   "title": "Cheaper transfers",
//!   "description": "Lower the gas of bank.send.",
//!   "deposit": "10bly",
//!   "content": {
//!     "type": "param_change",
//!     "module": "fees",
//!     "params": { "gas_per_bank_send": 4000 },
//!     "effective_height": "+5"
//!   }
//! }
//! ```
//!
//! `content.type` is `text`, `param_change` (`module`: fees, staking, dag, pol, inference
//! or gov; `params` names only the fields that change: the others are read from the
//! node, so the chain receives the whole typed struct), `pol_model` (`model`,
//! `aggregation`, `outer`: an override or `null` to remove it) or `community_pool_spend`
//! (`recipient`, `amount`), `software_upgrade` (`name`, `height`, `info`: the plan; the
//! binaries stop at `height` until restarted with one that has a handler for `name`),
//! `cancel_software_upgrade` or `model_evolution` (`model`, `change`: `{"kind":
//! "add_experts", "count", "source_expert"}`, `base_meta`, `blocks`: the file
//! `blyan-worker model evolve` writes). `effective_height` and an upgrade's `height` are a
//! height, or `"+N"`: N blocks after the last height the voting period could end at if the
//! transaction lands within 5 blocks.

use anyhow::{bail, Context};
use blyan_client::RpcClient;
use blyan_proto::dag::DagParams;
use blyan_proto::gov::{GovParams, ProposalContent};
use blyan_proto::inference::InferenceParams;
use blyan_proto::params::{FeeParams, StakingParams};
use blyan_proto::pol::PolParams;
use blyan_proto::query::QueryPath;
use serde_json::{json, Value};

use super::parse_amount;

/// Blocks the CLI allows for the submission to land when it resolves `"+N"`.
const LANDING_MARGIN: u64 = 5;

/// A parsed proposal file.
#[derive(Debug, Clone)]
pub(super) struct ProposalFile {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Initial deposit, base units.
    pub deposit: u128,
    /// The typed content.
    pub content: ProposalContent,
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn amount(v: &Value, what: &str) -> anyhow::Result<u128> {
    match v {
        Value::String(s) => parse_amount(s),
        Value::Number(n) => n
            .as_u64()
            .map(u128::from)
            .with_context(|| format!("{what}: not a whole number")),
        _ => bail!("{what}: give an amount such as \"10bly\""),
    }
}

/// Writes the fields of `patch` over `base`, recursively for objects.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn current_params(rpc: &RpcClient, module: &str) -> anyhow::Result<Value> {
    Ok(match module {
        "fees" => serde_json::to_value(rpc.query::<FeeParams>(&QueryPath::FeeParams)?)?,
        "staking" => serde_json::to_value(rpc.query::<StakingParams>(&QueryPath::StakingParams)?)?,
        "dag" => serde_json::to_value(rpc.query::<DagParams>(&QueryPath::DagParams)?)?,
        "pol" => serde_json::to_value(rpc.query::<PolParams>(&QueryPath::PolParams)?)?,
        "inference" => {
            serde_json::to_value(rpc.query::<InferenceParams>(&QueryPath::InferenceParams)?)?
        }
        "gov" => serde_json::to_value(rpc.query::<GovParams>(&QueryPath::GovParams)?)?,
        other => bail!("unknown module {other:?}: fees, staking, dag, pol, inference or gov"),
    })
}

fn effective_height(v: &Value, rpc: &RpcClient, deposit: u128) -> anyhow::Result<Value> {
    let rel = match v {
        Value::Number(_) => return Ok(v.clone()),
        Value::String(s) => match s.strip_prefix('+') {
            Some(rel) => rel,
            None => return Ok(json!(s.parse::<u64>().context("height")?)),
        },
        _ => bail!("effective_height / height: a height, or \"+N\""),
    };
    let n: u64 = rel.parse().context("height")?;
    let p: GovParams = rpc.query(&QueryPath::GovParams)?;
    let periods = if deposit >= p.min_deposit {
        p.voting_period_blocks
    } else {
        p.max_deposit_period_blocks
            .saturating_add(p.voting_period_blocks)
    };
    Ok(json!(rpc
        .latest_height()?
        .saturating_add(LANDING_MARGIN)
        .saturating_add(periods)
        .saturating_add(n)))
}

/// Reads a proposal file, completing partial parameters from the node.
pub(super) fn read(path: &std::path::Path, node: &str) -> anyhow::Result<ProposalFile> {
    let raw = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let v: Value =
        serde_json::from_str(&raw).with_context(|| format!("{} is not JSON", path.display()))?;
    let rpc = RpcClient::new(node);
    let deposit = amount(&v["deposit"], "deposit")?;
    let c = &v["content"];
    let mut typed = json!({"type": c["type"].clone()});
    match c["type"].as_str().unwrap_or_default() {
        "text" => {}
        "param_change" => {
            let module = c["module"]
                .as_str()
                .context("param_change needs a module")?;
            let mut params = current_params(&rpc, module)?;
            merge(&mut params, &c["params"]);
            typed["change"] = json!({"module": module, "params": params});
            typed["effective_height"] = effective_height(&c["effective_height"], &rpc, deposit)?;
        }
        "pol_model" => {
            typed["model"] = c["model"].clone();
            typed["aggregation"] = c["aggregation"].clone();
            typed["outer"] = c["outer"].clone();
            typed["effective_height"] = effective_height(&c["effective_height"], &rpc, deposit)?;
        }
        "model_evolution" => {
            for k in ["model", "change", "base_meta", "blocks"] {
                typed[k] = c[k].clone();
            }
            typed["effective_height"] = effective_height(&c["effective_height"], &rpc, deposit)?;
        }
        "community_pool_spend" => {
            typed["recipient"] = c["recipient"].clone();
            typed["amount"] = json!(amount(&c["amount"], "amount")?.to_string());
        }
        "software_upgrade" => {
            typed["name"] = c["name"].clone();
            typed["height"] = effective_height(&c["height"], &rpc, deposit)?;
            typed["info"] = json!(text(c, "info"));
        }
        "cancel_software_upgrade" => {}
        other => bail!(
            "content.type {other:?}: text, param_change, pol_model, community_pool_spend, \
             software_upgrade, cancel_software_upgrade or model_evolution"
        ),
    }
    let content: ProposalContent =
        serde_json::from_value(typed).context("the proposal content does not parse")?;
    if let ProposalContent::ParamChange { change, .. } = &content {
        change
            .validate()
            .map_err(|e| anyhow::anyhow!("the new parameters are invalid: {e}"))?;
    }
    if let ProposalContent::SoftwareUpgrade { name, height, info } = &content {
        let plan = blyan_proto::upgrade::UpgradePlan {
            name: name.clone(),
            height: *height,
            info: info.clone(),
        };
        plan.validate()
            .map_err(|e| anyhow::anyhow!("the upgrade plan is invalid: {e}"))?;
    }
    Ok(ProposalFile {
        title: text(&v, "title"),
        description: text(&v, "description"),
        deposit,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_params_object_is_written_over_the_current_one() {
        let mut base = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        merge(&mut base, &json!({"b": {"d": 4}, "e": [5], "f": true}));
        assert_eq!(
            base,
            json!({"a": 1, "b": {"c": 2, "d": 4}, "e": [5], "f": true})
        );
    }

    #[test]
    fn upgrade_proposal_files_parse_and_bad_names_are_refused_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("up.json");
        let body = json!({"title": "Up", "description": "", "deposit": "10bly",
            "content": {"type": "software_upgrade", "name": "v2", "height": 120}});
        std::fs::write(&file, body.to_string()).unwrap();
        let f = read(&file, "http://127.0.0.1:1").unwrap();
        assert_eq!(
            f.content,
            ProposalContent::SoftwareUpgrade {
                name: "v2".into(),
                height: 120,
                info: String::new(),
            }
        );
        let body = json!({"title": "Up", "deposit": "10bly",
            "content": {"type": "software_upgrade", "name": "no spaces", "height": 120}});
        std::fs::write(&file, body.to_string()).unwrap();
        assert!(read(&file, "http://127.0.0.1:1").is_err());
        let body = json!({"title": "Cancel", "deposit": "10bly",
            "content": {"type": "cancel_software_upgrade"}});
        std::fs::write(&file, body.to_string()).unwrap();
        let f = read(&file, "http://127.0.0.1:1").unwrap();
        assert_eq!(f.content, ProposalContent::CancelSoftwareUpgrade);
    }

    #[test]
    fn amounts_take_bly_or_base_units() {
        assert_eq!(amount(&json!("2bly"), "x").unwrap(), 2 * blyan_proto::BLY);
        assert_eq!(amount(&json!(7), "x").unwrap(), 7);
        assert!(amount(&Value::Null, "x").is_err());
    }
}

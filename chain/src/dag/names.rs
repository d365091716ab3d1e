//! Block names and how they fit an architecture.

use blyan_proto::dag::{BlockType, ModelArch};
use blyan_proto::ErrorCode;

use crate::error::{TxError, TxResult};

/// Every block name of an architecture, in a fixed order: `embed`, then per layer
/// `backbone`, `router`, `expert0..`, then `head`.
pub fn block_names(arch: &ModelArch) -> Vec<(String, BlockType, Option<u32>)> {
    let mut out = vec![("embed".to_string(), BlockType::Backbone, None)];
    for l in 0..arch.n_layers {
        out.push((format!("layer{l}.backbone"), BlockType::Backbone, Some(l)));
        out.push((format!("layer{l}.router"), BlockType::Router, Some(l)));
        for e in 0..arch.n_experts {
            out.push((format!("layer{l}.expert{e}"), BlockType::Expert, Some(l)));
        }
    }
    out.push(("head".to_string(), BlockType::Backbone, None));
    out
}

fn index(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse::<u32>().ok().filter(|i| *i < max)
}

/// Checks that `name` exists in `arch` and has type `ty`; returns its layer.
pub fn check_name(arch: &ModelArch, name: &str, ty: BlockType) -> TxResult<Option<u32>> {
    let outside = || {
        TxError::new(
            ErrorCode::NameOutsideArchitecture,
            format!(
                "block {name:?} is not part of a {}-layer, {}-expert model",
                arch.n_layers, arch.n_experts
            ),
        )
    };
    let (expected, layer) = match name {
        "embed" | "head" => (BlockType::Backbone, None),
        _ => {
            let rest = name.strip_prefix("layer").ok_or_else(outside)?;
            let (l, part) = rest.split_once('.').ok_or_else(outside)?;
            let l = index(l, arch.n_layers).ok_or_else(outside)?;
            match part {
                "backbone" => (BlockType::Backbone, Some(l)),
                "router" => (BlockType::Router, Some(l)),
                _ => {
                    let e = part.strip_prefix("expert").ok_or_else(outside)?;
                    index(e, arch.n_experts).ok_or_else(outside)?;
                    (BlockType::Expert, Some(l))
                }
            }
        }
    };
    if expected != ty {
        return Err(TxError::new(
            ErrorCode::BlockTypeMismatch,
            format!("block {name:?} must have type {expected:?}, not {ty:?}"),
        ));
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_or_not() {
        let arch = ModelArch {
            arch: "blyan-moe-v1".into(),
            n_layers: 2,
            n_experts: 4,
        };
        assert_eq!(block_names(&arch).len(), 2 + 2 * 6);
        assert_eq!(
            check_name(&arch, "layer1.expert3", BlockType::Expert).unwrap(),
            Some(1)
        );
        assert_eq!(
            check_name(&arch, "embed", BlockType::Backbone).unwrap(),
            None
        );
        for bad in [
            "layer2.expert0",
            "layer0.expert4",
            "layer01.router",
            "layer0.mlp",
            "tail",
            "layer0",
        ] {
            assert_eq!(
                check_name(&arch, bad, BlockType::Expert).unwrap_err().code,
                ErrorCode::NameOutsideArchitecture,
                "{bad}"
            );
        }
        assert_eq!(
            check_name(&arch, "layer0.router", BlockType::Expert)
                .unwrap_err()
                .code,
            ErrorCode::BlockTypeMismatch
        );
        for (n, t, _) in block_names(&arch) {
            check_name(&arch, &n, t).unwrap();
        }
    }
}

//! Which blocks to train: the `--blocks` spec.

use crate::model::{block_names, BlockName, MetaConfig};

use super::TrainError;

/// The blocks named by `spec`, in the model's load order without duplicates.
///
/// `spec` is a comma-separated list (spaces around items ignored) of:
/// - a block name: `embed`, `head`, `layer0.backbone`, `layer0.router`, `layer0.expert1`;
/// - a whole layer, `layer1`: its backbone, router and every expert;
/// - `all`: every block of the model.
///
/// Blocks that do not exist in architecture `cfg`, empty items and an empty spec are errors.
pub fn parse_blocks(spec: &str, cfg: &MetaConfig) -> Result<Vec<BlockName>, TrainError> {
    let all = block_names(cfg);
    let mut chosen = vec![false; all.len()];
    let bad = |item: &str, why: &str| TrainError::Blocks(format!("{item:?}: {why}"));
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad(spec, "empty block name in the list"));
        }
        if item == "all" {
            chosen.iter_mut().for_each(|c| *c = true);
            continue;
        }
        if let Some(layer) = whole_layer(item) {
            if layer >= cfg.n_layers {
                return Err(bad(item, &format!("the model has {} layers", cfg.n_layers)));
            }
            for (c, b) in chosen.iter_mut().zip(&all) {
                *c |= b.layer() == Some(layer);
            }
            continue;
        }
        let name: BlockName = item
            .parse()
            .map_err(|_| bad(item, "not a block name, layerN or all"))?;
        name.check(cfg)
            .map_err(|_| bad(item, "no such block in this architecture"))?;
        for (c, b) in chosen.iter_mut().zip(&all) {
            *c |= *b == name;
        }
    }
    Ok(all
        .into_iter()
        .zip(chosen)
        .filter_map(|(b, c)| c.then_some(b))
        .collect())
}

/// `layerN` (no leading zeros) → `N`.
fn whole_layer(item: &str) -> Option<usize> {
    let n = item.strip_prefix("layer")?;
    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if !digits || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    n.parse().ok()
}

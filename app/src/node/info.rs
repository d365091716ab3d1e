//! Info and InitChain: the handshake with CometBFT.

use blyan_chain::genesis::init_chain as write_genesis;
use blyan_chain::state::MemState;

use tendermint_proto::v0_38::abci::{
    RequestInfo, RequestInitChain, ResponseInfo, ResponseInitChain,
};

use super::BlyanApp;

/// Reports the last committed height and app hash, so CometBFT replays any block the
/// application missed (after a crash between a block's commit in CometBFT and ours).
pub(super) fn info(app: &BlyanApp, _req: RequestInfo) -> ResponseInfo {
    let store = app.store();
    let (height, hash) = match store.last_version() {
        Ok(Some(v)) if v > 0 => (
            v,
            store
                .root_at(v)
                .ok()
                .flatten()
                .map(|h| h.to_vec())
                .unwrap_or_default(),
        ),
        _ => (0, Vec::new()),
    };
    if let Ok(Some(v)) = store.last_version() {
        app.metrics()
            .height
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }
    ResponseInfo {
        data: "blyan".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        // The version the state is at: 1, plus one per applied upgrade.
        app_version: blyan_chain::upgrade::app_version(&store.latest())
            .unwrap_or(blyan_proto::upgrade::INITIAL_APP_VERSION),
        last_block_height: i64::try_from(height).unwrap_or(i64::MAX),
        last_block_app_hash: hash.into(),
    }
}

/// Writes the genesis state as version 0 and returns its root as the genesis app hash.
/// Idempotent: CometBFT calls it again after a restart at height 0.
pub(super) fn init_chain(app: &BlyanApp, req: RequestInitChain) -> ResponseInitChain {
    let store = app.store();
    if let Ok(Some(0)) = store.last_version() {
        if let Ok(Some(root)) = store.root_at(0) {
            tracing::info!("genesis already written; returning its app hash");
            return ResponseInitChain {
                app_hash: root.to_vec().into(),
                validators: stored_validator_set(app),
                consensus_params: None,
            };
        }
    }
    let genesis = match crate::genesis_bridge::chain_genesis(&req.app_state_bytes, &req.chain_id) {
        Ok(g) => g,
        Err(e) => fatal(format!("genesis rejected: {e:#}")),
    };
    let mut state = MemState::new();
    let validators = match write_genesis(&mut state, &genesis) {
        Ok(v) => v,
        Err(e) => fatal(format!("genesis rejected: {e}")),
    };
    let writes = state
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let pending = match store.prepare(0, writes) {
        Ok(p) => p,
        Err(e) => fatal(format!("writing genesis: {e}")),
    };
    let root = pending.root;
    if let Err(e) = store.commit(pending) {
        fatal(format!("writing genesis: {e}"));
    }
    tracing::info!(
        chain_id = %req.chain_id,
        accounts = genesis.accounts.len(),
        app_hash = %hex::encode_upper(root),
        "genesis written"
    );
    ResponseInitChain {
        app_hash: root.to_vec().into(),
        validators: validators
            .iter()
            .map(crate::genesis_bridge::to_abci_update)
            .collect(),
        consensus_params: None,
    }
}

/// A genesis that cannot be applied leaves nothing sensible to run: say why and stop.
fn fatal(msg: String) -> ! {
    tracing::error!("{msg}");
    eprintln!("blyand: {msg}");
    std::process::exit(78)
}

/// The active set recorded at genesis, as CometBFT validator updates.
fn stored_validator_set(app: &BlyanApp) -> Vec<tendermint_proto::v0_38::abci::ValidatorUpdate> {
    let st = app.store().latest();
    let active = blyan_chain::staking::active_set(&st).unwrap_or_default();
    active
        .iter()
        .filter_map(|(op, power)| {
            let v = blyan_chain::staking::validator(&st, op).ok().flatten()?;
            Some(crate::genesis_bridge::to_abci_update(
                &blyan_chain::staking::ValidatorUpdate {
                    consensus_key: v.consensus_key,
                    power: *power,
                },
            ))
        })
        .collect()
}

//! CheckTx: stateless checks, signature recovery (cached for FinalizeBlock), then the
//! transaction is applied to the check state so that a sender's later transactions see
//! its earlier ones.

use blyan_chain::runtime::Mode;
use blyan_chain::{TxError, VerifiedTx};
use blyan_proto::{ErrorCode, TxHash};
use tendermint_proto::v0_38::abci::{RequestCheckTx, ResponseCheckTx};

use super::{events::to_abci, lock, BlyanApp};

pub(super) fn check_tx(app: &BlyanApp, req: RequestCheckTx) -> ResponseCheckTx {
    let params = app.tx_params();
    let hash = TxHash::of(&req.tx);
    let verified = match app.inner.signers.get(&hash) {
        Some(signer) => VerifiedTx::from_bytes_with_signer(&req.tx, &params, signer),
        None => VerifiedTx::from_bytes(&req.tx, &params)
            .inspect(|v| app.inner.signers.insert(hash, v.signer)),
    };
    let outcome = {
        let mut guard = lock(&app.inner.check);
        if guard.is_none() {
            *guard = app.new_check_state();
        }
        match guard.as_mut() {
            Some(ex) => ex.execute(verified.as_ref().map_err(TxError::clone), Mode::Check),
            None => {
                let e = TxError::new(
                    ErrorCode::CorruptState,
                    "the node has no committed state yet",
                );
                return response(e.code.as_u32(), e.log, 0, 0, Vec::new(), app);
            }
        }
    };
    response(
        outcome.code,
        outcome.log,
        outcome.gas_wanted,
        outcome.gas_used,
        to_abci(&outcome.events),
        app,
    )
}

fn response(
    code: u32,
    log: String,
    gas_wanted: u64,
    gas_used: u64,
    events: Vec<tendermint_proto::v0_38::abci::Event>,
    app: &BlyanApp,
) -> ResponseCheckTx {
    app.metrics()
        .check_txs
        .with_label_values(&[&code.to_string()])
        .inc();
    ResponseCheckTx {
        code,
        log,
        gas_wanted: i64::try_from(gas_wanted).unwrap_or(i64::MAX),
        gas_used: i64::try_from(gas_used).unwrap_or(i64::MAX),
        events,
        codespace: if code == 0 {
            String::new()
        } else {
            "blyan".into()
        },
        ..Default::default()
    }
}

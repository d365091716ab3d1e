//! Query: typed paths, historical heights within the retained window, Merkle proofs.

use blyan_proto::query::{
    QueryPath, QUERY_BAD_PARAM, QUERY_HEIGHT_UNAVAILABLE, QUERY_NOT_PROVABLE, QUERY_UNKNOWN_PATH,
};
use tendermint_proto::v0_38::abci::{RequestQuery, ResponseQuery};
use tendermint_proto::v0_38::crypto::{ProofOp, ProofOps};

use super::BlyanApp;
use crate::store::PROOF_OP_TYPE;

fn fail(code: u32, log: String, height: u64) -> ResponseQuery {
    ResponseQuery {
        code,
        log,
        codespace: "blyan".into(),
        height: i64::try_from(height).unwrap_or(0),
        ..Default::default()
    }
}

pub(super) fn query(app: &BlyanApp, req: RequestQuery) -> ResponseQuery {
    let store = app.store();
    let latest = store.last_version().ok().flatten().unwrap_or(0);
    let height = if req.height <= 0 {
        latest
    } else {
        u64::try_from(req.height).unwrap_or(0)
    };
    let path = match QueryPath::parse(&req.path) {
        Ok(p) => p,
        Err(e) if e.starts_with("unknown") => return fail(QUERY_UNKNOWN_PATH, e, height),
        Err(e) => return fail(QUERY_BAD_PARAM, e, height),
    };
    if height != latest && path.scans() {
        return fail(
            QUERY_HEIGHT_UNAVAILABLE,
            format!("{path} lists many keys and is served at the latest height ({latest}) only"),
            height,
        );
    }
    let answer = if height == latest && !req.prove {
        blyan_chain::query::answer(&store.latest(), &path)
    } else {
        match store.at_version(height) {
            Ok(view) => blyan_chain::query::answer(&view, &path),
            Err(e) => return fail(QUERY_HEIGHT_UNAVAILABLE, e.to_string(), height),
        }
    };
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return fail(QUERY_BAD_PARAM, e.to_string(), height),
    };
    let mut resp = ResponseQuery {
        code: 0,
        value: answer.value.into(),
        height: i64::try_from(height).unwrap_or(0),
        ..Default::default()
    };
    if req.prove {
        let Some(key) = answer.proof_key else {
            return fail(
                QUERY_NOT_PROVABLE,
                format!("{path} has no single-key proof"),
                height,
            );
        };
        match store.get_with_proof(&key, height) {
            Ok((value, proof)) => {
                if value.is_none() {
                    resp.info = "absent".into();
                }
                resp.proof_ops = Some(ProofOps {
                    ops: vec![ProofOp {
                        r#type: PROOF_OP_TYPE.into(),
                        key: key.clone(),
                        data: proof.to_bytes(),
                    }],
                });
                resp.key = key.into();
            }
            Err(e) => return fail(QUERY_HEIGHT_UNAVAILABLE, e.to_string(), height),
        }
    }
    resp
}

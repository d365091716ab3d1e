//! Merkle proofs of state values, as carried in ABCI query responses.

use jmt::proof::SparseMerkleProof;
use jmt::RootHash;

/// A JMT proof that a key has a value (or none) under a root.
pub struct StateProof {
    pub(super) proof: SparseMerkleProof<sha2::Sha256>,
}

/// The ABCI `ProofOp.type` of Blyan state proofs.
pub const PROOF_OP_TYPE: &str = "blyan:jmt:sha256";

impl StateProof {
    /// Borsh bytes, placed in `ProofOp.data`.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.proof).unwrap_or_default()
    }
}

/// Verifies that `key` has `value` (or no value) in the state whose app hash is `root`,
/// given the bytes of a proof from an ABCI query. This is what a light client runs.
pub fn verify_proof(
    root: &[u8; 32],
    key: &[u8],
    value: Option<&[u8]>,
    proof_bytes: &[u8],
) -> Result<(), String> {
    let proof: SparseMerkleProof<sha2::Sha256> =
        borsh::from_slice(proof_bytes).map_err(|e| format!("proof does not decode: {e}"))?;
    proof
        .verify(RootHash(*root), super::key_hash(key), value)
        .map_err(|e| format!("proof does not verify: {e:#}"))
}

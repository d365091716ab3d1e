//! Checking a state proof from `abci_query` (`prove: true`) against an app hash, as a
//! light client does: Blyan's state is a Jellyfish Merkle Tree over SHA-256, its keys
//! hashed with SHA-256, and the proof (the query's first proof op, type
//! [`PROOF_OP_TYPE`]) is the tree's sparse Merkle proof in Borsh.

use jmt::proof::SparseMerkleProof;
use jmt::{KeyHash, RootHash};

/// The ABCI `ProofOp.type` of Blyan state proofs.
pub const PROOF_OP_TYPE: &str = "blyan:jmt:sha256";

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The bytes are not a Borsh sparse Merkle proof.
    #[error("proof does not decode: {0}")]
    Decode(String),
    /// The proof does not show that value (or absence) under that root.
    #[error("proof does not verify: {0}")]
    Verify(String),
}

/// Verifies that `key` has `value` (or, with `None`, no value) in the state whose app
/// hash is `root`, given the proof bytes of an ABCI query.
pub fn verify_proof(
    root: &[u8; 32],
    key: &[u8],
    value: Option<&[u8]>,
    proof_bytes: &[u8],
) -> Result<(), ProofError> {
    let proof: SparseMerkleProof<sha2::Sha256> =
        borsh::from_slice(proof_bytes).map_err(|e| ProofError::Decode(e.to_string()))?;
    proof
        .verify(RootHash(*root), KeyHash::with::<sha2::Sha256>(key), value)
        .map_err(|e| ProofError::Verify(format!("{e:#}")))
}

//! Merkle proofs of state values, as carried in ABCI query responses.

use jmt::proof::SparseMerkleProof;

pub use blyan_client::proof::{verify_proof, PROOF_OP_TYPE};

/// A JMT proof that a key has a value (or none) under a root.
pub struct StateProof {
    pub(super) proof: SparseMerkleProof<sha2::Sha256>,
}

impl StateProof {
    /// Borsh bytes, placed in `ProofOp.data`.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.proof).unwrap_or_default()
    }
}

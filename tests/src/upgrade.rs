//! Software upgrades on a localnet: swapping a node's `blyand` for another build.

use std::path::Path;

use crate::localnet::{app_name, Localnet};

impl Localnet {
    /// Makes node `i` start `blyand` from `bin` from its next (re)start on.
    pub fn set_app_binary(&mut self, i: usize, bin: &Path) {
        self.processes()
            .set_program(&app_name(i), bin)
            .expect("node's blyand is registered");
    }

    /// The `blyand` the net was started with.
    pub fn default_app_binary(&self) -> &Path {
        &self.bins().blyand
    }
}

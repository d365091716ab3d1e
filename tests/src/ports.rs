//! Picking free blocks of loopback ports.
//!
//! A block starts at a random offset below Linux's ephemeral range (32768+), so outgoing
//! connections never take our listening ports; every port of the block must bind on
//! 127.0.0.1; blocks handed out in this process are never handed out again, so tests of one
//! binary running in parallel never collide, and the random start keeps separate test
//! processes apart.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;

use anyhow::bail;

const LOW: u32 = 20_000;
const HIGH: u32 = 32_000;

/// Blocks handed out by this process: `(start, len)`.
static TAKEN: Mutex<Vec<(u16, u16)>> = Mutex::new(Vec::new());

fn random_u32() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    // Truncation keeps the well-mixed low bits.
    h.finish() as u32
}

/// Whether `port` can be bound on 127.0.0.1 right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Reserves `len` consecutive free loopback ports and returns the first.
pub fn free_port_block(len: u16) -> anyhow::Result<u16> {
    let len32 = u32::from(len.max(1));
    if len32 >= HIGH - LOW {
        bail!("cannot reserve {len} ports");
    }
    let slots = (HIGH - LOW - len32) / 10;
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..200 {
        // Aligned to 10 so node blocks read naturally (26600, 26610, ...).
        let start32 = LOW + (random_u32() % slots) * 10;
        let Ok(start) = u16::try_from(start32) else {
            continue;
        };
        let end = start32 + len32;
        let overlaps = taken.iter().any(|&(s, l)| {
            let (s, e) = (u32::from(s), u32::from(s) + u32::from(l));
            start32 < e && s < end
        });
        if overlaps {
            continue;
        }
        if (start32..end).all(|p| u16::try_from(p).is_ok_and(port_is_free)) {
            taken.push((start, len));
            return Ok(start);
        }
    }
    bail!("found no {len} consecutive free loopback ports between {LOW} and {HIGH}")
}

//! Typed events → ABCI events (every attribute indexed, so `tx_search` finds them).

use blyan_proto::event::Event;
use tendermint_proto::v0_38::abci::{Event as AbciEvent, EventAttribute};

/// Converts typed events, in order.
pub(super) fn to_abci(events: &[Event]) -> Vec<AbciEvent> {
    events
        .iter()
        .map(|e| AbciEvent {
            r#type: e.kind().to_string(),
            attributes: e
                .attributes()
                .into_iter()
                .map(|(k, v)| EventAttribute {
                    key: k.to_string(),
                    value: v,
                    index: true,
                })
                .collect(),
        })
        .collect()
}

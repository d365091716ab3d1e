//! Typed events → ABCI events; identifying attributes are indexed for `tx_search`
//! ([`blyan_proto::event::is_indexed`]), amounts and figures are not.

use blyan_proto::event::{is_indexed, Event};
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
                    index: is_indexed(k),
                })
                .collect(),
        })
        .collect()
}

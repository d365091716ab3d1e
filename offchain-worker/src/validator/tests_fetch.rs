//! Issue 11 item 4, the validator's side: crafted containers fetched for a round are flagged
//! SHAPE or DECODE from their headers, without allocating what they claim; fetch failures map
//! to UNFETCHABLE, content mismatches to HASH; the fetch budget's clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use blyan_proto::pol::{flags, DeltaRef, SubmissionInfo, SubmissionStatus, TrustLevel};
use blyan_proto::Address;

use blyan_ml::compress::crafted::{
    craft, empty_sparse, expert_layout, largest_allocation, lowrank_int4, LargestAllocation,
};

use super::fetch::{fetch_round, rfc3339_nanos};
use super::judge::fetch_flags;
use crate::chain::submission::{decode_delta, FetchError};
use crate::compress::BlockLayout;
use crate::ipfs::{cid_of_bytes, KuboClient};

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

fn sub(id: u64, deltas: Vec<DeltaRef>) -> SubmissionInfo {
    SubmissionInfo {
        id,
        round: 1,
        miner: Address([1; 20]),
        model: "m".into(),
        base_heads: vec![],
        deltas,
        samples: 1,
        weight: 1,
        dataset_refs: vec![],
        manifest_cid: String::new(),
        manifest_hash: [0; 32],
        manifest_size: 0,
        bond: 0,
        trust: TrustLevel::Newbie,
        height: 1,
        status: SubmissionStatus::Pending,
        median_loss_micro: None,
        flags: 0,
        reward: 0,
        penalty: 0,
        fee: 0,
    }
}

fn delta_ref(block: &str, bytes: &[u8]) -> DeltaRef {
    DeltaRef {
        block: block.into(),
        cid: cid_of_bytes(bytes).to_string(),
        hash: crate::compress::sha3(bytes),
        size: bytes.len() as u64,
    }
}

/// The flag a validator attests for crafted `bytes` as a delta of `layout`'s block, and the
/// largest allocation decoding made.
fn judged(layout: &BlockLayout, bytes: Vec<u8>) -> (Option<u32>, usize) {
    let d = delta_ref(&layout.block, &bytes);
    let s = sub(9, vec![d.clone()]);
    let (r, largest) = largest_allocation(|| decode_delta(&s, &d, bytes, Some(layout)));
    (r.err().as_ref().and_then(fetch_flags), largest)
}

#[test]
fn crafted_containers_get_shape_or_decode_without_a_big_allocation() {
    let layout = expert_layout();
    let huge = 1u64 << 14;
    let (first, shape) = &layout.tensors[0];
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        (
            "nnz = 0 sparse claiming 2^28 values",
            craft(
                &layout.block,
                huge * huge,
                &[(first, &[huge, huge], empty_sparse())],
            ),
            flags::SHAPE,
        ),
        (
            "low-rank factors of an absurd shape",
            craft(
                &layout.block,
                huge * huge,
                &[(first, &[huge, huge], lowrank_int4(16, 16, 8))],
            ),
            flags::SHAPE,
        ),
        (
            "a tensor the block does not have",
            craft(&layout.block, 16, &[("zz_evil", &[4, 4], empty_sparse())]),
            flags::SHAPE,
        ),
        (
            "another block's container",
            craft(
                "layer1.expert2",
                shape.iter().product::<usize>() as u64,
                &[(
                    first,
                    &shape.iter().map(|&x| x as u64).collect::<Vec<_>>(),
                    empty_sparse(),
                )],
            ),
            flags::SHAPE,
        ),
    ];
    for (what, bytes, want) in cases {
        assert!(bytes.len() < 4096, "{what}: {} bytes", bytes.len());
        let (got, largest) = judged(&layout, bytes);
        assert_eq!(got, Some(want), "{what}");
        assert!(largest < 64 << 10, "{what}: allocated {largest} bytes");
    }
    // The block's own 2-D shape with full-rank factors: as big as the matrix, refused
    // as malformed before the m·n·r reconstruction.
    let (name, s2) = layout.tensors.iter().find(|(_, s)| s.len() == 2).unwrap();
    let (m, n) = (s2[0] as u64, s2[1] as u64);
    let r = m.min(n) as u32;
    let bytes = craft(
        &layout.block,
        m * n,
        &[(name, &[m, n], lowrank_int4(m, n, r))],
    );
    let (got, _) = judged(&layout, bytes);
    assert_eq!(got, Some(flags::DECODE));
}

#[test]
fn fetch_failures_map_to_their_flags() {
    let e = |f: fn(u64, String) -> FetchError| fetch_flags(&f(1, "x".into()));
    assert_eq!(
        e(|submission, message| FetchError::Ipfs {
            submission,
            part: "delta of b".into(),
            message
        }),
        Some(flags::UNFETCHABLE)
    );
    assert_eq!(
        e(|submission, message| FetchError::Content {
            submission,
            part: "delta of b".into(),
            message
        }),
        Some(flags::HASH)
    );
    assert_eq!(
        e(|submission, got| FetchError::HashMismatch {
            submission,
            part: "delta of b".into(),
            got,
            want: String::new()
        }),
        Some(flags::HASH)
    );
    assert_eq!(
        e(|submission, message| FetchError::Shape {
            submission,
            block: "b".into(),
            message
        }),
        Some(flags::SHAPE)
    );
    assert_eq!(super::describe_flags(flags::UNFETCHABLE), "unfetchable");
    assert_eq!(
        super::describe_flags(flags::SHAPE | flags::UNFETCHABLE),
        "shape|unfetchable"
    );
}

/// Nothing listens on the Kubo port: every delta fails at once and is UNFETCHABLE; a delta
/// of a block the model does not have is SHAPE without a call; the round returns by its
/// deadline.
#[test]
fn a_round_fetch_returns_by_the_deadline_and_flags_each_submission() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubo = KuboClient::new(&format!("127.0.0.1:{port}")).unwrap();
    let layout = expert_layout();
    let layouts = BTreeMap::from([(layout.block.clone(), layout.clone())]);
    let subs: Vec<SubmissionInfo> = (0..20)
        .map(|i| sub(i, vec![delta_ref(&layout.block, &i.to_le_bytes())]))
        .chain([sub(99, vec![delta_ref("layer9.expert9", b"x")])])
        .collect();
    let start = Instant::now();
    let got = fetch_round(&kubo, &subs, &layouts, start + Duration::from_secs(3), 4);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(got.len(), subs.len());
    for r in &got[..20] {
        let e = r.as_ref().unwrap_err();
        assert_eq!(fetch_flags(e), Some(flags::UNFETCHABLE), "{e}");
    }
    let e = got[20].as_ref().unwrap_err();
    assert_eq!(fetch_flags(e), Some(flags::SHAPE), "{e}");
}

#[test]
fn cometbft_header_times_parse() {
    let a = rfc3339_nanos("1970-01-01T00:00:01Z").unwrap();
    assert_eq!(a, 1_000_000_000);
    let b = rfc3339_nanos("2026-12-04T14:30:42.5Z").unwrap();
    let c = rfc3339_nanos("2026-12-05T00:00:00.000000001Z").unwrap();
    assert_eq!(
        c - b,
        (9 * 3600 + 29 * 60 + 17) * 1_000_000_000i128 + 500_000_001
    );
    assert_eq!(
        rfc3339_nanos("2024-03-01T00:00:00Z").unwrap()
            - rfc3339_nanos("2024-02-28T00:00:00Z").unwrap(),
        2 * 86_400 * 1_000_000_000
    );
    assert_eq!(rfc3339_nanos("2026-12-04 14:30:42Z"), None);
    assert_eq!(rfc3339_nanos("2026-12-04T14:30:42.1234567891Z"), None);
}

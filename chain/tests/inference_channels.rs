//! Inference payments: providers, channels, vouchers. A redemption pays exactly the split
//! (provider, the contributors of the blocks used by reported usage, burn); replayed or
//! over-deposit vouchers, wrong signers and providers, early closes and late redemptions
//! get their codes and change nothing but fee and nonce.

mod common;

use blyan_chain::inference::{self, CHANNEL_POOL};
use blyan_chain::runtime::Mode;
use blyan_chain::state::{apply_writes, Overlay};
use blyan_chain::{bank, dag, BlockExecutor, MemState, TxOutcome};
use blyan_proto::inference::{
    usage_root, BlockUsage, ChannelInfo, InferenceMsg, SignedVoucher, Voucher,
};
use blyan_proto::pol::PolParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, Fee, Msg, Tx, BLY};
use common::pol::*;
use common::*;

fn run(s: &mut MemState, height: u64, who: &str, m: InferenceMsg) -> TxOutcome {
    let tx = Tx {
        chain_id: CHAIN.into(),
        nonce: blyan_chain::auth::nonce(s, &key(who).address()).unwrap(),
        fee: Fee {
            gas_limit: 200_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 0,
        },
        msgs: vec![Msg::Inference(m)],
        memo: String::new(),
    };
    let t = verify(tx, &key(who));
    let mut ex = BlockExecutor::begin(&*s, ctx(height)).unwrap();
    let o = ex.execute(Ok(&t), Mode::Deliver);
    apply_writes(s, ex.end().unwrap().writes);
    o
}

fn ok(o: TxOutcome) -> TxOutcome {
    assert_eq!(o.code, 0, "{}", o.log);
    o
}

fn usage_of(usage: &[(&str, u64)]) -> Vec<BlockUsage> {
    usage
        .iter()
        .map(|(b, t)| BlockUsage {
            block: b.to_string(),
            tokens: *t,
        })
        .collect()
}

/// A voucher of `signer` for `MODEL`, committing to `usage` (cumulative, sorted).
fn voucher(
    channel: u64,
    provider: &str,
    cumulative: u128,
    signer: &str,
    usage: &[(&str, u64)],
) -> SignedVoucher {
    Voucher {
        channel,
        provider: key(provider).address(),
        cumulative,
        model: MODEL.into(),
        usage_root: usage_root(&usage_of(usage)),
    }
    .sign(CHAIN, &key(signer))
}

fn redeem(v: SignedVoucher, usage: &[(&str, u64)]) -> InferenceMsg {
    InferenceMsg::Redeem {
        voucher: v,
        model: MODEL.into(),
        usage: usage_of(usage),
    }
}

/// A net where `m1` is a provider and `m2` opened channel 1 to it with 10 BLY for 20 blocks.
fn net() -> MemState {
    let mut s = genesis_with(PolParams::default(), true);
    ok(run(
        &mut s,
        1,
        "m1",
        InferenceMsg::RegisterProvider {
            endpoint: "http://127.0.0.1:8080".into(),
            models: vec![MODEL.into()],
            price_per_1k_tokens: BLY / 1000,
        },
    ));
    ok(run(
        &mut s,
        2,
        "m2",
        InferenceMsg::OpenChannel {
            provider: key("m1").address(),
            deposit: 10 * BLY,
            duration_blocks: 20,
        },
    ));
    s
}

#[test]
fn a_redemption_pays_provider_contributors_and_burn_exactly() {
    let mut s = net();
    let c: ChannelInfo = query(&s, QueryPath::Channel(1));
    assert_eq!(
        (c.deposit, c.expires_at, c.user),
        (10 * BLY, 22, key("m2").address())
    );
    const USED: &[(&str, u64)] = &[("embed", 100), ("layer0.expert1", 300)];
    // a PoL round made layer0.expert1's head: its contributors are m3 (weight 3) and m4 (1)
    let head = dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap();
    let mut o = Overlay::new(&s);
    blyan_chain::pol::set_contributors(
        &mut o,
        &head.id,
        &[(key("m3").address(), 3), (key("m4").address(), 1)],
    );
    let w = o.into_writes();
    apply_writes(&mut s, w);

    let owner = dag::must_model(&s, MODEL).unwrap().owner;
    let before = |s: &MemState| {
        (
            balance(s, "m1"),
            bank::balance(s, &owner).unwrap(),
            balance(s, "m3"),
            balance(s, "m4"),
            bank::supply(s).unwrap(),
        )
    };
    let (p0, own0, m30, m40, sup0) = before(&s);
    let o = ok(run(
        &mut s,
        3,
        "m1",
        redeem(voucher(1, "m1", 4 * BLY, "m2", USED), USED),
    ));
    let fee = fee_paid(&o);
    // 4 BLY: 80% provider, 15% contributors (by tokens 3:1), 5% burned
    let contrib = 4 * BLY * 15 / 100;
    let to_expert = contrib * 300 / 400;
    let to_embed = contrib - to_expert;
    assert_eq!(balance(&s, "m1"), p0 + 4 * BLY * 80 / 100 - fee);
    assert_eq!(balance(&s, "m3"), m30 + to_expert * 3 / 4);
    assert_eq!(balance(&s, "m4"), m40 + to_expert / 4);
    assert_eq!(
        bank::balance(&s, &owner).unwrap(),
        own0 + to_embed,
        "genesis blocks pay their publisher"
    );
    assert_eq!(
        sup0 - bank::supply(&s).unwrap(),
        4 * BLY * 5 / 100
            + (fee
                - o.events
                    .iter()
                    .find_map(|e| match e {
                        blyan_proto::event::Event::Fees(
                            blyan_proto::event::FeeEvent::FeePaid { tip, .. },
                        ) => Some(*tip),
                        _ => None,
                    })
                    .unwrap()),
        "5% of the payment and the base fee are burned"
    );
    let c: ChannelInfo = query(&s, QueryPath::Channel(1));
    assert_eq!(c.redeemed, 4 * BLY);
    assert_eq!(bank::balance(&s, &CHANNEL_POOL).unwrap(), 6 * BLY);
    assert_eq!(inference::held_in_channels(&s).unwrap(), 6 * BLY);

    // a later voucher pays only the difference (no new usage: the contributors' share goes
    // to the model's publisher)
    let p1 = balance(&s, "m1");
    let o = ok(run(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m1", 5 * BLY, "m2", USED), USED),
    ));
    assert_eq!(balance(&s, "m1"), p1 + BLY * 80 / 100 - fee_paid(&o));

    // the user closes after expiry and gets the rest
    let u = balance(&s, "m2");
    let o = ok(run(&mut s, 23, "m2", InferenceMsg::Close { channel: 1 }));
    assert_eq!(balance(&s, "m2"), u + 5 * BLY - fee_paid(&o));
    assert_eq!(bank::balance(&s, &CHANNEL_POOL).unwrap(), 0);
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

fn rejected(s: &mut MemState, height: u64, who: &str, m: InferenceMsg, code: ErrorCode) {
    let (bal, pool) = (balance(s, who), bank::balance(s, &CHANNEL_POOL).unwrap());
    let c: ChannelInfo = query(s, QueryPath::Channel(1));
    let o = run(s, height, who, m);
    assert_eq!(o.code, code.as_u32(), "expected {code:?}: {}", o.log);
    assert_eq!(
        balance(s, who),
        bal - fee_paid(&o),
        "{code:?}: only the fee"
    );
    assert_eq!(bank::balance(s, &CHANNEL_POOL).unwrap(), pool);
    assert_eq!(query::<ChannelInfo>(s, QueryPath::Channel(1)), c);
}

#[test]
fn bad_vouchers_and_channel_misuse_are_rejected_with_codes() {
    let mut s = net();
    ok(run(
        &mut s,
        3,
        "m1",
        redeem(voucher(1, "m1", 2 * BLY, "m2", &[]), &[]),
    ));
    // the same voucher again, and a lower one
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m1", 2 * BLY, "m2", &[]), &[]),
        ErrorCode::VoucherNotNewer,
    );
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m1", BLY, "m2", &[]), &[]),
        ErrorCode::VoucherNotNewer,
    );
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m1", 11 * BLY, "m2", &[]), &[]),
        ErrorCode::VoucherAboveDeposit,
    );
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m1", 3 * BLY, "m3", &[]), &[]),
        ErrorCode::BadVoucherSignature,
    );
    let mut forged = voucher(1, "m1", 3 * BLY, "m2", &[]);
    forged.sig[5] ^= 1;
    rejected(
        &mut s,
        4,
        "m1",
        redeem(forged, &[]),
        ErrorCode::BadVoucherSignature,
    );
    // a voucher for another provider, and a redeemer that is not the provider
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m3", 3 * BLY, "m2", &[]), &[]),
        ErrorCode::VoucherWrongProvider,
    );
    rejected(
        &mut s,
        4,
        "m3",
        redeem(voucher(1, "m1", 3 * BLY, "m2", &[]), &[]),
        ErrorCode::VoucherWrongProvider,
    );
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(9, "m1", 3 * BLY, "m2", &[]), &[]),
        ErrorCode::UnknownChannel,
    );
    rejected(
        &mut s,
        4,
        "m1",
        redeem(
            voucher(1, "m1", 3 * BLY, "m2", &[("layer7.expert0", 5)]),
            &[("layer7.expert0", 5)],
        ),
        ErrorCode::InvalidUsage,
    );
    rejected(
        &mut s,
        4,
        "m1",
        redeem(
            voucher(1, "m1", 3 * BLY, "m2", &[("embed", 0)]),
            &[("embed", 0)],
        ),
        ErrorCode::InvalidUsage,
    );
    // usage for a model the provider does not serve (and the voucher was signed for)
    let mut v = voucher(1, "m1", 3 * BLY, "m2", &[]).voucher;
    v.model = "not-served".into();
    let mut other = redeem(v.sign(CHAIN, &key("m2")), &[]);
    if let InferenceMsg::Redeem { model, .. } = &mut other {
        *model = "not-served".into();
    }
    rejected(&mut s, 4, "m1", other, ErrorCode::UnknownModel);
    ok(run(
        &mut s,
        4,
        "m1",
        InferenceMsg::RegisterProvider {
            endpoint: "http://127.0.0.1:8080".into(),
            models: vec!["another-model".into()],
            price_per_1k_tokens: BLY / 1000,
        },
    ));
    rejected(
        &mut s,
        4,
        "m1",
        redeem(voucher(1, "m1", 3 * BLY, "m2", &[]), &[]),
        ErrorCode::InvalidUsage,
    );
    ok(run(
        &mut s,
        4,
        "m1",
        InferenceMsg::RegisterProvider {
            endpoint: "http://127.0.0.1:8080".into(),
            models: vec![MODEL.into()],
            price_per_1k_tokens: BLY / 1000,
        },
    ));
    // closing early, or someone else's channel
    rejected(
        &mut s,
        5,
        "m2",
        InferenceMsg::Close { channel: 1 },
        ErrorCode::ChannelNotExpired,
    );
    rejected(
        &mut s,
        5,
        "m3",
        InferenceMsg::Close { channel: 1 },
        ErrorCode::NotChannelUser,
    );
    rejected(
        &mut s,
        5,
        "m3",
        InferenceMsg::TopUp {
            channel: 1,
            amount: BLY,
            extend_blocks: 0,
        },
        ErrorCode::NotChannelUser,
    );
    rejected(
        &mut s,
        5,
        "m2",
        InferenceMsg::OpenChannel {
            provider: key("m4").address(),
            deposit: BLY,
            duration_blocks: 10,
        },
        ErrorCode::UnknownProvider,
    );
    rejected(
        &mut s,
        5,
        "m2",
        InferenceMsg::OpenChannel {
            provider: key("m1").address(),
            deposit: 1,
            duration_blocks: 10,
        },
        ErrorCode::ChannelDepositTooLow,
    );
    // a top-up extends the channel; after expiry the provider can no longer redeem
    ok(run(
        &mut s,
        6,
        "m2",
        InferenceMsg::TopUp {
            channel: 1,
            amount: BLY,
            extend_blocks: 5,
        },
    ));
    let c: ChannelInfo = query(&s, QueryPath::Channel(1));
    assert_eq!((c.deposit, c.expires_at), (11 * BLY, 27));
    rejected(
        &mut s,
        28,
        "m1",
        redeem(voucher(1, "m1", 3 * BLY, "m2", &[]), &[]),
        ErrorCode::ChannelExpired,
    );
    ok(run(&mut s, 28, "m2", InferenceMsg::Close { channel: 1 }));
    rejected(
        &mut s,
        29,
        "m2",
        InferenceMsg::Close { channel: 1 },
        ErrorCode::ChannelClosed,
    );
    assert_eq!(
        inference::held_in_channels(&s).unwrap(),
        inference::held(&s).unwrap()
    );
}

#[test]
fn a_provider_cannot_redeem_with_usage_or_a_model_the_user_did_not_sign() {
    let mut s = net();
    const SIGNED: &[(&str, u64)] = &[("embed", 100), ("layer0.expert0", 100)];
    // The provider reports its own choice of usage (all on the expert it would like paid),
    // or the signed usage for another model: refused, nothing moves but the fee.
    rejected(
        &mut s,
        3,
        "m1",
        redeem(
            voucher(1, "m1", 2 * BLY, "m2", SIGNED),
            &[("layer0.expert1", 200)],
        ),
        ErrorCode::VoucherUsageMismatch,
    );
    rejected(
        &mut s,
        3,
        "m1",
        redeem(voucher(1, "m1", 2 * BLY, "m2", SIGNED), &[]),
        ErrorCode::VoucherUsageMismatch,
    );
    let mut other = redeem(voucher(1, "m1", 2 * BLY, "m2", SIGNED), SIGNED);
    if let InferenceMsg::Redeem { model, .. } = &mut other {
        *model = "another-model".into();
    }
    rejected(&mut s, 3, "m1", other, ErrorCode::VoucherWrongModel);
    // unsorted usage has no canonical root
    rejected(
        &mut s,
        3,
        "m1",
        redeem(
            voucher(
                1,
                "m1",
                2 * BLY,
                "m2",
                &[("layer0.expert0", 100), ("embed", 100)],
            ),
            &[("layer0.expert0", 100), ("embed", 100)],
        ),
        ErrorCode::InvalidUsage,
    );
    // The signed usage redeems; a later voucher cannot report less (usage is cumulative).
    ok(run(
        &mut s,
        3,
        "m1",
        redeem(voucher(1, "m1", 2 * BLY, "m2", SIGNED), SIGNED),
    ));
    rejected(
        &mut s,
        4,
        "m1",
        redeem(
            voucher(1, "m1", 3 * BLY, "m2", &[("embed", 150)]),
            &[("embed", 150)],
        ),
        ErrorCode::UsageNotCumulative,
    );
    ok(run(
        &mut s,
        4,
        "m1",
        redeem(
            voucher(
                1,
                "m1",
                3 * BLY,
                "m2",
                &[("embed", 150), ("layer0.expert0", 100)],
            ),
            &[("embed", 150), ("layer0.expert0", 100)],
        ),
    ));
}

#[test]
fn after_an_accepted_round_redemptions_pay_the_rounds_miners() {
    use blyan_proto::pol::{AttestSubmissions, Judgement, PolMsg, RoundInfo, RoundStatus};
    let params = PolParams {
        round_blocks: 3,
        phase1_blocks: 3,
        phase2_blocks: 3,
        hashcash_bits: 4,
        ..PolParams::default()
    };
    let mut s = genesis_with_validators(params, true, &["v1"]);
    // m3 and m4 submit different deltas to layer0.expert1
    for (i, who) in ["m3", "m4"].iter().enumerate() {
        let mut m = submission(&s, 10 * BLY);
        m.deltas[0].hash = [30 + i as u8; 32];
        m.deltas[0].cid = format!("bafkdelta{i}");
        m.manifest_hash = [40 + i as u8; 32];
        m.stamp = Some(stamp_for(&s, who, &m, 4));
        ok(submit(&mut s, 1, who, m));
    }
    empty_blocks(&mut s, 2, 3);
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Phase1, "{r:?}");
    // the only validator: m3 improves the loss by 0.4 nats alone, m4 by 0.2
    // commit at `height`, reveal at the next: the commit window closes once the only
    // validator has committed
    let attest = |s: &mut MemState, height: u64, m: PolMsg| {
        for (h, msg) in [(height, commit_to("v1", &m)), (height + 1, m)] {
            let t = verify(pol_tx(s, "v1", msg), &key("v1"));
            let o = run_block(s, h, &[t]).remove(0);
            assert_eq!(o.code, 0, "{}", o.log);
        }
    };
    let judgements = vec![
        Judgement {
            submission: 1,
            flags: 0,
            loss_micro: 4_600_000,
            noise_micro: 0,
        },
        Judgement {
            submission: 2,
            flags: 0,
            loss_micro: 4_800_000,
            noise_micro: 0,
        },
    ];
    attest(
        &mut s,
        4,
        PolMsg::AttestSubmissions(AttestSubmissions {
            round: 1,
            judgements,
            salt: [3; 32],
        }),
    );
    attest(&mut s, 6, expert1_aggregate(4_500_000, 4));
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    let head = dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap();
    assert_eq!(
        blyan_chain::pol::contributors(&s, &head.id).unwrap(),
        {
            let mut c = vec![
                (key("m3").address(), 400_000),
                (key("m4").address(), 200_000),
            ];
            c.sort();
            c
        },
        "the round's miners, weighted by their own measured improvement"
    );

    // m1 serves, m2 pays; all the usage is on the learned expert
    ok(run(
        &mut s,
        8,
        "m1",
        InferenceMsg::RegisterProvider {
            endpoint: "http://127.0.0.1:8080".into(),
            models: vec![MODEL.into()],
            price_per_1k_tokens: BLY / 1000,
        },
    ));
    ok(run(
        &mut s,
        9,
        "m2",
        InferenceMsg::OpenChannel {
            provider: key("m1").address(),
            deposit: 10 * BLY,
            duration_blocks: 20,
        },
    ));
    let (m30, m40) = (balance(&s, "m3"), balance(&s, "m4"));
    const USED: &[(&str, u64)] = &[("layer0.expert1", 1_000)];
    ok(run(
        &mut s,
        10,
        "m1",
        redeem(voucher(1, "m1", 3 * BLY, "m2", USED), USED),
    ));
    let contrib = 3 * BLY * 15 / 100;
    assert_eq!(balance(&s, "m3"), m30 + contrib * 2 / 3);
    assert_eq!(balance(&s, "m4"), m40 + contrib / 3);
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

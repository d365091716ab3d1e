//! Bad transactions sent through CheckTx (`broadcast_tx_sync`) each get their own error
//! code, change nothing, and do not stop the chain.

use std::time::Duration;

use blyan_proto::{ErrorCode, SecretKey, SignedTx, BLY};
use blyan_tests::txs::{balance, nonce, tx_code, FeeTerms};
use blyan_tests::{Localnet, TxFactory};

/// secp256k1 group order, big-endian.
const CURVE_N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
];

/// The same signature with `s` replaced by `n - s`: still valid ECDSA, but high-s, which
/// the chain rejects so that every transaction has one encoding.
fn high_s(mut signed: SignedTx) -> SignedTx {
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(CURVE_N[i]) - i16::from(signed.sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        signed.sig[32 + i] = u8::try_from(d.rem_euclid(256)).expect("a byte");
    }
    signed
}

#[test]
fn each_bad_transaction_gets_its_own_code_and_changes_nothing() {
    let net = Localnet::start(1);
    let rpc = net.rpc(0);
    let f = TxFactory::from_node(rpc).expect("chain id and fee params");
    let key = net.dev_key(1);
    let sender = key.address();
    let to = SecretKey::from_seed("e2e/bad-txs/recipient").address();

    // One good transfer first, so that nonce 0 is used.
    let first = f.transfer(&key, 0, to, BLY);
    assert_eq!(rpc.broadcast_tx_sync(&first.to_bytes()).unwrap().code, 0);
    let committed = rpc
        .wait_tx(&first.hash().to_hex(), Duration::from_secs(30))
        .unwrap()
        .raw;
    assert_eq!(tx_code(&committed), 0);
    let h = blyan_tests::txs::tx_height(&committed);
    let balance_before = balance(rpc, sender, h).unwrap();
    let nonce_before = nonce(rpc, sender, h).unwrap();
    assert_eq!(nonce_before, 1);

    let other_chain = TxFactory {
        chain_id: "another-chain".into(),
        params: f.params.clone(),
    };
    let mut high_v = f.transfer(&key, 1, to, BLY);
    high_v.sig[64] = 5;
    let mut eth_v = f.transfer(&key, 1, to, BLY);
    eth_v.sig[64] += 27;
    let mut r_out_of_range = f.transfer(&key, 1, to, BLY);
    r_out_of_range.sig[..32].fill(0xFF);
    let below_base_fee = FeeTerms {
        max_fee_per_gas: f.params.min_base_fee - 1,
        tip: 0,
        gas_limit: None,
    };
    let unfunded = SecretKey::from_seed("e2e/bad-txs/unfunded");
    let oversized_memo = "x".repeat(40 * 1024);

    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        (
            "garbage after the version byte",
            vec![1, 0xde, 0xad, 0xbe, 0xef],
            ErrorCode::Malformed,
        ),
        (
            "unknown format version",
            vec![9, 1, 2, 3],
            ErrorCode::UnsupportedVersion,
        ),
        (
            "signed for another chain",
            other_chain.transfer(&key, 1, to, BLY).to_bytes(),
            ErrorCode::WrongChainId,
        ),
        (
            "recovery id 5",
            high_v.to_bytes(),
            ErrorCode::NonCanonicalSignature,
        ),
        // The same signature with an Ethereum-style v: a second encoding and hash of one
        // transaction (issue 11 item 12).
        (
            "v = 27/28",
            eth_v.to_bytes(),
            ErrorCode::NonCanonicalSignature,
        ),
        (
            "r above the group order",
            r_out_of_range.to_bytes(),
            ErrorCode::BadSignature,
        ),
        (
            "high-s signature",
            high_s(f.transfer(&key, 1, to, BLY)).to_bytes(),
            ErrorCode::BadSignature,
        ),
        // A different transaction (amount 2 BLY) with the used nonce 0: a byte-identical
        // resend would be answered by CometBFT's mempool cache instead.
        (
            "replayed nonce",
            f.transfer(&key, 0, to, 2 * BLY).to_bytes(),
            ErrorCode::NonceTooLow,
        ),
        (
            "nonce gap",
            f.transfer(&key, 3, to, BLY).to_bytes(),
            ErrorCode::NonceGap,
        ),
        (
            "unfunded signer",
            f.transfer(&unfunded, 0, to, BLY).to_bytes(),
            ErrorCode::InsufficientFunds,
        ),
        (
            "more than the balance",
            f.transfer(&key, 1, to, balance_before).to_bytes(),
            ErrorCode::InsufficientFunds,
        ),
        (
            "fee cap below the base fee",
            f.transfer_with(&key, 1, to, BLY, "", below_base_fee)
                .to_bytes(),
            ErrorCode::FeeCapBelowBaseFee,
        ),
        (
            "u128::MAX transfer",
            f.transfer(&key, 1, to, u128::MAX).to_bytes(),
            ErrorCode::AmountOverflow,
        ),
        (
            "zero transfer",
            f.transfer(&key, 1, to, 0).to_bytes(),
            ErrorCode::ZeroAmount,
        ),
        // 40 KiB: above the chain's 32 KiB limit, below CometBFT's own 64 KiB mempool limit.
        (
            "40 KiB memo",
            f.transfer_with(&key, 1, to, BLY, &oversized_memo, FeeTerms::default())
                .to_bytes(),
            ErrorCode::TxTooLarge,
        ),
    ];

    let mut hashes = Vec::new();
    let mut logs = std::collections::BTreeMap::new();
    for (what, bytes, expected) in &cases {
        let resp = rpc
            .broadcast_tx_sync(bytes)
            .unwrap_or_else(|e| panic!("{what}: broadcast failed: {e:#}"));
        assert_eq!(
            ErrorCode::from_u32(resp.code),
            Some(*expected),
            "{what}: got code {} ({})",
            resp.code,
            resp.log
        );
        assert!(!resp.log.is_empty(), "{what}: the rejection says why");
        hashes.push(resp.hash);
        logs.insert(*what, resp.log);
    }
    // The signature cases fail for the reason they were built for.
    for (what, why) in [
        ("recovery id 5", "v = 0 or 1"),
        ("v = 27/28", "subtract 27"),
        ("r above the group order", "out of range"),
        ("high-s signature", "high-s"),
    ] {
        assert!(logs[what].contains(why), "{what}: {}", logs[what]);
    }

    // A byte-identical resend of the committed transaction is refused too, either by
    // CometBFT's mempool cache or by the app's nonce check.
    match rpc.broadcast_tx_sync(&first.to_bytes()) {
        Ok(resp) => assert_eq!(ErrorCode::from_u32(resp.code), Some(ErrorCode::NonceTooLow)),
        Err(e) => assert!(e.to_string().contains("already exists in cache"), "{e:#}"),
    }

    // Nothing changed, and the chain keeps producing blocks and accepting good transfers.
    let later = net.wait_app_height(0, net.app_height(0) + 3);
    assert_eq!(balance(rpc, sender, later).unwrap(), balance_before);
    assert_eq!(nonce(rpc, sender, later).unwrap(), nonce_before);
    for hash in &hashes {
        assert!(
            rpc.tx(hash).unwrap().is_none(),
            "rejected tx {hash} was committed"
        );
    }
    let good = f.transfer(&key, 1, to, BLY);
    assert_eq!(rpc.broadcast_tx_sync(&good.to_bytes()).unwrap().code, 0);
    let committed = rpc
        .wait_tx(&good.hash().to_hex(), Duration::from_secs(30))
        .unwrap()
        .raw;
    assert_eq!(tx_code(&committed), 0);
    assert_eq!(nonce(rpc, sender, 0).unwrap(), 2);
}

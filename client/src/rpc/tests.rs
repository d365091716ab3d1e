//! The client's parsing of CometBFT answers, against a one-connection-per-answer HTTP
//! server on loopback.

use blyan_proto::query::QueryPath;
use parity_scale_codec::Encode;

use super::*;
use crate::testserver::{b64, serve};

#[test]
fn typed_queries_decode_refuse_and_pin_the_height() {
    let ok = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"response":{{"code":0,"log":"","value":"{}","height":"7"}}}}}}"#,
        b64(&"blyan-test".to_string().encode())
    );
    let refused = r#"{"jsonrpc":"2.0","id":1,"result":{"response":{"code":6,"log":"unknown model","value":null}}}"#;
    let empty = r#"{"jsonrpc":"2.0","id":1,"result":{"response":{"code":0,"value":""}}}"#;
    let trailing = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"response":{{"value":"{}"}}}}}}"#,
        b64(&[1, 0, 0, 0, 0, 0, 0, 0, 9])
    );
    let (url, h) = serve(vec![
        (vec!["abci_query", "/chain/id", r#""height":"7""#], ok),
        (vec![r#""height":"0""#], refused.to_string()),
        (vec![], empty.to_string()),
        (vec![], trailing),
    ]);
    let rpc = RpcClient::new(&url);
    assert_eq!(rpc.base(), url.trim_end_matches('/'));
    let id: String = rpc.query_at(&QueryPath::ChainId, 7).unwrap();
    assert_eq!(id, "blyan-test");
    let e = rpc.query::<String>(&QueryPath::ChainId).unwrap_err();
    assert!(matches!(e, ClientError::Query { code: 6, .. }), "{e}");
    let e = rpc.query::<u64>(&QueryPath::BaseFee).unwrap_err();
    assert!(matches!(e, ClientError::NotFound(_)), "{e}");
    let e = rpc.query::<u64>(&QueryPath::BaseFee).unwrap_err();
    assert!(matches!(e, ClientError::Decode { .. }), "{e}");
    h.join().unwrap();
}

#[test]
fn proved_queries_carry_key_value_height_and_proof() {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"response":{{"code":0,"key":"{}","value":"{}","height":"12","proofOps":{{"ops":[{{"type":"blyan:jmt:sha256","key":"","data":"{}"}}]}}}}}}}}"#,
        b64(b"k"),
        b64(b"v"),
        b64(&[1, 2, 3])
    );
    let (url, h) = serve(vec![(vec![r#""prove":true"#], body)]);
    let r = RpcClient::new(&url)
        .at_height(12)
        .abci_query(&QueryPath::ChainId, true)
        .unwrap();
    assert_eq!(
        (r.key, r.value, r.height),
        (b"k".to_vec(), b"v".to_vec(), 12)
    );
    assert_eq!(r.proof, Some(vec![1, 2, 3]));
    h.join().unwrap();
}

#[test]
fn block_hashes_transactions_and_errors() {
    let (url, h) = serve(vec![
        (
            vec![r#""method":"block""#, r#""height":"12""#],
            r#"{"jsonrpc":"2.0","id":1,"result":{"block_id":{"hash":"A1B2C3D4","parts":{}},"block":{}}}"#.into(),
        ),
        (
            vec![r#""height":"99""#],
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"height 99 must be less than or equal to the current blockchain height 12"}}"#.into(),
        ),
        (
            vec![r#""method":"tx""#],
            r#"{"jsonrpc":"2.0","id":1,"result":{"hash":"AB","height":"5","tx_result":{"code":3,"log":"no","gas_used":"21000","events":[{"type":"fee","attributes":[{"key":"burned","value":"10","index":true}]}]}}}"#.into(),
        ),
        (
            vec![r#""method":"tx""#],
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":"tx (AB) not found"}}"#.into(),
        ),
    ]);
    let rpc = RpcClient::new(&url);
    assert_eq!(rpc.block_hash(12).unwrap(), vec![0xa1, 0xb2, 0xc3, 0xd4]);
    let e = rpc.block_hash(99).unwrap_err();
    assert!(e.to_string().contains("height 99"), "{e}");
    let t = rpc.tx("AB").unwrap().unwrap();
    assert_eq!(
        (t.height, t.code, t.log.as_str(), t.gas_used),
        (5, 3, "no", 21000)
    );
    assert_eq!(t.events[0].kind, "fee");
    assert_eq!(t.events[0].get("burned"), Some("10"));
    assert_eq!(rpc.tx("AB").unwrap(), None);
    h.join().unwrap();
}

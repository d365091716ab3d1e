use blyan_proto::address::Address;
use blyan_proto::dag::{ModelArch, ModelInfo, ParamBlock, SemVer, ValidationSet};
use parity_scale_codec::Encode;

use base64::Engine as _;

use super::*;
use crate::model::MetaConfig;
use blyan_proto::dag::BlockType;

fn info(meta: &MetaConfig) -> ModelInfo {
    ModelInfo {
        id: "m".into(),
        owner: Address([7; 20]),
        arch: ModelArch {
            arch: meta.arch.clone(),
            n_layers: meta.n_layers as u32,
            n_experts: meta.n_experts as u32,
        },
        meta_block: [1; 32],
        meta_json: serde_json::to_string(meta).unwrap(),
        deposit: 0,
        blocks: 0,
        validation: Some(ValidationSet {
            cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
            hash: [9; 32],
            baseline_loss_micro: 5_500_000,
        }),
        loss_micro: Some(5_400_000),
    }
}

fn head(name: &str, i: u8) -> ParamBlock {
    ParamBlock {
        id: [i; 32],
        model: "m".into(),
        block_type: block_type(name).unwrap(),
        name: name.into(),
        layer: None,
        depends_on: vec![],
        payload_hash: [i; 32],
        cid: format!("cid-{name}"),
        size: 1000 + u64::from(i),
        version: SemVer {
            major: 1,
            minor: 0,
            patch: 0,
        },
        author: Address([7; 20]),
        height: 3,
    }
}

/// The SCALE bytes the chain answers, decoded and turned into a manifest: every block of
/// the architecture, in load order, with the head's hash, size and CID.
#[test]
fn manifest_from_scale_answers() {
    let meta = MetaConfig::tiny();
    let info_bytes = info(&meta).encode();
    let got_info = decode_model_info(&info_bytes).unwrap();
    assert_eq!(got_info, info(&meta));
    let names: Vec<String> = Model::block_names(&meta)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let encoded: Vec<(String, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), head(n, i as u8).encode()))
        .collect();
    let m = manifest_from_chain(&got_info, |name| {
        let bytes = &encoded.iter().find(|(n, _)| n == name).unwrap().1;
        Ok(decode_param_block(bytes).unwrap())
    })
    .unwrap();
    assert_eq!(m.meta, meta);
    crate::source::check_manifest(&m).unwrap();
    for (i, (b, n)) in m.blocks.iter().zip(&names).enumerate() {
        assert_eq!(&b.name, n);
        assert_eq!(b.payload_hash.0, [i as u8; 32]);
        assert_eq!(b.size, 1000 + i as u64);
        assert_eq!(b.cid.as_deref(), Some(format!("cid-{n}").as_str()));
        assert_eq!(b.file, format!("{n}.blyt"));
    }
}

#[test]
fn trailing_or_short_scale_is_refused() {
    let meta = MetaConfig::tiny();
    let mut bytes = info(&meta).encode();
    bytes.push(0);
    assert!(decode_model_info(&bytes).unwrap_err().contains("trailing"));
    let bytes = head("embed", 1).encode();
    assert!(decode_param_block(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn arch_mismatch_and_wrong_head_are_refused() {
    let meta = MetaConfig::tiny();
    let mut i = info(&meta);
    i.arch.n_experts += 1;
    let e = manifest_from_chain(&i, |n| Ok(head(n, 0))).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");

    let i = info(&meta);
    let e = manifest_from_chain(&i, |n| {
        Ok(if n == "head" {
            head("embed", 0)
        } else {
            head(n, 0)
        })
    })
    .unwrap_err();
    assert!(e.to_string().contains("block head"), "{e}");

    let mut i = info(&meta);
    i.meta_json = "{}".into();
    assert!(manifest_from_chain(&i, |n| Ok(head(n, 0))).is_err());
}

#[test]
fn type_from_name() {
    assert_eq!(block_type("embed").unwrap(), BlockType::Backbone);
    assert_eq!(block_type("head").unwrap(), BlockType::Backbone);
    assert_eq!(block_type("layer0.backbone").unwrap(), BlockType::Backbone);
    assert_eq!(block_type("layer3.router").unwrap(), BlockType::Router);
    assert_eq!(block_type("layer1.expert7").unwrap(), BlockType::Expert);
    assert!(block_type("layer1.expert").is_err());
    assert!(block_type("meta").is_err());
    assert!(block_type("foo").is_err());
}

#[test]
fn validation_hash_is_sha3_of_the_bytes() {
    // sha3-256("") is a104…434a
    assert_eq!(
        hex::encode(validation_hash(b"")),
        "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
    );
}

/// A JSON-RPC server answering one abci_query, to check the client's parsing.
#[test]
fn rpc_client_parses_abci_query() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let meta = MetaConfig::tiny();
    let value = base64::engine::general_purpose::STANDARD.encode(info(&meta).encode());
    let h = std::thread::spawn(move || {
        for body in [
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"response":{{"code":0,"log":"","value":"{value}"}}}}}}"#),
            r#"{"jsonrpc":"2.0","id":1,"result":{"response":{"code":6,"log":"unknown model","value":null}}}"#.to_string(),
        ] {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let mut req = Vec::new();
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let t = String::from_utf8_lossy(&req);
                if let Some(i) = t.find("\r\n\r\n") {
                    let len: usize = t
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                        .unwrap_or(0);
                    if req.len() >= i + 4 + len {
                        assert!(t.contains("abci_query") && t.contains("/dag/meta/m"), "{t}");
                        break;
                    }
                }
            }
            write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        }
    });
    let rpc = RpcClient::new(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(rpc.model_info("m").unwrap(), info(&meta));
    let e = rpc.model_info("m").unwrap_err();
    assert!(matches!(e, ChainError::Query { code: 6, .. }), "{e}");
    h.join().unwrap();
}

//! A loopback HTTP server answering JSON-RPC requests from a script, for unit tests.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use base64::Engine as _;

/// Serves `bodies` in order, one per connection; each request must contain every string
/// of its `expect` list.
pub(crate) fn serve(answers: Vec<(Vec<&'static str>, String)>) -> (String, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
    let h = std::thread::spawn(move || {
        for (expect, body) in answers {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let mut req = Vec::new();
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let t = String::from_utf8_lossy(&req).to_string();
                if let Some(i) = t.find("\r\n\r\n") {
                    let len: usize = t
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= i + 4 + len {
                        for e in &expect {
                            assert!(t.contains(e), "{e} not in {t}");
                        }
                        break;
                    }
                }
                assert!(n > 0, "connection closed early");
            }
            write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        }
    });
    (url, h)
}

/// Standard base64.
pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A JSON-RPC answer of `abci_query` carrying `value`.
pub(crate) fn query_answer(value: &[u8]) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"response":{{"code":0,"value":"{}"}}}}}}"#,
        b64(value)
    )
}

/// A JSON-RPC answer of `broadcast_tx_sync` with `code`.
pub(crate) fn broadcast_answer(code: u32) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"code":{code},"log":"l","hash":"AB"}}}}"#)
}

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use super::client::api_base_url;
use super::*;

/// sha2-256 of nothing, as a raw CIDv1: the CID of the empty file.
const EMPTY: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

/// Deterministic test bytes.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn cid_text_round_trips_and_has_one_spelling() {
    let cid: Cid = EMPTY.parse().unwrap();
    assert_eq!(cid.codec(), CODEC_RAW);
    assert_eq!(cid.to_string(), EMPTY);
    assert_eq!(Cid::from_bytes(&cid.to_bytes()).unwrap(), cid);
    let pb = Cid::dag_pb([7; 32]);
    assert!(pb.to_string().starts_with("bafybei"), "{pb}");
    assert_eq!(pb.to_string().parse::<Cid>().unwrap(), pb);
    let json = serde_json::to_string(&pb).unwrap();
    assert_eq!(serde_json::from_str::<Cid>(&json).unwrap(), pb);
}

#[test]
fn cid_rejects_other_forms() {
    for (text, why) in [
        ("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", "CIDv0"),
        (&EMPTY.to_uppercase(), "must start with 'b'"),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",
            "base32",
        ),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykuu",
            "base32",
        ),
        (
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1",
            "base32",
        ),
        ("", "must start with 'b'"),
        ("b", "truncated"),
    ] {
        let e = text.parse::<Cid>().unwrap_err().to_string();
        assert!(e.contains(why), "{text}: {e}");
    }
    // Digests of another length.
    let mut long = Cid::raw([1; 32]).to_bytes();
    long.push(0);
    assert!(Cid::from_bytes(&long)
        .unwrap_err()
        .contains("digest of 33 bytes"));
    assert!(Cid::from_bytes(&long[..30])
        .unwrap_err()
        .contains("digest of 26 bytes"));
    // dag-cbor (0x71) is not a codec Blyan records.
    let mut b = Cid::raw([1; 32]).to_bytes();
    b[1] = 0x71;
    assert!(Cid::from_bytes(&b).unwrap_err().contains("codec 0x71"));
    // A path or query cannot ride in on a CID.
    assert!(format!("{EMPTY}/x").parse::<Cid>().is_err());
    assert!(format!("{EMPTY}&arg=y").parse::<Cid>().is_err());
}

#[test]
fn small_files_are_one_raw_block() {
    assert_eq!(cid_of_bytes(&[]).to_string(), EMPTY);
    for n in [1, 1000, CHUNK_SIZE] {
        let data = bytes(n, 1);
        let cid = cid_of_bytes(&data);
        assert_eq!(cid.codec(), CODEC_RAW);
        use sha2::Digest;
        assert_eq!(cid.digest()[..], sha2::Sha256::digest(&data)[..]);
        assert_eq!(cid_of_reader(&data[..]).unwrap(), cid);
    }
}

#[test]
fn larger_files_are_dag_pb_and_reader_agrees() {
    for n in [CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5] {
        let data = bytes(n, 2);
        let cid = cid_of_bytes(&data);
        assert_eq!(cid.codec(), CODEC_DAG_PB);
        // A reader that hands out odd-sized pieces gives the same chunks.
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(4099);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        assert_eq!(cid_of_reader(Dribble(&data)).unwrap(), cid);
    }
}

/// CIDs that `ipfs add -n --cid-version=1 --raw-leaves --chunker=size-262144` of Kubo
/// 0.43.0 printed for `bytes(len, seed)`: one raw block, one dag-pb level, two levels
/// (176 chunks > 174 links).
#[test]
fn cids_match_kubo() {
    let vectors = [
        (0, 0, EMPTY),
        (
            1000,
            1,
            "bafkreibdscwbys264spnvo24zfyjkihco7rtvqwhnffv5ucml3mp3kv5ym",
        ),
        (
            CHUNK_SIZE,
            1,
            "bafkreibhwp52z7oedbdzl5oqu3qgfhn2hoh2rhl6mxecb7ze7lbfktgi5q",
        ),
        (
            CHUNK_SIZE + 1,
            2,
            "bafybeia5ncho3tvcfogty77lvk3m5fkmhcukle65qjkhzw4gepmzj7gnje",
        ),
        (
            3 * CHUNK_SIZE + 5,
            2,
            "bafybeiaj3lyg36ho2wryutyziyacaw64xyev4dtsvw3skpcifjdolh4heu",
        ),
        (
            175 * CHUNK_SIZE + 7,
            4,
            "bafybeihz2px4kipatjdotzqcf5hm6ftk7xh63mbdbbs25s4hqm4g3s47ki",
        ),
    ];
    for (len, seed, want) in vectors {
        assert_eq!(
            cid_of_bytes(&bytes(len, seed)).to_string(),
            want,
            "{len} bytes"
        );
    }
}

#[test]
fn api_addresses() {
    let ok = [
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
        ("127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("/ip4/127.0.0.1/tcp/26605", "http://127.0.0.1:26605"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
        ("/dns4/localhost/tcp/5001/http", "http://localhost:5001"),
    ];
    for (a, want) in ok {
        assert_eq!(api_base_url(a).unwrap(), want, "{a}");
    }
    for a in [
        "",
        "/ip4/127.0.0.1/udp/5001",
        "/ip4/127.0.0.1/tcp/x",
        "http://h:1/api",
    ] {
        assert!(api_base_url(a).is_err(), "{a}");
    }
}

/// A one-request HTTP server on loopback: returns its URL and a handle yielding the
/// request (head and body) it got.
fn fake_kubo(status: u16, body: String) -> (String, JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        let mut req_body = vec![0; len];
        reader.read_exact(&mut req_body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        (head, req_body)
    });
    (url, handle)
}

#[test]
fn add_sends_the_fixed_parameters_and_checks_the_cid() {
    let data = bytes(1000, 3);
    let want = cid_of_bytes(&data);
    let (url, h) = fake_kubo(
        200,
        format!("{{\"Name\":\"blob\",\"Hash\":\"{want}\",\"Size\":\"1000\"}}\n"),
    );
    let got = KuboClient::new(&url).unwrap().add_bytes(&data).unwrap();
    assert_eq!(got, want);
    let (head, body) = h.join().unwrap();
    let request_line = head.lines().next().unwrap();
    assert!(
        request_line.starts_with("POST /api/v0/add?"),
        "{request_line}"
    );
    for (k, v) in ADD_PARAMS {
        assert!(
            request_line.contains(&format!("{k}={v}")),
            "{k}={v} missing: {request_line}"
        );
    }
    assert!(head
        .to_ascii_lowercase()
        .contains("multipart/form-data; boundary=blyan-"));
    // The file travels unchanged inside the multipart body.
    assert!(body.windows(data.len()).any(|w| w == data.as_slice()));

    // A node answering another CID (other parameters) is refused.
    let other = cid_of_bytes(b"something else");
    let (url, h) = fake_kubo(200, format!("{{\"Hash\":\"{other}\"}}\n"));
    let e = KuboClient::new(&url).unwrap().add_bytes(&data).unwrap_err();
    assert!(matches!(e, IpfsError::CidMismatch { .. }), "{e}");
    h.join().unwrap();
}

#[test]
fn kubo_errors_carry_its_message() {
    let (url, h) = fake_kubo(
        500,
        r#"{"Message":"context deadline exceeded","Code":0,"Type":"error"}"#.into(),
    );
    let cid = cid_of_bytes(b"x");
    let e = KuboClient::new(&url).unwrap().cat(&cid, 10).unwrap_err();
    assert!(
        matches!(&e, IpfsError::Api { endpoint: "cat", status: 500, message } if message == "context deadline exceeded"),
        "{e}"
    );
    let (head, _) = h.join().unwrap();
    assert!(
        head.starts_with(&format!("POST /api/v0/cat?timeout=60000ms&arg={cid} ")),
        "{head}"
    );
}

#[test]
fn cat_enforces_the_size_limit() {
    let (url, h) = fake_kubo(200, "0123456789".into());
    let cid = cid_of_bytes(b"x");
    let e = KuboClient::new(&url).unwrap().cat(&cid, 9).unwrap_err();
    assert!(matches!(e, IpfsError::TooLarge { limit: 9, .. }), "{e}");
    h.join().unwrap();
    let (url, h) = fake_kubo(200, "0123456789".into());
    assert_eq!(
        KuboClient::new(&url).unwrap().cat(&cid, 10).unwrap(),
        b"0123456789"
    );
    h.join().unwrap();
}

#[test]
fn unreachable_api_is_a_transport_error() {
    // Bind then drop: nothing listens there any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = KuboClient::new(&format!("127.0.0.1:{port}"))
        .unwrap()
        .id()
        .unwrap_err();
    assert!(
        matches!(e, IpfsError::Transport { endpoint: "id", .. }),
        "{e}"
    );
}

//! Following new blocks: a websocket subscription to CometBFT's `NewBlock` events, with
//! polling of `status` whenever the subscription is down, so a worker wakes once per block
//! and keeps going across node restarts.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::RpcClient;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Yields the height of each new block.
pub struct BlockFollower {
    rpc: RpcClient,
    socket: Option<Socket>,
    last: u64,
    retry_at: Instant,
}

impl std::fmt::Debug for BlockFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockFollower")
            .field("rpc", &self.rpc.base())
            .field("subscribed", &self.socket.is_some())
            .field("last", &self.last)
            .finish()
    }
}

impl BlockFollower {
    /// Follows the node at `rpc`, reporting heights above `from`.
    pub fn new(rpc: RpcClient, from: u64) -> Self {
        Self {
            rpc,
            socket: None,
            last: from,
            retry_at: Instant::now(),
        }
    }

    /// True while the websocket subscription is up.
    pub fn subscribed(&self) -> bool {
        self.socket.is_some()
    }

    fn subscribe(&mut self) {
        let url = format!(
            "{}/websocket",
            self.rpc
                .base()
                .replacen("http://", "ws://", 1)
                .replacen("https://", "wss://", 1)
        );
        let sock = tungstenite::connect(url.as_str())
            .ok()
            .and_then(|(mut s, _)| {
                let req = json!({"jsonrpc": "2.0", "method": "subscribe", "id": 1,
                "params": {"query": "tm.event='NewBlock'"}});
                s.send(Message::text(req.to_string())).ok()?;
                if let MaybeTlsStream::Plain(t) = s.get_ref() {
                    t.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                }
                Some(s)
            });
        if sock.is_none() {
            self.retry_at = Instant::now() + Duration::from_secs(5);
        }
        self.socket = sock;
    }

    /// Blocks until a height above the last reported one is committed (or `timeout`
    /// passes: `None`). Heights may skip when blocks come faster than the caller.
    pub fn next(&mut self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.socket.is_none() && Instant::now() >= self.retry_at {
                self.subscribe();
            }
            let h = match self.socket.as_mut() {
                Some(s) => match s.read() {
                    Ok(Message::Text(t)) => event_height(&t),
                    Ok(_) => None,
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        None
                    }
                    Err(_) => {
                        self.socket = None;
                        self.retry_at = Instant::now() + Duration::from_secs(2);
                        None
                    }
                },
                None => {
                    std::thread::sleep(Duration::from_millis(500));
                    self.rpc.latest_height().ok()
                }
            };
            if let Some(h) = h.filter(|h| *h > self.last) {
                self.last = h;
                return Some(h);
            }
        }
        None
    }
}

fn event_height(text: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(text).ok()?;
    let h = &v["result"]["data"]["value"]["block"]["header"]["height"];
    h.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_block_events_give_their_height() {
        let ev = r#"{"jsonrpc":"2.0","id":1,"result":{"query":"tm.event='NewBlock'","data":{"type":"tendermint/event/NewBlock","value":{"block":{"header":{"height":"42"}}}}}}"#;
        assert_eq!(super::event_height(ev), Some(42));
        assert_eq!(super::event_height(r#"{"result":{}}"#), None);
    }
}

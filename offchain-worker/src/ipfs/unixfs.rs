//! The UnixFS file DAG that `ipfs add` builds with Blyan's fixed parameters
//! ([`crate::ipfs::ADD_PARAMS`]: CIDv1, raw leaves, 256 KiB chunks, sha2-256, balanced
//! layout, at most 174 links per node), computed locally, so a CID can be checked against
//! the bytes without asking any Kubo node.
//!
//! - Every 262 144-byte chunk (the last one shorter) is a raw block: CID `raw(sha2-256(chunk))`.
//! - A file of at most one chunk is that raw block (the empty file is the empty raw block).
//! - Otherwise Kubo's balanced layout (boxo `importer/balanced`): the first leaf becomes the
//!   first child of a depth-1 node filled up to 174 leaves; while data remains the current
//!   root becomes the first child of a node one level deeper, filled with complete subtrees
//!   of the level below. Each inner node is dag-pb: its links in order (`Hash` = child CID,
//!   `Name` = "", `Tsize` = the child's block size plus its children's Tsize), then `Data` =
//!   the UnixFS protobuf `{Type: File, filesize, blocksizes: [child file sizes]}`.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::cid::{put_varint, Cid};

/// Chunk size of the fixed add parameters (`chunker=size-262144`).
pub const CHUNK_SIZE: usize = 262_144;
/// Links per UnixFS file node (`max-file-links=174`, Kubo's default).
pub const MAX_LINKS: usize = 174;

/// The CID `ipfs add` with [`crate::ipfs::ADD_PARAMS`] gives `bytes`.
pub fn cid_of_bytes(bytes: &[u8]) -> Cid {
    let mut chunks = bytes.chunks(CHUNK_SIZE).map(<[u8]>::to_vec);
    match build(&mut || Ok(chunks.next())) {
        Ok(cid) => cid,
        Err(_) => unreachable!("the chunks of a slice cannot fail to read"),
    }
}

/// The CID `ipfs add` with [`crate::ipfs::ADD_PARAMS`] gives the bytes `reader` yields.
pub fn cid_of_reader(mut reader: impl Read) -> io::Result<Cid> {
    build(&mut || {
        let mut buf = Vec::with_capacity(CHUNK_SIZE);
        (&mut reader)
            .take(CHUNK_SIZE as u64)
            .read_to_end(&mut buf)?;
        Ok((!buf.is_empty()).then_some(buf))
    })
}

/// A built subtree: its CID, its Tsize (bytes of every block in it), its file bytes.
struct Node {
    cid: Cid,
    tsize: u64,
    file_size: u64,
}

/// One chunk of look-ahead over a chunk source, as boxo's DagBuilderHelper keeps.
struct Chunker<'a> {
    next: &'a mut dyn FnMut() -> io::Result<Option<Vec<u8>>>,
    pending: Option<Vec<u8>>,
}

impl Chunker<'_> {
    fn done(&mut self) -> io::Result<bool> {
        if self.pending.is_none() {
            self.pending = (self.next)()?;
        }
        Ok(self.pending.is_none())
    }

    fn leaf(&mut self) -> io::Result<Node> {
        self.done()?;
        let chunk = self.pending.take().unwrap_or_default();
        Ok(Node {
            cid: Cid::raw(Sha256::digest(&chunk).into()),
            tsize: chunk.len() as u64,
            file_size: chunk.len() as u64,
        })
    }
}

fn build(next: &mut dyn FnMut() -> io::Result<Option<Vec<u8>>>) -> io::Result<Cid> {
    let mut ch = Chunker {
        next,
        pending: None,
    };
    let mut root = ch.leaf()?;
    let mut depth = 1;
    while !ch.done()? {
        root = fill(&mut ch, vec![root], depth)?;
        depth += 1;
    }
    Ok(root.cid)
}

fn fill(ch: &mut Chunker<'_>, mut children: Vec<Node>, depth: u32) -> io::Result<Node> {
    while children.len() < MAX_LINKS && !ch.done()? {
        let child = if depth == 1 {
            ch.leaf()?
        } else {
            fill(ch, Vec::new(), depth - 1)?
        };
        children.push(child);
    }
    Ok(encode(&children))
}

/// The dag-pb node over `children`.
fn encode(children: &[Node]) -> Node {
    let file_size: u64 = children.iter().map(|c| c.file_size).sum();
    // UnixFS Data: Type = File (2), filesize, blocksizes (proto2, not packed).
    let mut data = vec![0x08, 0x02, 0x18];
    put_varint(&mut data, file_size);
    for c in children {
        data.push(0x20);
        put_varint(&mut data, c.file_size);
    }
    // PBNode: Links (field 2) first, then Data (field 1), as dag-pb's canonical form.
    let mut node = Vec::with_capacity(children.len() * 48 + data.len() + 8);
    for c in children {
        let cid = c.cid.to_bytes();
        let mut link = vec![0x0a];
        put_varint(&mut link, cid.len() as u64);
        link.extend_from_slice(&cid);
        link.extend_from_slice(&[0x12, 0x00, 0x18]); // Name "", then Tsize
        put_varint(&mut link, c.tsize);
        node.push(0x12);
        put_varint(&mut node, link.len() as u64);
        node.extend_from_slice(&link);
    }
    node.push(0x0a);
    put_varint(&mut node, data.len() as u64);
    node.extend_from_slice(&data);
    Node {
        cid: Cid::dag_pb(Sha256::digest(&node).into()),
        tsize: node.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>(),
        file_size,
    }
}

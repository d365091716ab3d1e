//! Two real Kubo nodes on loopback, connected to each other and to nothing else: the blocks
//! of a `tiny` model added on node A (fixed add parameters) are fetched by CID on node B by
//! bitswap, hash to the manifest's payload hashes, and give the same CIDs when B adds
//! them; tampered, truncated and mislabelled blocks are refused naming the block.
//!
//! Needs the pinned Kubo at `.bin/ipfs` (`localnet/install.sh`) or `$KUBO_BIN`; without it
//! the test fails saying so.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use blyan_tests::kubo::KuboNode;
use blyan_tests::ports::free_port_block;
use blyan_tests::Processes;
use blyan_worker::ipfs::{
    self, add_model, cid_of_bytes, cid_of_reader, Cid, IpfsError, KuboSource,
};
use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::source::{
    load_model, open_block, save_model, BlockSource, DirSource, ModelManifest, MANIFEST_FILE,
};
use blyan_worker::tensorblock::{TensorBlock, DEFAULT_TILE_SIZE};
use candle_core::Device;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e:#}"))
}

trait MustFail<E> {
    fn must_fail(self, what: &str) -> E;
}

impl<T, E> MustFail<E> for Result<T, E> {
    fn must_fail(self, what: &str) -> E {
        match self {
            Ok(_) => panic!("{what}"),
            Err(e) => e,
        }
    }
}

/// Writes a model directory `to` from the blocks `src` fetched and `manifest`, for loading
/// through a plain [`DirSource`].
fn write_model_dir(to: &Path, manifest: &ModelManifest, src: &dyn BlockSource) {
    fs::create_dir_all(to).unwrap();
    for b in &manifest.blocks {
        fs::copy(ok(src.fetch(b), "fetch"), to.join(&b.file)).unwrap();
    }
    fs::write(
        to.join(MANIFEST_FILE),
        serde_json::to_vec(manifest).unwrap(),
    )
    .unwrap();
}

#[test]
fn kubo_content_crosses_nodes() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut procs = Processes::new();
    let base = ok(free_port_block(6), "ports");
    let a = ok(
        KuboNode::start(
            &mut procs,
            &tmp.path().join("kubo0"),
            base,
            base + 1,
            base + 2,
        ),
        "starting Kubo node A",
    );
    let b = ok(
        KuboNode::start(
            &mut procs,
            &tmp.path().join("kubo1"),
            base + 3,
            base + 4,
            base + 5,
        ),
        "starting Kubo node B",
    );
    assert_ne!(a.peer_id, b.peer_id);
    assert_eq!(ok(a.client.version(), "version"), "0.43.0");
    ok(a.connect(&b), "connecting A and B");
    eprintln!("two Kubo nodes up and connected in {:?}", started.elapsed());

    // `model init --preset tiny`, then every block added on A.
    let dev = Device::Cpu;
    let cfg = ok(MetaConfig::preset("tiny"), "preset");
    let model = ok(Model::init(&cfg, 7, &dev), "model init");
    let model_dir = tmp.path().join("model");
    let written = ok(
        save_model(&model, &model_dir, DEFAULT_TILE_SIZE, |_, _, _| {}),
        "save",
    );
    let manifest = ok(
        add_model(&a.client, &model_dir, |_, _, _| {}),
        "adding blocks on A",
    );
    assert_eq!(manifest.blocks.len(), written.blocks.len());
    let on_disk: ModelManifest =
        serde_json::from_slice(&fs::read(model_dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(on_disk, manifest, "add_model records the CIDs in meta.json");
    for e in &manifest.blocks {
        let cid: Cid = e
            .cid
            .as_deref()
            .expect("every block has a CID")
            .parse()
            .unwrap();
        let local = cid_of_reader(fs::File::open(model_dir.join(&e.file)).unwrap()).unwrap();
        assert_eq!(
            cid, local,
            "{}: A's CID is the one the fixed parameters give",
            e.name
        );
    }

    // B fetches every block by CID (it has none of them: bitswap from A) and verifies it.
    let cache_b = tmp.path().join("cache-b");
    let src = KuboSource::new(b.client.clone(), manifest.clone(), &cache_b);
    let t = Instant::now();
    let loaded = ok(
        load_model(&src, &dev, |_, _, _| {}),
        "loading the model through B",
    );
    eprintln!(
        "{} blocks fetched through B and verified in {:?}",
        manifest.blocks.len(),
        t.elapsed()
    );
    for e in &manifest.blocks {
        let cid: Cid = e.cid.as_deref().unwrap().parse().unwrap();
        let fetched = src.cache_path(&cid);
        assert_eq!(
            fs::read(&fetched).unwrap(),
            fs::read(model_dir.join(&e.file)).unwrap(),
            "{}: B's bytes are A's",
            e.name
        );
        let tb = ok(
            TensorBlock::open_verified(&fetched, &e.payload_hash),
            &e.name,
        );
        assert_eq!(tb.payload_hash(), e.payload_hash);
        // Same bytes added on B: same CID.
        assert_eq!(
            ok(b.client.add_file(&fetched), "add on B"),
            cid,
            "{}",
            e.name
        );
    }
    let names = Model::block_names(&cfg);
    for n in &names {
        let (x, y) = (
            ok(model.block_tensors(n), "tensors"),
            ok(loaded.block_tensors(n), "tensors"),
        );
        for ((tx, vx), (ty, vy)) in x.iter().zip(&y) {
            assert_eq!(tx, ty);
            assert_eq!(
                vx.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                vy.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                "{n}/{tx}"
            );
        }
    }

    // A file of several chunks (a dag-pb root over raw leaves) crosses the same way.
    let blob: Vec<u8> = (0..5 * ipfs::CHUNK_SIZE as u32 + 123)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let blob_cid = ok(a.client.add_bytes(&blob), "adding a 5-chunk blob on A");
    assert_eq!(blob_cid.codec(), ipfs::CODEC_DAG_PB);
    assert_eq!(blob_cid, cid_of_bytes(&blob));
    assert_eq!(
        ok(b.client.cat(&blob_cid, blob.len() as u64), "cat on B"),
        blob
    );
    assert_eq!(ok(b.client.add_bytes(&blob), "add on B"), blob_cid);
    ok(b.client.pin(&blob_cid), "pin on B");
    // The size limit holds on real content.
    let e = b.client.cat(&blob_cid, blob.len() as u64 - 1).unwrap_err();
    assert!(matches!(e, IpfsError::TooLarge { .. }), "{e}");

    // Tampering. A flipped byte in a fetched block: refused by open_verified, and the loader
    // names the block; nothing is loaded.
    let victim = &manifest.blocks[3];
    let victim_cid: Cid = victim.cid.as_deref().unwrap().parse().unwrap();
    let tampered_dir = tmp.path().join("tampered");
    write_model_dir(&tampered_dir, &manifest, &src);
    let path = tampered_dir.join(&victim.file);
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let e = TensorBlock::open_verified(&path, &victim.payload_hash)
        .must_fail("a flipped byte must not verify");
    eprintln!("flipped byte: {e}");
    let e = load_model(&DirSource::new(&tampered_dir), &dev, |_, _, _| {})
        .must_fail("tampered model must not load");
    assert!(
        e.to_string().contains(&format!("block {}:", victim.name)),
        "{e}"
    );
    eprintln!("flipped byte, loader: {e}");

    // A truncated file: same.
    let mut short = fs::read(model_dir.join(&victim.file)).unwrap();
    short.truncate(short.len() / 2);
    fs::write(&path, &short).unwrap();
    let e = load_model(&DirSource::new(&tampered_dir), &dev, |_, _, _| {})
        .must_fail("truncated model must not load");
    assert!(
        e.to_string().contains(&format!("block {}:", victim.name)),
        "{e}"
    );
    eprintln!("truncated: {e}");

    // A tampered cache entry is not trusted: the Kubo source fetches the block again.
    let cached = src.cache_path(&victim_cid);
    fs::write(&cached, &bytes).unwrap();
    assert!(TensorBlock::open_verified(&cached, &victim.payload_hash).is_err());
    ok(
        open_block(&src, victim),
        "refetch over a tampered cache entry",
    );
    assert_eq!(
        fs::read(&cached).unwrap(),
        fs::read(model_dir.join(&victim.file)).unwrap()
    );

    // A wrong CID on chain (another block's content, same size): fetched fine, refused on
    // the payload hash, naming the block.
    let other = manifest
        .blocks
        .iter()
        .find(|o| o.name != victim.name && o.size == victim.size)
        .expect("a block of the same size");
    let mut wrong = manifest.clone();
    wrong.blocks[3].cid = other.cid.clone();
    let wrong_src = KuboSource::new(b.client.clone(), wrong, tmp.path().join("cache-wrong"));
    let e = load_model(&wrong_src, &dev, |_, _, _| {}).must_fail("a wrong CID must not load");
    assert!(
        e.to_string().contains(&format!("block {}:", victim.name)),
        "{e}"
    );
    eprintln!("wrong CID: {e}");
    // …and a CID of content of another size is refused at fetch.
    let mut wrong = manifest.clone();
    wrong.blocks[3].cid = Some(blob_cid.to_string());
    let wrong_src = KuboSource::new(b.client.clone(), wrong, tmp.path().join("cache-wrong2"));
    let e = load_model(&wrong_src, &dev, |_, _, _| {}).must_fail("a wrong CID must not load");
    assert!(
        e.to_string()
            .contains(&format!("block {}: fetch:", victim.name)),
        "{e}"
    );
    eprintln!("wrong CID, other size: {e}");
    // …and no CID at all.
    let mut wrong = manifest.clone();
    wrong.blocks[3].cid = None;
    let e = load_model(
        &KuboSource::new(b.client.clone(), wrong, tmp.path().join("c3")),
        &dev,
        |_, _, _| {},
    )
    .must_fail("no CID");
    assert!(
        e.to_string()
            .contains(&format!("block {}: fetch: no CID", victim.name)),
        "{e}"
    );

    // Content nobody has: Kubo gives up at the client's time limit and says so.
    let nobody = cid_of_bytes(b"content that no node has");
    let quick = b.client.clone().with_timeout(Duration::from_secs(2));
    let t = Instant::now();
    let e = quick.cat(&nobody, 1 << 20).unwrap_err();
    assert!(
        matches!(
            e,
            IpfsError::Api {
                endpoint: "cat",
                ..
            }
        ),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    eprintln!("missing content: {e} after {:?}", t.elapsed());

    assert!(
        procs.not_running().is_empty(),
        "a Kubo node died: {:?}",
        procs.not_running()
    );
    eprintln!("kubo_content_crosses_nodes: {:?}", started.elapsed());
}

//! `blyan-worker ipfs …`: Kubo helpers with Blyan's fixed add parameters.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use blyan_worker::ipfs::{self, Cid, KuboClient, KuboSource};
use blyan_worker::source::{load_model, ModelManifest};
use candle_core::Device;
use clap::{Args, Subcommand};

use super::bar;

/// The Kubo node to use.
#[derive(Args)]
pub struct IpfsArgs {
    /// Kubo RPC API: `http://127.0.0.1:5001`, or a multiaddr `/ip4/127.0.0.1/tcp/5001`.
    #[arg(
        long,
        global = true,
        env = "BLYAN_IPFS_API",
        default_value = "http://127.0.0.1:5001"
    )]
    api: String,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    timeout: u64,
    #[command(subcommand)]
    command: IpfsCmd,
}

/// Kubo subcommands.
#[derive(Subcommand)]
enum IpfsCmd {
    /// Add (and pin) a file with the fixed parameters; prints its CID.
    Add {
        /// The file.
        file: PathBuf,
    },
    /// Print the CID the fixed add parameters give a file, without any Kubo node.
    Cid {
        /// The file.
        file: PathBuf,
    },
    /// Fetch a CID's content to stdout or a file.
    Cat {
        /// The CID (CIDv1, base32).
        cid: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Refuse content larger than this many bytes.
        #[arg(long, default_value_t = 1 << 30)]
        max_bytes: u64,
    },
    /// Pin a CID on the node (fetching it if needed).
    Pin {
        /// The CID.
        cid: String,
    },
    /// Print the node's peer id, version and addresses.
    Id,
    /// Add every block of a model directory and record the CIDs in its meta.json.
    AddModel {
        /// Model directory (with `meta.json`).
        #[arg(long)]
        model: PathBuf,
    },
    /// Fetch every block of a manifest (meta.json with CIDs) by CID into a cache directory
    /// and verify each against its payload hash.
    FetchModel {
        /// A manifest with CIDs.
        #[arg(long)]
        manifest: PathBuf,
        /// Cache directory.
        #[arg(long)]
        cache: PathBuf,
    },
}

/// Runs an ipfs subcommand.
pub fn run(a: IpfsArgs, device: &Device) -> Result<()> {
    if let IpfsCmd::Cid { file } = &a.command {
        let f = std::fs::File::open(file).with_context(|| file.display().to_string())?;
        println!("{}", ipfs::cid_of_reader(f)?);
        return Ok(());
    }
    let client = KuboClient::new(&a.api)?.with_timeout(Duration::from_secs(a.timeout));
    match a.command {
        IpfsCmd::Cid { .. } => {}
        IpfsCmd::Add { file } => println!("{}", client.add_file(&file)?),
        IpfsCmd::Cat {
            cid,
            out,
            max_bytes,
        } => {
            let cid: Cid = cid.parse()?;
            match out {
                Some(path) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(&path).with_context(|| path.display().to_string())?,
                    );
                    let n = client.cat_to(&cid, &mut f, max_bytes)?;
                    f.flush()?;
                    eprintln!("{cid}: {n} bytes to {}", path.display());
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    client.cat_to(&cid, &mut stdout, max_bytes)?;
                    stdout.flush()?;
                }
            }
        }
        IpfsCmd::Pin { cid } => {
            let cid: Cid = cid.parse()?;
            client.pin(&cid)?;
            println!("pinned {cid}");
        }
        IpfsCmd::Id => {
            let id = client.id()?;
            println!("peer id  {}", id.id);
            println!("version  {}", client.version()?);
            for addr in id.addresses {
                println!("address  {addr}");
            }
        }
        IpfsCmd::AddModel { model } => {
            let pb = bar(0, "adding");
            let m = ipfs::add_model(&client, &model, |i, n, name| {
                pb.set_length(n as u64);
                pb.set_position(i as u64);
                pb.set_message(name.to_string());
            })?;
            pb.finish_and_clear();
            for b in &m.blocks {
                println!(
                    "{:<18} {} {}",
                    b.name,
                    b.cid.as_deref().unwrap_or("-"),
                    b.payload_hash
                );
            }
            println!(
                "{} blocks added and pinned; CIDs written to {}/meta.json",
                m.blocks.len(),
                model.display()
            );
        }
        IpfsCmd::FetchModel { manifest, cache } => {
            let raw = std::fs::read(&manifest).with_context(|| manifest.display().to_string())?;
            let m: ModelManifest = serde_json::from_slice(&raw)
                .with_context(|| format!("{} is not a model manifest", manifest.display()))?;
            let n = m.blocks.len();
            let src = KuboSource::new(client, m, &cache);
            let pb = bar(n, "fetching");
            load_model(&src, device, |i, _, name| {
                pb.set_position(i as u64);
                pb.set_message(name.to_string());
            })?;
            pb.finish_and_clear();
            println!("{n} blocks fetched into {} and verified", cache.display());
        }
    }
    Ok(())
}

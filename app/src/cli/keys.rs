//! `blyand keys`: named keys in Ethereum keystore v3 files.

use std::path::PathBuf;

use serde_json::json;

use super::Output;
use anyhow::Context as _;
use blyan_client::Keyring;

/// Where passwords come from: `BLYAN_KEYRING_PASSWORD`, else a prompt on the terminal.
pub(super) fn password(prompt: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("BLYAN_KEYRING_PASSWORD") {
        return Ok(p);
    }
    rpassword::prompt_password(prompt)
        .context("reading the password (set BLYAN_KEYRING_PASSWORD for non-interactive use)")
}

/// Where keys live.
#[derive(Debug, clap::Args)]
pub struct KeyringArgs {
    /// Keyring directory (default `$BLYAN_HOME/keys` or `~/.blyan/keys`).
    #[arg(long, env = "BLYAN_KEYRING_DIR")]
    pub keyring_dir: Option<PathBuf>,
}

impl KeyringArgs {
    /// Opens the keyring.
    pub fn open(&self) -> anyhow::Result<Keyring> {
        Keyring::open(
            &self
                .keyring_dir
                .clone()
                .unwrap_or_else(Keyring::default_dir),
        )
        .map_err(Into::into)
    }
}

/// Key commands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Generate a new key.
    Add {
        /// Its name.
        name: String,
        #[command(flatten)]
        ring: KeyringArgs,
    },
    /// List keys and addresses.
    List {
        #[command(flatten)]
        ring: KeyringArgs,
    },
    /// Show a key's address.
    Show {
        /// Its name.
        name: String,
        #[command(flatten)]
        ring: KeyringArgs,
    },
    /// Import an Ethereum keystore v3 JSON file, or a raw private key.
    Import {
        /// Name to store it under.
        name: String,
        /// A keystore v3 JSON file (from geth, MetaMask, web3, ...).
        #[arg(conflicts_with = "private_key")]
        file: Option<PathBuf>,
        /// A hex private key instead of a file.
        #[arg(long)]
        private_key: Option<String>,
        #[command(flatten)]
        ring: KeyringArgs,
    },
    /// Write a key's keystore v3 JSON file (still encrypted) to a path.
    Export {
        /// Its name.
        name: String,
        /// Destination file.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        ring: KeyringArgs,
    },
}

/// Runs a key command.
pub(super) fn run(cmd: KeysCommand, out: Output) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Add { name, ring } => {
            let pw = password("Password for the new key: ")?;
            let addr = ring.open()?.add(&name, &pw)?;
            out.print(&json!({"name": name, "address": addr.to_string()}));
        }
        KeysCommand::List { ring } => {
            let keys = ring.open()?.list()?;
            let items: Vec<_> = keys
                .iter()
                .map(|(n, a)| json!({"name": n, "address": a.to_string()}))
                .collect();
            out.print(&json!(items));
        }
        KeysCommand::Show { name, ring } => {
            let addr = ring.open()?.address(&name)?;
            out.print(&json!({"name": name, "address": addr.to_string()}));
        }
        KeysCommand::Import {
            name,
            file,
            private_key,
            ring,
        } => {
            let ring = ring.open()?;
            let pw = password("Keystore password: ")?;
            let addr = match (file, private_key) {
                (Some(f), None) => ring.import_keystore(&name, &f, &pw)?,
                (None, Some(k)) => ring.import_private_key(&name, &k, &pw)?,
                _ => anyhow::bail!("give a keystore file or --private-key"),
            };
            out.print(&json!({"name": name, "address": addr.to_string()}));
        }
        KeysCommand::Export {
            name,
            out: path,
            ring,
        } => {
            ring.open()?.export(&name, &path)?;
            out.print(&json!({"name": name, "file": path.display().to_string()}));
        }
    }
    Ok(())
}

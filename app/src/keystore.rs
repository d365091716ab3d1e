//! A directory of Ethereum keystore v3 JSON files (scrypt + AES-128-CTR), one per named
//! key: a key made by an Ethereum wallet imports and shows the same address, and an
//! exported file opens in any Ethereum wallet.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use blyan_proto::{Address, SecretKey};
use serde_json::Value;

/// The keyring directory.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

/// Where passwords come from: `BLYAN_KEYRING_PASSWORD`, else a prompt on the terminal.
pub fn password(prompt: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("BLYAN_KEYRING_PASSWORD") {
        return Ok(p);
    }
    rpassword::prompt_password(prompt)
        .context("reading the password (set BLYAN_KEYRING_PASSWORD for non-interactive use)")
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("key names are 1-64 characters of letters, digits, '-' and '_': {name:?}");
    }
    Ok(())
}

impl Keyring {
    /// Opens (creating if needed) a keyring directory.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Keyring {
            dir: dir.to_path_buf(),
        })
    }

    /// The default keyring: `$BLYAN_HOME/keys` or `~/.blyan/keys`.
    pub fn default_dir() -> PathBuf {
        if let Ok(h) = std::env::var("BLYAN_HOME") {
            return PathBuf::from(h).join("keys");
        }
        let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
        PathBuf::from(home).join(".blyan").join("keys")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Stores `key` under `name`, encrypted with `password`.
    pub fn store(&self, name: &str, key: &SecretKey, password: &str) -> anyhow::Result<Address> {
        check_name(name)?;
        let path = self.path(name);
        if path.exists() {
            bail!(
                "a key named {name:?} already exists in {}",
                self.dir.display()
            );
        }
        let file = format!("{name}.json");
        eth_keystore::encrypt_key(
            &self.dir,
            &mut rand::rngs::OsRng,
            key.to_bytes(),
            password,
            Some(&file),
        )
        .map_err(|e| anyhow::anyhow!("encrypting the key: {e}"))?;
        // Add the address field geth writes, so listing needs no password.
        let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let addr = key.address();
        json["address"] = Value::String(hex::encode(addr.as_bytes()));
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
        Ok(addr)
    }

    /// Generates and stores a new key.
    pub fn add(&self, name: &str, password: &str) -> anyhow::Result<Address> {
        self.store(name, &SecretKey::generate(), password)
    }

    /// Imports an Ethereum keystore v3 file (decrypting it with `password` to check it),
    /// stored under `name` with the same password.
    pub fn import_keystore(
        &self,
        name: &str,
        file: &Path,
        password: &str,
    ) -> anyhow::Result<Address> {
        let secret = eth_keystore::decrypt_key(file, password)
            .map_err(|e| anyhow::anyhow!("cannot decrypt {}: {e}", file.display()))?;
        let key = SecretKey::from_bytes(&secret)?;
        self.store(name, &key, password)
    }

    /// Imports a raw hex private key.
    pub fn import_private_key(
        &self,
        name: &str,
        hex_key: &str,
        password: &str,
    ) -> anyhow::Result<Address> {
        let key = SecretKey::from_hex(hex_key)?;
        self.store(name, &key, password)
    }

    /// Decrypts a key.
    pub fn load(&self, name: &str, password: &str) -> anyhow::Result<SecretKey> {
        check_name(name)?;
        let path = self.path(name);
        if !path.exists() {
            bail!("no key named {name:?} in {}", self.dir.display());
        }
        let secret = eth_keystore::decrypt_key(&path, password)
            .map_err(|e| anyhow::anyhow!("cannot decrypt key {name:?}: {e}"))?;
        Ok(SecretKey::from_bytes(&secret)?)
    }

    /// The address of a stored key (from its `address` field; no password needed).
    pub fn address(&self, name: &str) -> anyhow::Result<Address> {
        check_name(name)?;
        let path = self.path(name);
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).with_context(|| format!("no key named {name:?}"))?,
        )?;
        let a = json["address"]
            .as_str()
            .with_context(|| format!("{} has no address field", path.display()))?;
        Ok(a.parse()?)
    }

    /// Every stored key, sorted by name.
    pub fn list(&self) -> anyhow::Result<Vec<(String, Address)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            if let Some(stem) = name.strip_suffix(".json") {
                if let Ok(a) = self.address(stem) {
                    out.push((stem.to_string(), a));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Copies a key's keystore file to `out` (still encrypted).
    pub fn export(&self, name: &str, out: &Path) -> anyhow::Result<()> {
        check_name(name)?;
        std::fs::copy(self.path(name), out).with_context(|| format!("exporting {name:?}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_load_export_import_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path()).unwrap();
        let a = ring.add("alice", "pw").unwrap();
        assert_eq!(ring.address("alice").unwrap(), a);
        assert_eq!(ring.list().unwrap(), vec![("alice".to_string(), a)]);
        assert_eq!(ring.load("alice", "pw").unwrap().address(), a);
        assert!(ring.load("alice", "wrong").is_err());
        assert!(ring.add("alice", "pw").is_err(), "names are unique");
        let out = dir.path().join("exported.keystore");
        ring.export("alice", &out).unwrap();
        let other = Keyring::open(&dir.path().join("other")).unwrap();
        assert_eq!(other.import_keystore("copy", &out, "pw").unwrap(), a);
        assert!(ring.add("../evil", "pw").is_err());
    }

    #[test]
    fn the_known_answer_key_imports_with_its_ethereum_address() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path()).unwrap();
        let a = ring
            .import_private_key(
                "kat",
                "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                "pw",
            )
            .unwrap();
        assert_eq!(a.to_string(), "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    }
}

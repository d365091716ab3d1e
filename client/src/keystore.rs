//! A directory of Ethereum keystore v3 JSON files (scrypt + AES-128-CTR), one per named
//! key: a key made by an Ethereum wallet imports and shows the same address, and an
//! exported file opens in any Ethereum wallet.

use std::path::{Path, PathBuf};

use blyan_proto::{Address, SecretKey};
use serde_json::Value;

/// Why a keyring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Key names are 1-64 characters of letters, digits, `-` and `_`.
    #[error("key names are 1-64 characters of letters, digits, '-' and '_': {0:?}")]
    BadName(String),
    /// A key of that name is already stored.
    #[error("a key named {name:?} already exists in {dir}")]
    Exists {
        /// The name.
        name: String,
        /// The keyring directory.
        dir: PathBuf,
    },
    /// No key of that name is stored.
    #[error("no key named {name:?} in {dir}")]
    Missing {
        /// The name.
        name: String,
        /// The keyring directory.
        dir: PathBuf,
    },
    /// Encryption or decryption failed (a wrong password, a damaged file).
    #[error("{0}")]
    Crypto(String),
    /// The bytes are not a secp256k1 secret key, or a file is not a keystore.
    #[error("{0}")]
    BadKey(String),
}

type Result<T> = std::result::Result<T, KeystoreError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Decrypts one Ethereum keystore v3 file (outside any keyring) with `password`.
pub fn decrypt_file(file: &Path, password: &str) -> Result<SecretKey> {
    let secret = eth_keystore::decrypt_key(file, password)
        .map_err(|e| KeystoreError::Crypto(format!("cannot decrypt {}: {e}", file.display())))?;
    SecretKey::from_bytes(&secret).map_err(|e| KeystoreError::BadKey(e.to_string()))
}

/// The keyring directory.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(KeystoreError::BadName(name.to_string()));
    }
    Ok(())
}

impl Keyring {
    /// Opens (creating if needed) a keyring directory.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
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

    fn missing(&self, name: &str) -> KeystoreError {
        KeystoreError::Missing {
            name: name.to_string(),
            dir: self.dir.clone(),
        }
    }

    /// Stores `key` under `name`, encrypted with `password`.
    pub fn store(&self, name: &str, key: &SecretKey, password: &str) -> Result<Address> {
        check_name(name)?;
        let path = self.path(name);
        if path.exists() {
            return Err(KeystoreError::Exists {
                name: name.to_string(),
                dir: self.dir.clone(),
            });
        }
        let file = format!("{name}.json");
        eth_keystore::encrypt_key(
            &self.dir,
            &mut rand::rngs::OsRng,
            key.to_bytes(),
            password,
            Some(&file),
        )
        .map_err(|e| KeystoreError::Crypto(format!("encrypting the key: {e}")))?;
        // Add the address field geth writes, so listing needs no password.
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let mut json: Value = serde_json::from_str(&text)
            .map_err(|e| KeystoreError::BadKey(format!("{}: {e}", path.display())))?;
        let addr = key.address();
        json["address"] = Value::String(hex::encode(addr.as_bytes()));
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| KeystoreError::BadKey(format!("{}: {e}", path.display())))?;
        std::fs::write(&path, text).map_err(io(&path))?;
        Ok(addr)
    }

    /// Generates and stores a new key.
    pub fn add(&self, name: &str, password: &str) -> Result<Address> {
        self.store(name, &SecretKey::generate(), password)
    }

    /// Imports an Ethereum keystore v3 file (decrypting it with `password` to check it),
    /// stored under `name` with the same password.
    pub fn import_keystore(&self, name: &str, file: &Path, password: &str) -> Result<Address> {
        let key = decrypt_file(file, password)?;
        self.store(name, &key, password)
    }

    /// Imports a raw hex private key.
    pub fn import_private_key(&self, name: &str, hex_key: &str, password: &str) -> Result<Address> {
        let key = SecretKey::from_hex(hex_key).map_err(|e| KeystoreError::BadKey(e.to_string()))?;
        self.store(name, &key, password)
    }

    /// Decrypts a key.
    pub fn load(&self, name: &str, password: &str) -> Result<SecretKey> {
        check_name(name)?;
        let path = self.path(name);
        if !path.exists() {
            return Err(self.missing(name));
        }
        let secret = eth_keystore::decrypt_key(&path, password)
            .map_err(|e| KeystoreError::Crypto(format!("cannot decrypt key {name:?}: {e}")))?;
        SecretKey::from_bytes(&secret).map_err(|e| KeystoreError::BadKey(e.to_string()))
    }

    /// The address of a stored key (from its `address` field; no password needed).
    pub fn address(&self, name: &str) -> Result<Address> {
        check_name(name)?;
        let path = self.path(name);
        let text = std::fs::read_to_string(&path).map_err(|_| self.missing(name))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| KeystoreError::BadKey(format!("{}: {e}", path.display())))?;
        let a = json["address"].as_str().ok_or_else(|| {
            KeystoreError::BadKey(format!("{} has no address field", path.display()))
        })?;
        a.parse()
            .map_err(|e| KeystoreError::BadKey(format!("{}: address: {e}", path.display())))
    }

    /// Every stored key, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, Address)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let name = entry
                .map_err(io(&self.dir))?
                .file_name()
                .to_string_lossy()
                .to_string();
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
    pub fn export(&self, name: &str, out: &Path) -> Result<()> {
        check_name(name)?;
        std::fs::copy(self.path(name), out).map_err(io(out))?;
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

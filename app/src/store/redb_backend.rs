//! The node's database: redb, one file, one table per first key byte (the store's prefix:
//! nodes, values, latest state, ... each get a smaller B-tree of their own), the byte
//! itself not stored.
//!
//! Each batch is one redb write transaction. Batches commit without fsync
//! ([`Durability::None`]) unless the store asks for durability; a durable commit also saves
//! redb's allocator state (quick repair), so reopening after a crash is fast and lands on the
//! last durable batch.

use std::path::Path;

use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle,
};

use super::kv::{KvBackend, KvEntry, KvSnapshot, KvWrite};
use super::StoreError;

/// The table holding the keys that start with `byte` (the byte itself is not stored).
fn table_name(byte: u8) -> String {
    format!("t{byte:02x}")
}

fn def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

/// `key` without its first byte (the table), and the table byte.
fn split(key: &[u8]) -> (u8, &[u8]) {
    match key.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, key),
    }
}

/// The file inside the data directory.
pub const DB_FILE: &str = "state.redb";

/// Files sled left in a data directory (the store of blyand before redb).
const SLED_FILES: [&str; 2] = ["conf", "db"];

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// A redb database.
pub struct RedbBackend {
    db: Database,
}

impl RedbBackend {
    /// Opens (or creates) the database in directory `dir` (file [`DB_FILE`]), with a page
    /// cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        if SLED_FILES.iter().all(|f| dir.join(f).is_file()) && !dir.join(DB_FILE).exists() {
            return Err(StoreError::OldFormat(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(Box::new(e)))?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(dir.join(DB_FILE))
            .map_err(db_err)?;
        Ok(RedbBackend { db })
    }

    /// A database in memory (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db_err)?;
        Ok(RedbBackend { db })
    }

    fn commit(&self, writes: Vec<KvWrite>, durable: bool) -> Result<(), redb::Error> {
        let mut txn = self.db.begin_write()?;
        if durable {
            txn.set_quick_repair(true);
        } else {
            txn.set_durability(Durability::None)?;
        }
        // `writes` is sorted: each table's writes are one run.
        let mut rest = writes.as_slice();
        while let Some(((first, _), _)) = rest.split_first() {
            let byte = split(first).0;
            let n = rest
                .iter()
                .position(|(k, _)| split(k).0 != byte)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(n);
            rest = tail;
            let name = table_name(byte);
            let mut table = txn.open_table(def(&name))?;
            for (k, v) in run {
                let key = split(k).1;
                match v {
                    Some(v) => {
                        table.insert(key, v.as_slice())?;
                    }
                    None => {
                        table.remove(key)?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl KvBackend for RedbBackend {
    fn read(&self) -> Result<Box<dyn KvSnapshot>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let mut tables: Vec<Option<Table>> = (0..=u8::MAX).map(|_| None).collect();
        let names: Vec<String> = txn
            .list_tables()
            .map_err(db_err)?
            .map(|h| h.name().to_string())
            .collect();
        for name in names {
            let Some(byte) = name
                .strip_prefix('t')
                .and_then(|b| u8::from_str_radix(b, 16).ok())
            else {
                continue;
            };
            if let Some(slot) = tables.get_mut(usize::from(byte)) {
                *slot = Some(txn.open_table(def(&name)).map_err(db_err)?);
            }
        }
        Ok(Box::new(RedbSnapshot { tables }))
    }

    fn apply(&self, mut writes: Vec<KvWrite>, durable: bool) -> Result<(), StoreError> {
        // Key order makes the B-tree inserts local; stable, so writes to one key keep
        // their order.
        writes.sort_by(|a, b| a.0.cmp(&b.0));
        self.commit(writes, durable).map_err(db_err)
    }

    fn clear(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let names: Vec<String> = txn
            .list_tables()
            .map_err(db_err)?
            .map(|h| h.name().to_string())
            .collect();
        for name in names {
            txn.delete_table(def(&name)).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.commit(Vec::new(), true).map_err(db_err)
    }
}

type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A read transaction's view of the tables (`None`: nothing was ever written there).
struct RedbSnapshot {
    tables: Vec<Option<Table>>,
}

impl RedbSnapshot {
    fn table(&self, byte: u8) -> Option<&Table> {
        self.tables.get(usize::from(byte)).and_then(Option::as_ref)
    }
}

impl KvSnapshot for RedbSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (byte, key) = split(key);
        let Some(t) = self.table(byte) else {
            return Ok(None);
        };
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<KvEntry>, StoreError> {
        if start > end {
            return Ok(None);
        }
        let (first, start_rest) = split(start);
        let (last, end_rest) = split(end);
        for byte in (first..=last).rev() {
            let Some(t) = self.table(byte) else {
                continue;
            };
            let lo = if byte == first { start_rest } else { &[][..] };
            let found = if byte == last {
                t.range(lo..=end_rest).map_err(db_err)?.next_back()
            } else {
                t.range(lo..).map_err(db_err)?.next_back()
            };
            if let Some(item) = found {
                let (k, v) = item.map_err(db_err)?;
                let mut key = vec![byte];
                key.extend_from_slice(k.value());
                return Ok(Some((key, v.value().to_vec())));
            }
        }
        Ok(None)
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        let (first, start_rest) = split(start);
        let (last, end_rest) = end.map_or((u8::MAX, None), |e| {
            let (b, rest) = split(e);
            (b, Some(rest))
        });
        let mut key = Vec::new();
        for byte in first..=last {
            let Some(t) = self.table(byte) else {
                continue;
            };
            let lo = if byte == first { start_rest } else { &[][..] };
            let range = match end_rest.filter(|_| byte == last) {
                Some(hi) if hi <= lo => continue,
                Some(hi) => t.range(lo..hi),
                None => t.range(lo..),
            }
            .map_err(db_err)?;
            for item in range {
                let (k, v) = item.map_err(db_err)?;
                key.clear();
                key.push(byte);
                key.extend_from_slice(k.value());
                f(&key, v.value());
            }
        }
        Ok(())
    }
}

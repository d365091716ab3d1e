//! The node's database: one redb table of byte keys and values in one file.
//!
//! Each batch is one redb write transaction. Batches commit without fsync
//! ([`Durability::None`]) unless the store asks for durability; a durable commit also saves
//! redb's allocator state (quick repair), so reopening after a crash is fast and lands on the
//! last durable batch.

use std::path::Path;

use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};

use super::kv::{KvBackend, KvEntry, KvSnapshot, KvWrite};
use super::StoreError;

/// The one table.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

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
        {
            let mut table = txn.open_table(STATE)?;
            for (k, v) in &writes {
                match v {
                    Some(v) => {
                        table.insert(k.as_slice(), v.as_slice())?;
                    }
                    None => {
                        table.remove(k.as_slice())?;
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
        let table = match txn.open_table(STATE) {
            Ok(t) => Some(t),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(db_err(e)),
        };
        Ok(Box::new(RedbSnapshot { table }))
    }

    fn apply(&self, mut writes: Vec<KvWrite>, durable: bool) -> Result<(), StoreError> {
        // Key order makes the B-tree inserts local; stable, so writes to one key keep
        // their order.
        writes.sort_by(|a, b| a.0.cmp(&b.0));
        self.commit(writes, durable).map_err(db_err)
    }

    fn clear(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.delete_table(STATE).map_err(db_err)?;
        txn.commit().map_err(db_err)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.commit(Vec::new(), true).map_err(db_err)
    }
}

/// A read transaction's view of the table (`None`: nothing was ever written).
struct RedbSnapshot {
    table: Option<ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl KvSnapshot for RedbSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(t) = &self.table else {
            return Ok(None);
        };
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<KvEntry>, StoreError> {
        let Some(t) = &self.table else {
            return Ok(None);
        };
        match t.range(start..=end).map_err(db_err)?.next_back() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item.map_err(db_err)?;
                Ok(Some((k.value().to_vec(), v.value().to_vec())))
            }
        }
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        let Some(t) = &self.table else {
            return Ok(());
        };
        let range = match end {
            Some(end) => t.range(start..end),
            None => t.range(start..),
        }
        .map_err(db_err)?;
        for item in range {
            let (k, v) = item.map_err(db_err)?;
            f(k.value(), v.value());
        }
        Ok(())
    }
}

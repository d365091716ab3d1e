//! The store's previous engine, sled, as a [`KvBackend`]: only here, so the benchmark can
//! print the baseline and the ratio in one run. Configured as the node configured it
//! (1 GiB cache, high-throughput mode, background sync); a read view is the live tree, as
//! sled has no snapshots, which is what the store used to read.

use std::path::Path;

use blyan_app::store::{KvBackend, KvEntry, KvSnapshot, KvWrite, StoreError};

fn err(e: sled::Error) -> StoreError {
    StoreError::Db(Box::new(e))
}

/// A sled database.
pub(crate) struct SledBackend {
    db: sled::Db,
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`.
    pub(crate) fn open(dir: &Path) -> Self {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(1024 * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .open()
            .expect("sled");
        SledBackend { db }
    }
}

impl KvBackend for SledBackend {
    fn read(&self) -> Result<Box<dyn KvSnapshot>, StoreError> {
        Ok(Box::new(SledView(self.db.clone())))
    }

    fn apply(&self, writes: Vec<KvWrite>, _durable: bool) -> Result<(), StoreError> {
        // sled syncs in the background every 500 ms, as the store used it.
        let mut batch = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.db.apply_batch(batch).map_err(err)
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.db.clear().map_err(err)?;
        self.flush()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(err)
    }
}

struct SledView(sled::Db);

impl KvSnapshot for SledView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).map_err(err)?.map(|v| v.to_vec()))
    }

    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<KvEntry>, StoreError> {
        match self.0.range(start..=end).next_back() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item.map_err(err)?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
        }
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        let range = match end {
            Some(end) => self.0.range(start..end),
            None => self.0.range(start..),
        };
        for item in range {
            let (k, v) = item.map_err(err)?;
            f(&k, &v);
        }
        Ok(())
    }
}

//! The results store: every executed cell, its raw samples and the evaluations made
//! from them, behind one [`ResultStore`] trait so other backends can sit beside the
//! SQLite one (`store/sqlite/`). The store reads and writes [`crate::record`] types only.

pub mod check;
pub mod claim;
#[cfg(test)]
pub(crate) mod conformance;
pub mod merge;
pub mod postgres;
pub(crate) mod rows;
pub mod sqlite;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::record::{CellRecord, CellStatus, EvaluationRecord, MachineClass};
use claim::{ClaimOutcome, ClaimRow, Claimant};

pub use sqlite::SqliteStore;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no results store at {path}: run `harness run` first to create one, \
         or pass --store with the path of an existing store"
    )]
    Missing { path: PathBuf },
    #[error(
        "{path} is not a usable results store ({detail}); \
         move it aside or pass --store with another path; nothing was changed"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "results store {path} has schema version {found}, newer than the {known} this harness \
         knows; use a newer harness or pass --store with another path; nothing was changed"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error(
        "cannot merge {path}: its schema version is {found}, this harness writes {known}; open it once with \
         this harness (e.g. `harness export --store {path}`) to migrate it, or use the harness that wrote it"
    )]
    SchemaMismatch { path: PathBuf, found: i64, known: i64 },
    #[error(
        "results store {path} cannot be written: {detail}; a run writes every cell there as it finishes. Pass \
         --store with a writable path (report, export and check read it as it is); nothing was changed"
    )]
    ReadOnly { path: PathBuf, detail: String },
    #[error(
        "the disk holding results store {path} is full: the cell being stored is lost, every cell stored before it \
         is kept. Free some space and run again (stored cells are skipped)"
    )]
    DiskFull { path: PathBuf },
    #[error("results store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL results store: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("store URL {url}: {detail}")]
    Url { url: String, detail: String },
    #[error("results store row could not be read: {0}")]
    Row(String),
    #[error("results store JSON column could not be (de)serialised: {0}")]
    Json(#[from] serde_json::Error),
}

impl StoreError {
    /// Whether the store the user named cannot be used as asked (exit 2: missing, damaged,
    /// newer, not writable, a bad URL), rather than a store that failed while in use (exit 1:
    /// a full disk, a lost connection, an I/O error). The backend picks the variant where the
    /// error is made (a damaged file found on opening is `Corrupt`, not `Sqlite`), so this
    /// never looks inside a message; a new variant must be placed here by the compiler's ask.
    pub fn is_bad_input(&self) -> bool {
        match self {
            StoreError::Missing { .. }
            | StoreError::Corrupt { .. }
            | StoreError::TooNew { .. }
            | StoreError::SchemaMismatch { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::Url { .. } => true,
            // A row that cannot be read is a failure while reading, as SQLite reports it
            // (a conversion error of the `Sqlite` kind), so both backends exit alike.
            StoreError::DiskFull { .. }
            | StoreError::Sqlite(_)
            | StoreError::Postgres(_)
            | StoreError::Row(_)
            | StoreError::Json(_) => false,
        }
    }
}

/// What every results store offers: the stages above talk to this, never to a backend.
pub trait ResultStore {
    /// Where the store lives (a file path, or a URL without credentials).
    fn location(&self) -> String;
    /// Schema version of the store.
    fn schema_version(&self) -> Result<i64, StoreError>;
    /// Keys of every recorded cell.
    fn keys(&self) -> Result<HashSet<String>, StoreError>;
    /// Keys of the cells that ended with `status` (e.g. failed cells to retry).
    fn keys_with_status(&self, status: CellStatus) -> Result<HashSet<String>, StoreError>;
    /// Keys of measured cells whose verdict is `verdict` (`valid`/`invalid`).
    fn keys_with_verdict(&self, verdict: &str) -> Result<HashSet<String>, StoreError>;
    /// The machine classes cells were measured on, with how many cells each.
    fn machine_classes(&self) -> Result<Vec<(MachineClass, usize)>, StoreError>;
    /// Writes the cell and its samples atomically, replacing a record with the same key.
    fn insert(&self, rec: &CellRecord) -> Result<(), StoreError>;
    /// The record stored under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<CellRecord>, StoreError>;
    /// Every record, ordered by start time then key.
    fn all(&self) -> Result<Vec<CellRecord>, StoreError>;
    /// How many cells ended with each status (statuses with no cells are omitted).
    fn count_by_status(&self) -> Result<Vec<(CellStatus, usize)>, StoreError>;
    /// Stores an evaluation; returns its id.
    fn insert_evaluation(&self, e: &EvaluationRecord) -> Result<i64, StoreError>;
    /// The most recent evaluation, if any.
    fn latest_evaluation(&self) -> Result<Option<EvaluationRecord>, StoreError>;
    /// Notes that cells came from another store (`harness merge`): source, time, count.
    fn record_provenance(&self, source: &str, cells: usize) -> Result<(), StoreError>;
    /// Claims the cell `key` for `me` until `ttl_s` from now, atomically among every runner of
    /// this store, by [`claim::decide`]'s rule ([`insert`](ResultStore::insert) drops the claim).
    fn claim(&self, key: &str, me: &Claimant, ttl_s: f64, redo_before: Option<f64>)
        -> Result<ClaimOutcome, StoreError>;
    /// Drops `owner`'s claim on `key` (a cell given up without storing it); `None`: whoever holds it.
    fn release(&self, key: &str, owner: Option<&str>) -> Result<(), StoreError>;
    /// Every claim held now.
    fn claims(&self) -> Result<Vec<ClaimRow>, StoreError>;
    /// What the backend itself finds wrong (a damaged file, rows that point nowhere); with
    /// `repair` it fixes what it safely can and says so in the findings.
    fn check_storage(&self, repair: bool) -> Result<Vec<check::Finding>, StoreError>;
}

/// A PostgreSQL URL given where a store path goes (`--store postgres://...`).
fn url_of(path: &Path) -> Option<&str> {
    path.to_str().filter(|s| postgres::is_url(s))
}

/// Opens (creating if absent) the store at `path`: a SQLite file, or a PostgreSQL URL.
pub fn open(path: &Path) -> Result<Box<dyn ResultStore>, StoreError> {
    if let Some(url) = url_of(path) {
        return Ok(Box::new(postgres::PgStore::open(url, false)?));
    }
    Ok(Box::new(SqliteStore::open(path)?))
}

/// Opens an existing store to read only (report, export): a store at this schema version
/// is not written to at all.
pub fn open_read_only(path: &Path) -> Result<Box<dyn ResultStore>, StoreError> {
    if let Some(url) = url_of(path) {
        return Ok(Box::new(postgres::PgStore::open(url, true)?));
    }
    Ok(Box::new(SqliteStore::open_read_only(path)?))
}

/// Opens an existing store; a missing one is an error (evaluate, recommend).
pub fn open_existing(path: &Path) -> Result<Box<dyn ResultStore>, StoreError> {
    if let Some(url) = url_of(path) {
        return Ok(Box::new(postgres::PgStore::open(url, true)?));
    }
    Ok(Box::new(SqliteStore::open_existing(path)?))
}

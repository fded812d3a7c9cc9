//! The SQLite store: one file holding every executed cell and its raw samples.
//!
//! SQLite because the user can query it directly with `sqlite3`, several worker
//! processes can append to it safely (WAL + `BEGIN IMMEDIATE` + a busy timeout),
//! and a cell's row and samples land in one transaction, so an interrupted run never
//! leaves a half-written cell behind.

mod evaluation;
mod rekey;
pub(crate) mod schema;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use rusqlite::types::Value;
use schema::{collect_samples, count, parse_status, read_cell};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{Finding, Severity};
use super::claim::{ClaimOutcome, ClaimRow, Claimant};
use super::{ResultStore, StoreError};
use crate::record::{CellRecord, CellStatus, EvaluationRecord, MachineClass};

type Res<T> = std::result::Result<T, StoreError>;

/// Every SQLite file starts with these 16 bytes.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An open results store. Cheap to open; one per process (or thread) is fine,
/// any number may write the same file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (and its parent folders) if absent and
    /// migrating it to the current schema. An existing file that is not a healthy
    /// SQLite database, or that a newer harness wrote, is refused untouched.
    ///
    /// Two runs that open one new store at the same instant race to create it and switch it
    /// to WAL; SQLite answers the loser "database is locked" without waiting (its busy
    /// timeout does not cover that step), so the open is retried until the busy timeout.
    pub fn open(path: &Path) -> Res<SqliteStore> {
        let t0 = std::time::Instant::now();
        loop {
            match SqliteStore::open_once(path) {
                Err(StoreError::Sqlite(e))
                    if matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
                        && t0.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(20 + u64::from(std::process::id() % 30)));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Res<SqliteStore> {
        let existed = path.exists();
        if existed {
            check_header(path)?;
            check_writable(path)?;
        } else if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("cannot create folder {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let store = SqliteStore { conn, path: path.to_path_buf() };
        if existed {
            // Read-only checks first: nothing below may write to a file we refuse.
            store.quick_check()?;
            let found: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if found > schema::current_version() {
                return Err(StoreError::TooNew { path: store.path, found, known: schema::current_version() });
            }
        }
        let _mode: String = store.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        store.migrate()?;
        store.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(store)
    }

    /// Like [`SqliteStore::open`] but never creates a store: for export and report, where a
    /// missing file means a wrong path, not a fresh start.
    pub fn open_existing(path: &Path) -> Res<SqliteStore> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        SqliteStore::open(path)
    }

    /// Opens an existing store to read from for a merge: its schema must be exactly this
    /// harness's (an input is never migrated behind the user's back), and it is opened
    /// read-only, so merging never changes an input.
    pub fn open_for_merge(path: &Path) -> Res<SqliteStore> {
        let found = SqliteStore::version_of(path)?;
        if found != schema::current_version() {
            return Err(StoreError::SchemaMismatch {
                path: path.to_path_buf(),
                found,
                known: schema::current_version(),
            });
        }
        SqliteStore::open_read_only(path)
    }

    /// Opens an existing store only to read it (report, export): at this harness's schema
    /// version the file is opened read-only and left byte for byte as it was (a committed
    /// reference store stays clean); an older store is migrated first, as [`SqliteStore::open`] does.
    pub fn open_read_only(path: &Path) -> Res<SqliteStore> {
        if SqliteStore::version_of(path)? != schema::current_version() {
            return SqliteStore::open(path);
        }
        let conn = read_only_conn(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let store = SqliteStore { conn, path: path.to_path_buf() };
        store.quick_check()?;
        Ok(store)
    }

    /// The schema version of an existing store file, read without writing to it.
    fn version_of(path: &Path) -> Res<i64> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        check_header(path)?;
        let conn = read_only_conn(path)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| damaged_or(path, e))?;
        if found > schema::current_version() {
            return Err(StoreError::TooNew { path: path.to_path_buf(), found, known: schema::current_version() });
        }
        Ok(found)
    }

    /// The connection, for sibling modules that own their tables (evaluations).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn key_set(&self, sql: &str, param: Option<&str>) -> Res<HashSet<String>> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = match param {
            Some(p) => stmt.query_map([p], |r| r.get(0))?.collect::<Result<_, _>>()?,
            None => stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?,
        };
        Ok(rows)
    }
}

impl ResultStore for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn schema_version(&self) -> Res<i64> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn keys(&self) -> Res<HashSet<String>> {
        self.key_set("SELECT key FROM cells", None)
    }

    fn keys_with_verdict(&self, verdict: &str) -> Res<HashSet<String>> {
        self.key_set("SELECT key FROM cells WHERE verdict = ?1", Some(verdict))
    }

    fn keys_with_status(&self, status: CellStatus) -> Res<HashSet<String>> {
        self.key_set("SELECT key FROM cells WHERE status = ?1", Some(status.as_str()))
    }

    fn machine_classes(&self) -> Res<Vec<(MachineClass, usize)>> {
        let mut stmt = self.conn.prepare("SELECT fingerprint_json FROM cells")?;
        let mut counts: std::collections::BTreeMap<MachineClass, usize> = Default::default();
        for fp in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let fp: crate::record::Fingerprint = serde_json::from_str(&fp?)?;
            *counts.entry(MachineClass::of(&fp)).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    /// Writes the cell and all its samples in one immediate transaction, replacing
    /// any earlier record with the same key (a retried cell) and its samples.
    /// Two series with the same metric name violate the samples key and are refused.
    fn insert(&self, rec: &CellRecord) -> Res<()> {
        self.insert_rows(rec).map_err(|e| match e {
            StoreError::Sqlite(e) => self.full_or(e),
            other => other,
        })
    }

    fn get(&self, key: &str) -> Res<Option<CellRecord>> {
        let mut stmt = self.conn.prepare("SELECT * FROM cells WHERE key = ?1")?;
        let Some(mut rec) = stmt.query_row([key], read_cell).optional()? else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare("SELECT cell_key, metric, value FROM samples WHERE cell_key = ?1 ORDER BY metric, idx")?;
        let mut samples = collect_samples(stmt.query([key])?)?;
        rec.fill_samples(&mut samples);
        Ok(Some(rec.record))
    }

    fn all(&self) -> Res<Vec<CellRecord>> {
        let mut stmt = self.conn.prepare("SELECT * FROM cells ORDER BY started_at, key")?;
        let cells = stmt.query_map([], read_cell)?.collect::<Result<Vec<_>, _>>()?;
        let mut stmt =
            self.conn.prepare("SELECT cell_key, metric, value FROM samples ORDER BY cell_key, metric, idx")?;
        let samples = collect_samples(stmt.query([])?)?;
        Ok(super::rows::assemble(cells, samples))
    }

    fn count_by_status(&self) -> Res<Vec<(CellStatus, usize)>> {
        let mut stmt = self.conn.prepare("SELECT status, COUNT(*) AS n FROM cells GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((parse_status(r, 0)?, count(r, "n")?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn insert_evaluation(&self, e: &EvaluationRecord) -> Res<i64> {
        evaluation::insert(self, e)
    }

    fn latest_evaluation(&self) -> Res<Option<EvaluationRecord>> {
        evaluation::latest(self)
    }

    fn record_provenance(&self, source: &str, cells: usize) -> Res<()> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.conn.execute(
            "INSERT INTO provenance (merged_at, source, cells) VALUES (?1, ?2, ?3)",
            params![now, source, cells as i64],
        )?;
        Ok(())
    }

    fn claim(&self, key: &str, me: &Claimant, ttl_s: f64, redo_before: Option<f64>) -> Res<ClaimOutcome> {
        // An immediate transaction: one claimer at a time reads and writes the claim.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let stored: Option<Option<f64>> =
            tx.query_row("SELECT started_at FROM cells WHERE key = ?1", [key], |r| r.get(0)).optional()?;
        let existing =
            tx.query_row(&format!("{} WHERE key = ?1", super::claim::SELECT), [key], claim_row).optional()?;
        let now = super::claim::now();
        let outcome =
            super::claim::decide(stored.map(|s| s.unwrap_or(f64::NAN)), existing.as_ref(), me, redo_before, now);
        if outcome == ClaimOutcome::Claimed {
            tx.execute(
                "INSERT OR REPLACE INTO claims (key, owner, host, pid, claimed_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key, me.owner, me.host, me.pid, now, now + ttl_s],
            )?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn release(&self, key: &str, owner: Option<&str>) -> Res<()> {
        match owner {
            Some(o) => self.conn.execute("DELETE FROM claims WHERE key = ?1 AND owner = ?2", params![key, o])?,
            None => self.conn.execute("DELETE FROM claims WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    fn claims(&self) -> Res<Vec<ClaimRow>> {
        let mut stmt = self.conn.prepare(&format!("{} ORDER BY claimed_at, key", super::claim::SELECT))?;
        let rows = stmt.query_map([], claim_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// SQLite's full integrity check, then samples whose cell is gone (dropped on repair).
    fn check_storage(&self, repair: bool) -> Res<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        if lines != ["ok"] {
            let what = format!("SQLite integrity check: {}", lines.join("; "));
            findings.push(Finding::new(Severity::Error, what));
        }
        let orphans = super::check::orphan_samples(
            repair,
            |sql| self.conn.query_row(sql, [], |r| r.get(0)),
            |sql| self.conn.execute(sql, []).map(|_| ()),
        )?;
        findings.extend(orphans);
        Ok(findings)
    }
}

fn claim_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClaimRow> {
    Ok(ClaimRow {
        key: r.get(0)?,
        owner: r.get(1)?,
        host: r.get(2)?,
        pid: r.get(3)?,
        claimed_at: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

impl SqliteStore {
    /// `PRAGMA quick_check`, mapping "this is not a database" to [`StoreError::Corrupt`].
    fn quick_check(&self) -> Res<()> {
        let corrupt = |detail: String| StoreError::Corrupt { path: self.path.clone(), detail };
        let result = self
            .conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>());
        match result {
            Ok(lines) if lines == ["ok"] => Ok(()),
            Ok(lines) => Err(corrupt(format!("quick_check: {}", lines.join("; ")))),
            Err(e) => Err(damaged_or(&self.path, e)),
        }
    }

    /// Applies the migrations the store lacks, in one immediate transaction that
    /// re-reads the version, so concurrent first opens migrate exactly once.
    fn migrate(&self) -> Res<()> {
        let version = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        if version(&self.conn)? >= schema::current_version() {
            return Ok(());
        }
        // Keys change in migration 3 while samples point at them: foreign keys are
        // checked again once the migration is done (the pragma cannot change inside a transaction).
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
            tx.execute_batch(sql)?;
            if i + 1 == schema::REKEY_VERSION as usize {
                rekey::rekey(&tx)?;
            }
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }
}

impl SqliteStore {
    fn insert_rows(&self, rec: &CellRecord) -> Res<()> {
        let (names, values) = super::rows::cell_row(rec)?;
        let values: Vec<Value> = values.into_iter().map(schema::to_sql).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO cells ({}) VALUES ({})", names.join(", "), marks.join(", "));

        // `new_unchecked` because `&self` methods share the connection; the store
        // never nests transactions, so the check it skips cannot fire.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM samples WHERE cell_key = ?1", [&rec.key])?;
        tx.execute("DELETE FROM cells WHERE key = ?1", [&rec.key])?;
        tx.execute("DELETE FROM claims WHERE key = ?1", [&rec.key])?;
        tx.execute(&sql, rusqlite::params_from_iter(values.iter()))?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO samples (cell_key, metric, idx, value) VALUES (?1, ?2, ?3, ?4)")?;
            for series in &rec.samples {
                for (idx, value) in (0_i64..).zip(&series.values) {
                    stmt.execute(params![rec.key, series.metric, idx, value])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A write that failed because the disk is full, as such.
    fn full_or(&self, e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path: self.path.clone() },
            _ => e.into(),
        }
    }
}

/// An error from the first read of a store file: SQLite finding no database or a malformed one
/// there means the file named is damaged ([`StoreError::Corrupt`], the user's to move aside),
/// not that the store failed while in use.
fn damaged_or(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_path_buf(), detail: e.to_string() }
        }
        _ => e.into(),
    }
}

/// A store to write must sit in a folder this process may write (SQLite keeps its journal
/// beside the file): a read-only file system or folder is refused up front, untouched.
fn check_writable(path: &Path) -> Res<()> {
    use std::os::unix::ffi::OsStrExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for p in [dir, path] {
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap_or_default();
        // SAFETY: access(2) on a NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(StoreError::ReadOnly { path: path.to_path_buf(), detail: format!("{}: {e}", p.display()) });
        }
    }
    Ok(())
}

/// A connection that only reads. On a read-only file system SQLite cannot make the WAL index
/// beside the file: the file is read as immutable media then (nothing can change it there).
fn read_only_conn(path: &Path) -> Res<Connection> {
    if check_writable(path).is_ok() {
        return Ok(Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?);
    }
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    Ok(Connection::open_with_flags(uri, flags)?)
}

/// A path as the path part of a SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23")
}

/// Refuses, without opening it through SQLite, a non-empty file that is not SQLite.
fn check_header(path: &Path) -> Res<()> {
    let corrupt = |detail: String| StoreError::Corrupt { path: path.to_path_buf(), detail };
    let mut file = std::fs::File::open(path).map_err(|e| corrupt(format!("cannot read: {e}")))?;
    let mut head = Vec::with_capacity(16);
    file.by_ref().take(16).read_to_end(&mut head).map_err(|e| corrupt(format!("cannot read: {e}")))?;
    if head.is_empty() || head == SQLITE_MAGIC {
        Ok(())
    } else {
        Err(corrupt("not a SQLite database".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    use crate::store::conformance::failed;

    fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("nested/dir/results.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/results.db");
        crate::store::conformance::all(&|| Box::new(SqliteStore::open(&path).unwrap()));
    }

    #[test]
    fn summary_view_reads_the_columns() {
        let (_dir, store) = temp_store();
        store.insert(&test_record("a")).unwrap();
        let p50: f64 = (store.conn).query_row("SELECT latency_p50_ms FROM cell_summary", [], |r| r.get(0)).unwrap();
        assert_eq!(p50, 10.5);
    }

    #[test]
    fn two_processes_opening_a_new_store_at_once_both_succeed() {
        // Threads stand in for processes: each opens its own connection to a file not yet there.
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("race-{round}.db"));
            let barrier = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                for t in 0..4 {
                    let (path, barrier) = (&path, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let store = SqliteStore::open(path).unwrap();
                        store.insert(&test_record(&format!("t{t}"))).unwrap();
                    });
                }
            });
            assert_eq!(SqliteStore::open(&path).unwrap().keys().unwrap().len(), 4);
        }
    }

    /// The conformance suite sees records; here the rows: a retry leaves one row and only its own samples.
    #[test]
    fn reinsert_replaces_row_and_samples() {
        let (_dir, store) = temp_store();
        store.insert(&failed("k")).unwrap();
        let mut retry = test_record("k");
        retry.samples = vec![crate::record::SampleSeries { metric: "latency_ms".into(), values: vec![1.0] }];
        store.insert(&retry).unwrap();
        let rows: i64 = store.conn.query_row("SELECT COUNT(*) FROM cells", [], |r| r.get(0)).unwrap();
        let samples: i64 = store.conn.query_row("SELECT COUNT(*) FROM samples", [], |r| r.get(0)).unwrap();
        assert_eq!((rows, samples), (1, 1));
        assert_eq!(store.get("k").unwrap(), Some(retry));
    }

    /// Exact sets and counts on a store of three cells (the shared conformance store checks differences).
    #[test]
    fn keys_and_counts() {
        let (_dir, store) = temp_store();
        for rec in [test_record("a"), test_record("b"), failed("c")] {
            store.insert(&rec).unwrap();
        }
        let set = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        assert_eq!(store.keys().unwrap(), set(&["a", "b", "c"]));
        assert_eq!(store.keys_with_status(CellStatus::Failed).unwrap(), set(&["c"]));
        assert_eq!(store.count_by_status().unwrap(), vec![(CellStatus::Failed, 1), (CellStatus::Ok, 2)]);
        let order: Vec<_> = store.all().unwrap().into_iter().map(|r| r.key).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn failed_record_has_null_summary_columns() {
        let (_dir, store) = temp_store();
        let rec = failed("f");
        store.insert(&rec).unwrap();
        assert_eq!(store.get("f").unwrap(), Some(rec));
        let (verdict, p50): (Option<String>, Option<f64>) = store
            .conn
            .query_row("SELECT verdict, latency_p50_ms FROM cells WHERE key='f'", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((verdict, p50), (None, None));
    }

    #[test]
    fn garbage_file_is_corrupt_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        let bytes = b"this is not a database, it is a shopping list\n".repeat(100);
        std::fs::write(&path, &bytes).unwrap();
        let err = SqliteStore::open(&path).err().expect("garbage must be refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("nothing was changed"));
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert!(matches!(SqliteStore::open_existing(&path), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn damaged_sqlite_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.insert(&test_record("a")).unwrap();
            let _: String = store
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(1).map(|n: i64| n.to_string()))
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096.min(bytes.len() / 2);
        bytes[page..].iter_mut().for_each(|b| *b = 0xA5);
        std::fs::write(&path, &bytes).unwrap();
        let err = SqliteStore::open(&path).err().expect("damage must be refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn reading_a_current_store_leaves_its_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.db");
        SqliteStore::open(&path).unwrap().insert(&test_record("a")).unwrap();
        let c = Connection::open(&path).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0)).unwrap();
        drop(c);
        let before = std::fs::read(&path).unwrap();
        let store = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(store.all().unwrap().len(), 1);
        assert!(store.insert(&test_record("b")).is_err(), "read-only");
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!dir.path().join("ref.db-wal").exists());
    }

    #[test]
    fn too_new_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).err().expect("newer schema must be refused");
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn open_existing_missing_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        let err = SqliteStore::open_existing(&path).err().expect("missing must be refused");
        assert!(matches!(err, StoreError::Missing { .. }), "{err}");
        assert!(!path.exists(), "open_existing must not create a store");
        SqliteStore::open(&path).unwrap().insert(&test_record("a")).unwrap();
        let store = SqliteStore::open_existing(&path).unwrap();
        assert_eq!(store.path(), path);
        assert!(store.keys().unwrap().contains("a"));
    }
}

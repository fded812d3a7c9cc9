//! The results store: one SQLite file holding every executed cell and its raw samples.
//!
//! SQLite because the user can query it directly with `sqlite3`, several worker
//! processes can append to it safely (WAL + `BEGIN IMMEDIATE` + a busy timeout),
//! and a cell's row and samples land in one transaction, so an interrupted run never
//! leaves a half-written cell behind.

pub mod evaluation;
pub mod record;
pub mod schema;

pub use evaluation::{EvaluationRecord, MetricCi, SelectorResult, TaskPick};
pub use record::*;

use rusqlite::types::Value;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use schema::{collect_samples, count, parse_status, read_cell};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    #[error("results store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("results store JSON column could not be (de)serialised: {0}")]
    Json(#[from] serde_json::Error),
}

type Res<T> = std::result::Result<T, StoreError>;

/// Every SQLite file starts with these 16 bytes.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An open results store. Cheap to open; one per process (or thread) is fine,
/// any number may write the same file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens the store at `path`, creating it (and its parent folders) if absent and
    /// migrating it to the current schema. An existing file that is not a healthy
    /// SQLite database, or that a newer harness wrote, is refused untouched.
    pub fn open(path: &Path) -> Res<Store> {
        let existed = path.exists();
        if existed {
            check_header(path)?;
        } else if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("cannot create folder {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let store = Store { conn, path: path.to_path_buf() };
        if existed {
            // Read-only checks first: nothing below may write to a file we refuse.
            store.quick_check()?;
            let found: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if found > schema::current_version() {
                return Err(StoreError::TooNew { path: store.path, found, known: schema::current_version() });
            }
        }
        let _mode: String = store.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        store.conn.pragma_update(None, "foreign_keys", "ON")?;
        store.migrate()?;
        Ok(store)
    }

    /// Like [`Store::open`] but never creates a store: for export and report, where a
    /// missing file means a wrong path, not a fresh start.
    pub fn open_existing(path: &Path) -> Res<Store> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        Store::open(path)
    }

    /// The file this store lives in.
    /// The connection, for sibling modules that own their tables (evaluations).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a cell with this key has been recorded (whatever its status).
    pub fn has_key(&self, key: &str) -> Res<bool> {
        let found = self.conn.query_row("SELECT 1 FROM cells WHERE key = ?1", [key], |_| Ok(())).optional()?;
        Ok(found.is_some())
    }

    /// Keys of every recorded cell.
    pub fn keys(&self) -> Res<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT key FROM cells")?;
        let keys = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Keys of measured cells whose verdict is `verdict` (`valid`/`invalid`).
    pub fn keys_with_verdict(&self, verdict: &str) -> Res<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT key FROM cells WHERE verdict = ?1")?;
        let keys = stmt.query_map([verdict], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Keys of the cells that ended with `status` (e.g. failed cells to retry).
    pub fn keys_with_status(&self, status: CellStatus) -> Res<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT key FROM cells WHERE status = ?1")?;
        let keys = stmt.query_map([status], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Writes the cell and all its samples in one immediate transaction, replacing
    /// any earlier record with the same key (a retried cell) and its samples.
    /// Two series with the same metric name violate the samples key and are refused.
    pub fn insert(&self, rec: &CellRecord) -> Res<()> {
        let mut cols = rec.flat_columns();
        let summary_json = rec.summary.as_ref().map(serde_json::to_string).transpose()?;
        let metrics: Vec<&str> = rec.samples.iter().map(|s| s.metric.as_str()).collect();
        cols.push(("summary_json", summary_json.map_or(Value::Null, Value::Text)));
        cols.push(("fingerprint_json", Value::Text(serde_json::to_string(&rec.fingerprint)?)));
        cols.push(("sample_metrics", Value::Text(serde_json::to_string(&metrics)?)));
        let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO cells ({}) VALUES ({})", names.join(", "), marks.join(", "));

        // `new_unchecked` because `&self` methods share the connection; the store
        // never nests transactions, so the check it skips cannot fire.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM samples WHERE cell_key = ?1", [&rec.key])?;
        tx.execute("DELETE FROM cells WHERE key = ?1", [&rec.key])?;
        tx.execute(&sql, rusqlite::params_from_iter(cols.iter().map(|(_, v)| v)))?;
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

    /// The record stored under `key`, if any.
    pub fn get(&self, key: &str) -> Res<Option<CellRecord>> {
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

    /// Every record, ordered by start time then key.
    pub fn all(&self) -> Res<Vec<CellRecord>> {
        let mut stmt = self.conn.prepare("SELECT * FROM cells ORDER BY started_at, key")?;
        let cells = stmt.query_map([], read_cell)?.collect::<Result<Vec<_>, _>>()?;
        let mut stmt =
            self.conn.prepare("SELECT cell_key, metric, value FROM samples ORDER BY cell_key, metric, idx")?;
        let mut samples = collect_samples(stmt.query([])?)?;
        Ok(cells
            .into_iter()
            .map(|mut c| {
                c.fill_samples(&mut samples);
                c.record
            })
            .collect())
    }

    /// How many cells ended with each status (statuses with no cells are omitted).
    pub fn count_by_status(&self) -> Res<Vec<(CellStatus, usize)>> {
        let mut stmt = self.conn.prepare("SELECT status, COUNT(*) AS n FROM cells GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((parse_status(r, 0)?, count(r, "n")?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

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
            Err(e) if matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)) => {
                Err(corrupt(e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the migrations the store lacks, in one immediate transaction that
    /// re-reads the version, so concurrent first opens migrate exactly once.
    fn migrate(&self) -> Res<()> {
        let version = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        if version(&self.conn)? >= schema::current_version() {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(())
    }
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

/// A fully populated record for tests here and in the exporters.
#[cfg(test)]
pub(crate) fn test_record(key: &str) -> CellRecord {
    CellRecord {
        key: key.to_owned(),
        grid: "smoke".into(),
        model: "smollm2-135m".into(),
        technique: "q4_1".into(),
        threads: 4,
        workload: "chat, short".into(),
        hardware: "local".into(),
        emulated: false,
        status: CellStatus::Ok,
        reason: None,
        summary: Some(Summary {
            verdict: "valid".into(),
            verdict_reason: Some("cv \"low\"".into()),
            reps: 3,
            latency_ms: LatencyStats {
                p50: 10.5,
                p90: 11.25,
                p99: 12.0,
                mean: 10.9,
                stdev: 0.1 + 0.2,
                p50_ci_lo: 10.0,
                p50_ci_hi: 11.0,
                outliers: 1,
            },
            ttft_ms: 3.5,
            tpot_ms: 1.25,
            decode_tok_s: 800.0,
            prefill_tok_s: 4000.0,
            output_tok_s: 700.0,
            peak_rss_mb: 512.0,
            weight_mb: 90.5,
            perplexity: Some(12.5),
            ref_perplexity: Some(12.0),
            agreement: Some(0.97),
            kl_mean: None,
            cost_per_1k_tokens: 0.001,
            serving: Some(ServingStats {
                requests: 16,
                ttft_p90_ms: 30.0,
                ttft_p99_ms: 31.5,
                ttft_mean_ms: 20.25,
                tpot_p90_ms: 2.5,
                tpot_p99_ms: 3.0,
                itl_p50_ms: 1.0,
                itl_p90_ms: 2.0,
                itl_p99_ms: 4.0,
                request_throughput: 5.5,
                goodput: 0.75,
                prefix_hit_rate: 0.5,
            }),
            extra: serde_json::json!({"fallback": ["lm_head"], "n": 2}),
        }),
        samples: vec![
            SampleSeries { metric: "latency_ms".into(), values: vec![10.5, 11.25, 12.0] },
            SampleSeries { metric: "empty".into(), values: vec![] },
            SampleSeries { metric: "ttft_ms".into(), values: vec![3.0, 3.5, 4.0] },
        ],
        config_json: r#"{"model":"smollm2-135m","threads":4}"#.into(),
        fingerprint: Fingerprint {
            cpu_model: "Test CPU, 4 cores".into(),
            physical_cores: 4,
            logical_cores: 8,
            memory_mb: 16384,
            os: "linux".into(),
            crate_version: "0.1.0".into(),
            git_revision: "abc123".into(),
            rustflags: "-C target-cpu=native".into(),
            target_features: "avx2,fma".into(),
        },
        model_digest: "sha256:feed".into(),
        code_version: "0.1.0+abc123".into(),
        started_at: 1_700_000_000.25,
        wall_s: 4.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(key: &str) -> CellRecord {
        CellRecord {
            status: CellStatus::Failed,
            reason: Some("worker timed out".into()),
            summary: None,
            samples: vec![],
            started_at: 1_700_000_100.0,
            ..test_record(key)
        }
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("nested/dir/results.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn round_trip_with_summary_and_samples() {
        let (_dir, store) = temp_store();
        let rec = test_record("a");
        store.insert(&rec).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(rec.clone()));
        assert_eq!(store.all().unwrap(), vec![rec]);
        assert_eq!(store.get("nope").unwrap(), None);
        assert!(store.has_key("a").unwrap() && !store.has_key("nope").unwrap());
        let p50: f64 = (store.conn).query_row("SELECT latency_p50_ms FROM cell_summary", [], |r| r.get(0)).unwrap();
        assert_eq!(p50, 10.5);
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
    fn nan_reads_back_as_nan() {
        let (_dir, store) = temp_store();
        let mut rec = test_record("n");
        rec.summary.as_mut().unwrap().latency_ms.stdev = f64::NAN;
        rec.samples[0].values[1] = f64::NAN;
        store.insert(&rec).unwrap();
        let back = store.get("n").unwrap().unwrap();
        assert!(back.summary.unwrap().latency_ms.stdev.is_nan());
        assert!(back.samples[0].values[1].is_nan());
    }

    #[test]
    fn reinsert_replaces_row_and_samples() {
        let (_dir, store) = temp_store();
        store.insert(&failed("k")).unwrap();
        let mut retry = test_record("k");
        retry.samples = vec![SampleSeries { metric: "latency_ms".into(), values: vec![1.0] }];
        store.insert(&retry).unwrap();
        let rows: i64 = store.conn.query_row("SELECT COUNT(*) FROM cells", [], |r| r.get(0)).unwrap();
        let samples: i64 = store.conn.query_row("SELECT COUNT(*) FROM samples", [], |r| r.get(0)).unwrap();
        assert_eq!((rows, samples), (1, 1));
        assert_eq!(store.get("k").unwrap(), Some(retry));
    }

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
    fn garbage_file_is_corrupt_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        let bytes = b"this is not a database, it is a shopping list\n".repeat(100);
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path).err().expect("garbage must be refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("nothing was changed"));
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert!(matches!(Store::open_existing(&path), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn damaged_sqlite_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        {
            let store = Store::open(&path).unwrap();
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
        let err = Store::open(&path).err().expect("damage must be refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn too_new_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(&path).err().expect("newer schema must be refused");
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn open_existing_missing_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        let err = Store::open_existing(&path).err().expect("missing must be refused");
        assert!(matches!(err, StoreError::Missing { .. }), "{err}");
        assert!(!path.exists(), "open_existing must not create a store");
        Store::open(&path).unwrap().insert(&test_record("a")).unwrap();
        let store = Store::open_existing(&path).unwrap();
        assert_eq!(store.path(), path);
        assert!(store.has_key("a").unwrap());
    }

    #[test]
    fn concurrent_writers_both_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.db");
        let (a, b) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
        a.insert(&test_record("from-a")).unwrap();
        b.insert(&test_record("from-b")).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = Store::open(&path).unwrap();
                    for i in 0..25 {
                        store.insert(&test_record(&format!("t{t}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        let keys = a.keys().unwrap();
        assert_eq!(keys.len(), 102);
        assert!(keys.contains("from-a") && b.keys().unwrap().contains("from-b"));
    }
}

//! The SQLite store's SQL: the migrations that build it, and the mapping between
//! rows and records (through the one column list in [`crate::record::columns`]).
//!
//! The schema is versioned with `PRAGMA user_version`: migration `i` (0-based) takes
//! the store from version `i` to `i + 1`. Migrations are history: never edit one that
//! has shipped, append a new one instead, so old stores upgrade in place.

/// Version 1: the initial schema.
///
/// Real-valued columns are nullable even where the record field is not optional:
/// SQLite stores NaN as NULL, and a NaN figure (e.g. the stdev of one rep) must not
/// make the insert fail and lose the cell. NULL reads back as NaN.
const V1: &str = "
CREATE TABLE cells (
    key                  TEXT PRIMARY KEY NOT NULL,
    grid                 TEXT NOT NULL,
    model                TEXT NOT NULL,
    technique            TEXT NOT NULL,
    threads              INTEGER NOT NULL,
    workload             TEXT NOT NULL,
    hardware             TEXT NOT NULL,
    emulated             INTEGER NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'not_applicable')),
    reason               TEXT,
    verdict              TEXT,
    verdict_reason       TEXT,
    reps                 INTEGER,
    latency_p50_ms       REAL,
    latency_p90_ms       REAL,
    latency_p99_ms       REAL,
    latency_mean_ms      REAL,
    latency_stdev_ms     REAL,
    latency_p50_ci_lo_ms REAL,
    latency_p50_ci_hi_ms REAL,
    latency_outliers     INTEGER,
    ttft_ms              REAL,
    tpot_ms              REAL,
    decode_tok_s         REAL,
    prefill_tok_s        REAL,
    output_tok_s         REAL,
    peak_rss_mb          REAL,
    weight_mb            REAL,
    perplexity           REAL,
    ref_perplexity       REAL,
    agreement            REAL,
    kl_mean              REAL,
    cost_per_1k_tokens   REAL,
    requests             INTEGER,
    ttft_p90_ms          REAL,
    ttft_p99_ms          REAL,
    ttft_mean_ms         REAL,
    tpot_p90_ms          REAL,
    tpot_p99_ms          REAL,
    itl_p50_ms           REAL,
    itl_p90_ms           REAL,
    itl_p99_ms           REAL,
    request_throughput   REAL,
    goodput              REAL,
    prefix_hit_rate      REAL,
    cpu_model            TEXT NOT NULL,
    rustflags            TEXT NOT NULL,
    git_revision         TEXT NOT NULL,
    model_digest         TEXT NOT NULL,
    code_version         TEXT NOT NULL,
    started_at           REAL,
    wall_s               REAL,
    config_json          TEXT NOT NULL,
    summary_json         TEXT,
    fingerprint_json     TEXT NOT NULL,
    sample_metrics       TEXT NOT NULL
);

CREATE INDEX cells_model_workload ON cells (model, workload);
CREATE INDEX cells_status ON cells (status);

-- Raw samples, one row per value. `value` is NULL where the sample was NaN.
CREATE TABLE samples (
    cell_key TEXT NOT NULL REFERENCES cells (key) ON DELETE CASCADE,
    metric   TEXT NOT NULL,
    idx      INTEGER NOT NULL,
    value    REAL,
    PRIMARY KEY (cell_key, metric, idx)
);

-- A quick look from the sqlite3 shell: SELECT * FROM cell_summary;
CREATE VIEW cell_summary AS
SELECT model, technique, threads, workload, status, verdict,
       latency_p50_ms, latency_p99_ms, ttft_ms, tpot_ms, output_tok_s,
       peak_rss_mb, perplexity, agreement, kl_mean, cpu_model
FROM cells
ORDER BY model, workload, technique, threads;
";

/// All migrations, in order; the store's current version is `MIGRATIONS.len()`.
pub const MIGRATIONS: &[&str] = &[V1, super::evaluation::V2, V3, V4, V5];

/// Version 5: cells claimed by the runner measuring them (see [`crate::store::claim`]).
const V5: &str = "
CREATE TABLE claims (
    key        TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    claimed_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
";

/// Version 4: each decode cell's share of the machine's memory bandwidth (`harness roofline`).
const V4: &str = "ALTER TABLE cells ADD COLUMN bandwidth_share REAL;";

/// The version whose migration recomputes every key ([`super::rekey`]).
pub const REKEY_VERSION: i64 = 3;

/// Version 3: engines and machine classes are part of a cell's identity, and merges
/// are logged. Keys are recomputed by [`super::rekey`] in the same transaction.
const V3: &str = "
ALTER TABLE cells ADD COLUMN engine TEXT NOT NULL DEFAULT 'candle';
ALTER TABLE cells ADD COLUMN machine_class TEXT NOT NULL DEFAULT '';
-- Rows that an older key scheme kept apart but one identity now names (a re-run after
-- a description or price edit): the newest stays in `cells`, the others are kept here.
CREATE TABLE superseded_cells AS SELECT * FROM cells WHERE 0;
CREATE TABLE superseded_samples AS SELECT * FROM samples WHERE 0;
-- `harness merge`: where cells came from.
CREATE TABLE provenance (
    merged_at REAL NOT NULL,
    source    TEXT NOT NULL,
    cells     INTEGER NOT NULL
);
CREATE INDEX cells_engine ON cells (engine);
";

/// The schema version this code writes and understands.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

// ---- Mapping between `CellRecord` and rows ----------------------------------------

use crate::record::{columns, CellStatus};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Row, ToSql};

pub(super) use crate::store::rows::{PartialCell, SamplesByCell};

impl ToSql for CellStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// A neutral column value as a SQLite value.
pub(super) fn to_sql(v: columns::Value) -> Value {
    match v {
        columns::Value::Null => Value::Null,
        columns::Value::Int(n) => Value::Integer(n),
        columns::Value::Real(x) => Value::Real(x),
        columns::Value::Text(s) => Value::Text(s),
    }
}

fn from_sql(v: rusqlite::types::ValueRef<'_>) -> columns::Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => columns::Value::Null,
        ValueRef::Integer(n) => columns::Value::Int(n),
        ValueRef::Real(x) => columns::Value::Real(x),
        ValueRef::Text(t) => columns::Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => columns::Value::Text(hex::encode(b)),
    }
}

/// Groups `(cell_key, metric, value)` rows, already ordered by idx within a series.
pub(super) fn collect_samples(mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<SamplesByCell> {
    let mut out = SamplesByCell::new();
    while let Some(row) = rows.next()? {
        crate::store::rows::add_sample(&mut out, row.get(0)?, row.get(1)?, row.get(2)?);
    }
    Ok(out)
}

pub(super) fn parse_status(row: &Row<'_>, idx: usize) -> rusqlite::Result<CellStatus> {
    let s: String = row.get(idx)?;
    CellStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown cell status {s:?}").into(),
        )
    })
}

/// A non-negative INTEGER column as `usize` (rusqlite only converts signed ints).
pub(super) fn count(row: &Row<'_>, name: &str) -> rusqlite::Result<usize> {
    let n: i64 = row.get(name)?;
    usize::try_from(n).map_err(|_| {
        let idx = row.as_ref().column_index(name).unwrap_or(0);
        rusqlite::Error::IntegralValueOutOfRange(idx, n)
    })
}

/// Rebuilds a record from a `SELECT *` row (see [`crate::store::rows::read_cell`]).
pub(super) fn read_cell(row: &Row<'_>) -> rusqlite::Result<PartialCell> {
    let get =
        |name: &str| -> Result<columns::Value, String> { Ok(from_sql(row.get_ref(name).map_err(|e| e.to_string())?)) };
    crate::store::rows::read_cell(&get)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column list and the table must agree, or inserts and exports silently shift columns.
    #[test]
    fn columns_match_table() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS.concat().as_str()).unwrap();
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('cells')").unwrap();
        let table: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        let blobs = ["summary_json", "fingerprint_json", "sample_metrics"];
        let mut expected: Vec<&str> = columns::names();
        // The blobs were created with version 1; later migrations append after them.
        let v1 = expected.iter().position(|n| *n == "config_json").unwrap() + 1;
        for (i, b) in blobs.iter().enumerate() {
            expected.insert(v1 + i, b);
        }
        assert_eq!(table, expected);
    }
}

//! The results store's SQL: the migrations that build it, and the flat column list
//! shared with the exporters.
//!
//! The schema is versioned with `PRAGMA user_version`: migration `i` (0-based) takes
//! the store from version `i` to `i + 1`. Migrations are history: never edit one that
//! has shipped, append a new one instead, so old stores upgrade in place.

/// Scalar columns of `cells`, in table order, that a user may want to query or
/// export directly. `CellRecord::flat_columns` yields values in exactly this order
/// (checked by a test). The JSON blobs that only serve reconstruction
/// (`summary_json`, `fingerprint_json`, `sample_metrics`) are not in this list.
pub const FLAT_COLUMNS: &[&str] = &[
    "key",
    "grid",
    "model",
    "technique",
    "threads",
    "workload",
    "hardware",
    "emulated",
    "status",
    "reason",
    "verdict",
    "verdict_reason",
    "reps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "latency_stdev_ms",
    "latency_p50_ci_lo_ms",
    "latency_p50_ci_hi_ms",
    "latency_outliers",
    "ttft_ms",
    "tpot_ms",
    "decode_tok_s",
    "prefill_tok_s",
    "output_tok_s",
    "peak_rss_mb",
    "weight_mb",
    "perplexity",
    "ref_perplexity",
    "agreement",
    "kl_mean",
    "cost_per_1k_tokens",
    "requests",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "ttft_mean_ms",
    "tpot_p90_ms",
    "tpot_p99_ms",
    "itl_p50_ms",
    "itl_p90_ms",
    "itl_p99_ms",
    "request_throughput",
    "goodput",
    "prefix_hit_rate",
    "cpu_model",
    "rustflags",
    "git_revision",
    "model_digest",
    "code_version",
    "started_at",
    "wall_s",
    "config_json",
];

/// Columns written besides [`FLAT_COLUMNS`]: the whole `Summary` (including
/// `extra`), the whole `Fingerprint`, and the ordered list of sample series names
/// (which keeps series order and empty series through a round trip).
pub const BLOB_COLUMNS: &[&str] = &["summary_json", "fingerprint_json", "sample_metrics"];

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
pub const MIGRATIONS: &[&str] = &[V1, super::evaluation::V2];

/// The schema version this code writes and understands.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

// ---- Mapping between `CellRecord` and rows ----------------------------------------

use super::{CellRecord, CellStatus, LatencyStats, SampleSeries, ServingStats, Summary};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Row, ToSql};
use std::collections::HashMap;

/// Raw sample values keyed by cell key, then metric, each in idx order.
pub(super) type SamplesByCell = HashMap<String, HashMap<String, Vec<f64>>>;

impl ToSql for CellStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl CellRecord {
    /// The record's scalar columns, named and ordered as [`FLAT_COLUMNS`]:
    /// what the `cells` table and the CSV exporter show. Summary columns are NULL
    /// when there is no summary; `emulated` is 0/1.
    pub fn flat_columns(&self) -> Vec<(&'static str, Value)> {
        let text = |s: &str| Value::Text(s.to_owned());
        let opt_text = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
        let int = |n: usize| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        // SQLite keeps NaN as NULL anyway; making it explicit keeps CSV and table alike.
        let real = |x: f64| {
            if x.is_nan() {
                Value::Null
            } else {
                Value::Real(x)
            }
        };
        let opt_real = |x: Option<f64>| x.map_or(Value::Null, real);
        let s = self.summary.as_ref();
        let sum = |f: &dyn Fn(&Summary) -> Value| s.map_or(Value::Null, f);
        let serving = |f: &dyn Fn(&ServingStats) -> Value| s.and_then(|s| s.serving.as_ref()).map_or(Value::Null, f);
        let fp = &self.fingerprint;
        let values = vec![
            text(&self.key),
            text(&self.grid),
            text(&self.model),
            text(&self.technique),
            int(self.threads),
            text(&self.workload),
            text(&self.hardware),
            Value::Integer(self.emulated.into()),
            text(self.status.as_str()),
            opt_text(&self.reason),
            sum(&|s| text(&s.verdict)),
            sum(&|s| opt_text(&s.verdict_reason)),
            sum(&|s| int(s.reps)),
            sum(&|s| real(s.latency_ms.p50)),
            sum(&|s| real(s.latency_ms.p90)),
            sum(&|s| real(s.latency_ms.p99)),
            sum(&|s| real(s.latency_ms.mean)),
            sum(&|s| real(s.latency_ms.stdev)),
            sum(&|s| real(s.latency_ms.p50_ci_lo)),
            sum(&|s| real(s.latency_ms.p50_ci_hi)),
            sum(&|s| int(s.latency_ms.outliers)),
            sum(&|s| real(s.ttft_ms)),
            sum(&|s| real(s.tpot_ms)),
            sum(&|s| real(s.decode_tok_s)),
            sum(&|s| real(s.prefill_tok_s)),
            sum(&|s| real(s.output_tok_s)),
            sum(&|s| real(s.peak_rss_mb)),
            sum(&|s| real(s.weight_mb)),
            sum(&|s| opt_real(s.perplexity)),
            sum(&|s| opt_real(s.ref_perplexity)),
            sum(&|s| opt_real(s.agreement)),
            sum(&|s| opt_real(s.kl_mean)),
            sum(&|s| real(s.cost_per_1k_tokens)),
            serving(&|v| int(v.requests)),
            serving(&|v| real(v.ttft_p90_ms)),
            serving(&|v| real(v.ttft_p99_ms)),
            serving(&|v| real(v.ttft_mean_ms)),
            serving(&|v| real(v.tpot_p90_ms)),
            serving(&|v| real(v.tpot_p99_ms)),
            serving(&|v| real(v.itl_p50_ms)),
            serving(&|v| real(v.itl_p90_ms)),
            serving(&|v| real(v.itl_p99_ms)),
            serving(&|v| real(v.request_throughput)),
            serving(&|v| real(v.goodput)),
            serving(&|v| real(v.prefix_hit_rate)),
            text(&fp.cpu_model),
            text(&fp.rustflags),
            text(&fp.git_revision),
            text(&self.model_digest),
            text(&self.code_version),
            real(self.started_at),
            real(self.wall_s),
            text(&self.config_json),
        ];
        FLAT_COLUMNS.iter().copied().zip(values).collect()
    }
}

/// A cell row read back, still waiting for its samples.
pub(super) struct PartialCell {
    pub(super) record: CellRecord,
    metrics: Vec<String>,
}

impl PartialCell {
    /// Moves this cell's series out of `all` (keyed by cell, then metric), in the
    /// order they were inserted; a listed series with no rows was empty.
    pub(super) fn fill_samples(&mut self, all: &mut SamplesByCell) {
        let mut mine = all.remove(&self.record.key).unwrap_or_default();
        self.record.samples = self
            .metrics
            .drain(..)
            .map(|metric| {
                let values = mine.remove(&metric).unwrap_or_default();
                SampleSeries { metric, values }
            })
            .collect();
    }
}

/// Groups `(cell_key, metric, value)` rows, already ordered by idx within a series.
pub(super) fn collect_samples(mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<SamplesByCell> {
    let mut out = SamplesByCell::new();
    while let Some(row) = rows.next()? {
        let value: Option<f64> = row.get(2)?;
        out.entry(row.get(0)?).or_default().entry(row.get(1)?).or_default().push(value.unwrap_or(f64::NAN));
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

/// A JSON column, turned into a rusqlite error so it can fail inside a row mapper.
fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, name: &str) -> rusqlite::Result<T> {
    let text: String = row.get(name)?;
    serde_json::from_str(&text).map_err(|e| {
        let idx = row.as_ref().column_index(name).unwrap_or(0);
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

/// Rebuilds a record from a `SELECT *` row. The summary comes from its columns
/// (NULL reads back as NaN, which JSON cannot carry) plus `extra` from `summary_json`.
pub(super) fn read_cell(row: &Row<'_>) -> rusqlite::Result<PartialCell> {
    let real = |name: &str| -> rusqlite::Result<f64> { Ok(row.get::<_, Option<f64>>(name)?.unwrap_or(f64::NAN)) };
    let summary = match row.get::<_, Option<String>>("summary_json")? {
        None => None,
        Some(_) => {
            let blob: serde_json::Value = json_col(row, "summary_json")?;
            Some(Summary {
                verdict: row.get("verdict")?,
                verdict_reason: row.get("verdict_reason")?,
                reps: count(row, "reps")?,
                latency_ms: LatencyStats {
                    p50: real("latency_p50_ms")?,
                    p90: real("latency_p90_ms")?,
                    p99: real("latency_p99_ms")?,
                    mean: real("latency_mean_ms")?,
                    stdev: real("latency_stdev_ms")?,
                    p50_ci_lo: real("latency_p50_ci_lo_ms")?,
                    p50_ci_hi: real("latency_p50_ci_hi_ms")?,
                    outliers: count(row, "latency_outliers")?,
                },
                ttft_ms: real("ttft_ms")?,
                tpot_ms: real("tpot_ms")?,
                decode_tok_s: real("decode_tok_s")?,
                prefill_tok_s: real("prefill_tok_s")?,
                output_tok_s: real("output_tok_s")?,
                peak_rss_mb: real("peak_rss_mb")?,
                weight_mb: real("weight_mb")?,
                perplexity: row.get("perplexity")?,
                ref_perplexity: row.get("ref_perplexity")?,
                agreement: row.get("agreement")?,
                kl_mean: row.get("kl_mean")?,
                cost_per_1k_tokens: real("cost_per_1k_tokens")?,
                serving: match row.get::<_, Option<i64>>("requests")? {
                    None => None,
                    Some(_) => Some(ServingStats {
                        requests: count(row, "requests")?,
                        ttft_p90_ms: real("ttft_p90_ms")?,
                        ttft_p99_ms: real("ttft_p99_ms")?,
                        ttft_mean_ms: real("ttft_mean_ms")?,
                        tpot_p90_ms: real("tpot_p90_ms")?,
                        tpot_p99_ms: real("tpot_p99_ms")?,
                        itl_p50_ms: real("itl_p50_ms")?,
                        itl_p90_ms: real("itl_p90_ms")?,
                        itl_p99_ms: real("itl_p99_ms")?,
                        request_throughput: real("request_throughput")?,
                        goodput: real("goodput")?,
                        prefix_hit_rate: real("prefix_hit_rate")?,
                    }),
                },
                extra: blob.get("extra").cloned().unwrap_or_default(),
            })
        }
    };
    let status_idx = row.as_ref().column_index("status")?;
    let record = CellRecord {
        key: row.get("key")?,
        grid: row.get("grid")?,
        model: row.get("model")?,
        technique: row.get("technique")?,
        threads: count(row, "threads")?,
        workload: row.get("workload")?,
        hardware: row.get("hardware")?,
        emulated: row.get("emulated")?,
        status: parse_status(row, status_idx)?,
        reason: row.get("reason")?,
        summary,
        samples: Vec::new(),
        config_json: row.get("config_json")?,
        fingerprint: json_col(row, "fingerprint_json")?,
        model_digest: row.get("model_digest")?,
        code_version: row.get("code_version")?,
        started_at: real("started_at")?,
        wall_s: real("wall_s")?,
    };
    Ok(PartialCell { record, metrics: json_col(row, "sample_metrics")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flat column list, the value list and the table must agree, or inserts
    /// and exports silently shift columns.
    #[test]
    fn flat_columns_match_table() {
        let names: Vec<_> = crate::store::test_record("x").flat_columns().into_iter().map(|c| c.0).collect();
        assert_eq!(names, FLAT_COLUMNS);
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS.concat().as_str()).unwrap();
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('cells')").unwrap();
        let table: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        let expected: Vec<_> = FLAT_COLUMNS.iter().chain(BLOB_COLUMNS).collect();
        assert_eq!(table.iter().collect::<Vec<_>>(), expected);
    }
}

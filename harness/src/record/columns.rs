//! The flat columns of a cell, declared once: name, how to read the value from a
//! record, and how to put it back. The SQLite store writes and reads its `cells`
//! table through this list and the CSV exporter writes it (with [`EXPORT_ONLY`] after it); both see neutral
//! [`Value`]s, so no exporter depends on a database crate.

use super::{CellRecord, CellStatus, ServingStats, Summary};

/// A column value, independent of any storage.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Value {
    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
    fn opt_text(s: &Option<String>) -> Value {
        s.as_deref().map_or(Value::Null, Value::text)
    }
    fn int(n: usize) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
    /// NaN is stored as NULL (SQLite does so anyway; explicit keeps CSV and table alike).
    fn real(x: f64) -> Value {
        if x.is_nan() {
            Value::Null
        } else {
            Value::Real(x)
        }
    }
    fn opt_real(x: Option<f64>) -> Value {
        x.map_or(Value::Null, Value::real)
    }
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::Int(n) => Some(n.to_string()),
            Value::Real(x) => Some(x.to_string()),
            Value::Null => None,
        }
    }
    pub fn as_real(&self) -> Option<f64> {
        match self {
            Value::Real(x) => Some(*x),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        }
    }
    pub fn as_count(&self) -> Option<usize> {
        match self {
            Value::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        }
    }
    /// NULL reads back as NaN.
    fn nan(&self) -> f64 {
        self.as_real().unwrap_or(f64::NAN)
    }
}

/// One flat column.
pub struct Column {
    pub name: &'static str,
    pub get: fn(&CellRecord) -> Value,
    /// Puts a read value back. Summary columns only fill a record that has a summary
    /// (the reader creates it when `summary_json` is present); serving columns only one
    /// whose `requests` column was not NULL.
    pub set: fn(&mut CellRecord, &Value),
}

fn sum(r: &CellRecord, f: fn(&Summary) -> Value) -> Value {
    r.summary.as_ref().map_or(Value::Null, f)
}
fn serving(r: &CellRecord, f: fn(&ServingStats) -> Value) -> Value {
    r.summary.as_ref().and_then(|s| s.serving.as_ref()).map_or(Value::Null, f)
}
fn set_sum(r: &mut CellRecord, f: impl FnOnce(&mut Summary)) {
    if let Some(s) = r.summary.as_mut() {
        f(s)
    }
}
fn set_serving(r: &mut CellRecord, f: impl FnOnce(&mut ServingStats)) {
    if let Some(sv) = r.summary.as_mut().and_then(|s| s.serving.as_mut()) {
        f(sv)
    }
}

macro_rules! col {
    ($name:literal, $get:expr, $set:expr) => {
        Column { name: $name, get: $get, set: $set }
    };
}

macro_rules! sum_real {
    ($name:literal, $($f:ident).+) => {
        col!($name, |r| sum(r, |s| Value::real(s.$($f).+)), |r, v| set_sum(r, |s| s.$($f).+ = v.nan()))
    };
}
macro_rules! sum_opt_real {
    ($name:literal, $f:ident) => {
        col!($name, |r| sum(r, |s| Value::opt_real(s.$f)), |r, v| set_sum(r, |s| s.$f = v.as_real()))
    };
}
macro_rules! serving_real {
    ($name:literal, $f:ident) => {
        col!($name, |r| serving(r, |s| Value::real(s.$f)), |r, v| set_serving(r, |s| s.$f = v.nan()))
    };
}

/// The scalar columns of `cells`, in table order. Columns added by later migrations
/// go at the end, in migration order (a test checks this list against the table).
pub const COLUMNS: &[Column] = &[
    col!("key", |r| Value::text(&r.key), |r, v| r.key = v.as_text().unwrap_or_default()),
    col!("grid", |r| Value::text(&r.grid), |r, v| r.grid = v.as_text().unwrap_or_default()),
    col!("model", |r| Value::text(&r.model), |r, v| r.model = v.as_text().unwrap_or_default()),
    col!("technique", |r| Value::text(&r.technique), |r, v| r.technique = v.as_text().unwrap_or_default()),
    col!("threads", |r| Value::int(r.threads), |r, v| r.threads = v.as_count().unwrap_or_default()),
    col!("workload", |r| Value::text(&r.workload), |r, v| r.workload = v.as_text().unwrap_or_default()),
    col!("hardware", |r| Value::text(&r.hardware), |r, v| r.hardware = v.as_text().unwrap_or_default()),
    col!("emulated", |r| Value::Int(r.emulated.into()), |r, v| r.emulated = v.as_count() == Some(1)),
    col!("status", |r| Value::text(r.status.as_str()), |r, v| {
        r.status = v.as_text().and_then(|s| CellStatus::parse(&s)).unwrap_or(CellStatus::Failed)
    }),
    col!("reason", |r| Value::opt_text(&r.reason), |r, v| r.reason = v.as_text()),
    col!("verdict", |r| sum(r, |s| Value::text(s.verdict.as_str())), |r, v| set_sum(r, |s| {
        s.verdict = v.as_text().unwrap_or_default().into()
    })),
    col!("verdict_reason", |r| sum(r, |s| Value::opt_text(&s.verdict_reason)), |r, v| set_sum(r, |s| {
        s.verdict_reason = v.as_text()
    })),
    col!("reps", |r| sum(r, |s| Value::int(s.reps)), |r, v| set_sum(r, |s| s.reps = v.as_count().unwrap_or(0))),
    sum_real!("latency_p50_ms", latency_ms.p50),
    sum_real!("latency_p90_ms", latency_ms.p90),
    sum_real!("latency_p99_ms", latency_ms.p99),
    sum_real!("latency_mean_ms", latency_ms.mean),
    sum_real!("latency_stdev_ms", latency_ms.stdev),
    sum_real!("latency_p50_ci_lo_ms", latency_ms.p50_ci_lo),
    sum_real!("latency_p50_ci_hi_ms", latency_ms.p50_ci_hi),
    col!("latency_outliers", |r| sum(r, |s| Value::int(s.latency_ms.outliers)), |r, v| set_sum(r, |s| {
        s.latency_ms.outliers = v.as_count().unwrap_or(0)
    })),
    sum_real!("ttft_ms", ttft_ms),
    sum_real!("tpot_ms", tpot_ms),
    sum_real!("decode_tok_s", decode_tok_s),
    sum_real!("prefill_tok_s", prefill_tok_s),
    sum_real!("output_tok_s", output_tok_s),
    sum_real!("peak_rss_mb", peak_rss_mb),
    sum_real!("weight_mb", weight_mb),
    sum_opt_real!("perplexity", perplexity),
    sum_opt_real!("ref_perplexity", ref_perplexity),
    sum_opt_real!("agreement", agreement),
    sum_opt_real!("kl_mean", kl_mean),
    sum_real!("cost_per_1k_tokens", cost_per_1k_tokens),
    col!("requests", |r| serving(r, |s| Value::int(s.requests)), |r, v| {
        if let (Some(s), Some(n)) = (r.summary.as_mut(), v.as_count()) {
            s.serving = Some(ServingStats { requests: n, ..Default::default() });
        }
    }),
    serving_real!("ttft_p90_ms", ttft_p90_ms),
    serving_real!("ttft_p99_ms", ttft_p99_ms),
    serving_real!("ttft_mean_ms", ttft_mean_ms),
    serving_real!("tpot_p90_ms", tpot_p90_ms),
    serving_real!("tpot_p99_ms", tpot_p99_ms),
    serving_real!("itl_p50_ms", itl_p50_ms),
    serving_real!("itl_p90_ms", itl_p90_ms),
    serving_real!("itl_p99_ms", itl_p99_ms),
    serving_real!("request_throughput", request_throughput),
    serving_real!("goodput", goodput),
    serving_real!("prefix_hit_rate", prefix_hit_rate),
    col!("cpu_model", |r| Value::text(&r.fingerprint.cpu_model), |_, _| {}),
    col!("rustflags", |r| Value::text(&r.fingerprint.rustflags), |_, _| {}),
    col!("git_revision", |r| Value::text(&r.fingerprint.git_revision), |_, _| {}),
    col!("model_digest", |r| Value::text(&r.model_digest), |r, v| r.model_digest = v.as_text().unwrap_or_default()),
    col!("code_version", |r| Value::text(&r.code_version), |r, v| r.code_version = v.as_text().unwrap_or_default()),
    col!("started_at", |r| Value::real(r.started_at), |r, v| r.started_at = v.nan()),
    col!("wall_s", |r| Value::real(r.wall_s), |r, v| r.wall_s = v.nan()),
    col!("config_json", |r| Value::text(&r.config_json), |r, v| r.config_json = v.as_text().unwrap_or_default()),
    // Migration 3: engines and machine classes.
    col!("engine", |r| Value::text(&r.engine), |r, v| r.engine = v.as_text().unwrap_or_default()),
    col!("machine_class", |r| Value::text(&r.machine().label()), |_, _| {}),
    // Migration 4: the decode roofline (`harness roofline`), kept in `extra` and shown here.
    col!(
        "bandwidth_share",
        |r| sum(r, |s| Value::opt_real(s.extra.get("bandwidth_share").and_then(|v| v.as_f64()))),
        |_, _| {}
    ),
];

/// Columns the exports write after [`COLUMNS`]: what a summary keeps in `extra` that a reader of
/// the flat columns needs, but the `cells` table does not hold (a column there would migrate every
/// committed store). `accuracy_basis` tells an empty agreement that was never measured from one
/// that needs no measurement (`exact-by-construction`, see [`super::accuracy`]).
pub const EXPORT_ONLY: &[Column] = &[col!(
    "accuracy_basis",
    |r| sum(r, |s| s.accuracy_basis().map_or(Value::Null, |b| Value::text(b.as_str()))),
    |_, _| {}
)];

/// Names of [`COLUMNS`] then [`EXPORT_ONLY`], as the flat exports write them.
pub fn export_names() -> Vec<&'static str> {
    COLUMNS.iter().chain(EXPORT_ONLY).map(|c| c.name).collect()
}

/// A record's values in [`export_names`] order.
pub fn export_values(rec: &CellRecord) -> Vec<Value> {
    COLUMNS.iter().chain(EXPORT_ONLY).map(|c| (c.get)(rec)).collect()
}

/// Names of [`COLUMNS`], in order.
pub fn names() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.name).collect()
}

/// A record's values, in [`COLUMNS`] order.
pub fn values(rec: &CellRecord) -> Vec<Value> {
    COLUMNS.iter().map(|c| (c.get)(rec)).collect()
}

//! The PostgreSQL store (`--store postgres://user@host:port/db[?schema=NAME]`): one
//! server shared by many runners (a job array, several machines), every cell claimed
//! atomically before it is measured.
//!
//! Same schema as the SQLite store: the `cells`, `samples`, `provenance` and `claims`
//! tables are generated from the SQLite migrations themselves (column names, types,
//! NOT NULL, primary keys), so the two cannot drift; evaluations are kept whole, as
//! JSON, in `evaluation_records`. The version lives in `harness_schema`; a newer
//! harness's store is refused, an older one gains the columns it lacks.
//!
//! Credentials never come from the URL (one with a password is refused, so it never
//! lands in a results file, a job script or a log): the password is read from
//! `PGPASSWORD` or the libpq password file (`PGPASSFILE`, else `~/.pgpass`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use super::check::Finding;
use super::claim::{ClaimOutcome, ClaimRow, Claimant};
use super::rows::{self, SamplesByCell};
use super::{ResultStore, StoreError};

mod url;
use crate::record::{columns, CellRecord, CellStatus, EvaluationRecord, MachineClass};
use url::parse_url;
pub use url::test_server;

type Res<T> = std::result::Result<T, StoreError>;

/// Is this store location a PostgreSQL URL?
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The tables shared with SQLite, in creation order.
const TABLES: &[&str] = &["cells", "samples", "provenance", "claims"];

/// Serialises schema creation among runners opening a fresh store at once.
const SCHEMA_LOCK: i64 = 0x0068_6172_6e65_7373;

/// A column's kind, as both backends store it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Real,
    Text,
}

impl Kind {
    fn sql(self) -> &'static str {
        match self {
            Kind::Int => "BIGINT",
            Kind::Real => "DOUBLE PRECISION",
            Kind::Text => "TEXT",
        }
    }
}

struct Column {
    name: String,
    kind: Kind,
    not_null: bool,
    pk: i64,
}

/// The shared tables' columns, read off the SQLite schema this harness writes.
fn shared_schema() -> Res<Vec<(&'static str, Vec<Column>)>> {
    let conn = rusqlite::Connection::open_in_memory()?;
    conn.execute_batch(&super::sqlite::schema::MIGRATIONS.concat())?;
    let mut out = Vec::new();
    for table in TABLES {
        let mut stmt =
            conn.prepare(&format!("SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"))?;
        let cols = stmt
            .query_map([], |r| {
                let ty: String = r.get(1)?;
                let kind = match ty.as_str() {
                    "INTEGER" => Kind::Int,
                    "REAL" => Kind::Real,
                    _ => Kind::Text,
                };
                Ok(Column { name: r.get(0)?, kind, not_null: r.get::<_, i64>(2)? != 0, pk: r.get(3)? })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.push((*table, cols));
    }
    Ok(out)
}

fn create_table(table: &str, cols: &[Column]) -> String {
    let mut parts: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}{}", c.name, c.kind.sql(), if c.not_null { " NOT NULL" } else { "" }))
        .collect();
    let mut pk: Vec<&Column> = cols.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    if !pk.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", pk.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if table == "samples" {
        parts.push("FOREIGN KEY (cell_key) REFERENCES cells (key) ON DELETE CASCADE".into());
    }
    format!("CREATE TABLE IF NOT EXISTS {table} ({})", parts.join(", "))
}

/// An open PostgreSQL store.
pub struct PgStore {
    client: Mutex<Client>,
    location: String,
    /// Column kinds of `cells`, to bind NULLs with the right type.
    kinds: HashMap<String, Kind>,
}

impl PgStore {
    /// Connects to the store at `url`, creating its tables if absent (or, with
    /// `must_exist`, refusing a store with none).
    pub fn open(url: &str, must_exist: bool) -> Res<PgStore> {
        let target = parse_url(url)?;
        let mut client = target.config.connect(NoTls)?;
        if let Some(schema) = &target.schema {
            if !must_exist {
                // Runners opening a fresh store at once: one creates the schema, the others wait and see it.
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
                tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
                tx.commit()?;
            }
            client.batch_execute(&format!("SET search_path TO {schema}"))?;
        }
        let shared = shared_schema()?;
        let kinds = shared[0].1.iter().map(|c| (c.name.clone(), c.kind)).collect();
        let store = PgStore { client: Mutex::new(client), location: url.to_string(), kinds };
        store.prepare(&shared, must_exist)?;
        Ok(store)
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates or upgrades the tables in one transaction that holds the schema lock.
    fn prepare(&self, shared: &[(&'static str, Vec<Column>)], must_exist: bool) -> Res<()> {
        let known = super::sqlite::schema::current_version();
        let mut client = self.client();
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        let exists: bool = tx.query_one("SELECT to_regclass('harness_schema') IS NOT NULL", &[])?.get(0);
        if !exists && must_exist {
            return Err(StoreError::Missing { path: PathBuf::from(&self.location) });
        }
        let found: i64 = if exists {
            tx.query_opt("SELECT version FROM harness_schema", &[])?.map_or(0, |r| r.get(0))
        } else {
            tx.batch_execute("CREATE TABLE harness_schema (version BIGINT NOT NULL)")?;
            tx.execute("INSERT INTO harness_schema (version) VALUES (0)", &[])?;
            0
        };
        if found > known {
            return Err(StoreError::TooNew { path: PathBuf::from(&self.location), found, known });
        }
        if found == known {
            return Ok(());
        }
        for (table, cols) in shared {
            tx.batch_execute(&create_table(table, cols))?;
            for c in cols {
                tx.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} {}", c.name, c.kind.sql()))?;
            }
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS evaluation_records (
                 id          BIGSERIAL PRIMARY KEY,
                 created_at  DOUBLE PRECISION NOT NULL,
                 objective   TEXT NOT NULL,
                 cv          TEXT NOT NULL,
                 baseline    TEXT NOT NULL,
                 record_json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS cells_model_workload ON cells (model, workload);
             CREATE INDEX IF NOT EXISTS cells_status ON cells (status);",
        )?;
        tx.execute("UPDATE harness_schema SET version = $1", &[&known])?;
        tx.commit()?;
        Ok(())
    }

    fn key_set(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<HashSet<String>> {
        Ok(self.client().query(sql, params)?.iter().map(|r| r.get(0)).collect())
    }

    /// A neutral value bound as the column's own type (NULL included).
    fn bind(&self, name: &str, v: columns::Value) -> Box<dyn ToSql + Sync> {
        match self.kinds.get(name).copied().unwrap_or(Kind::Text) {
            Kind::Int => Box::new(match v {
                columns::Value::Int(n) => Some(n),
                columns::Value::Real(x) => Some(x as i64),
                _ => None,
            }),
            Kind::Real => Box::new(v.as_real().filter(|x| !x.is_nan())),
            Kind::Text => Box::new(v.as_text()),
        }
    }

    fn samples(&self, key: Option<&str>) -> Res<SamplesByCell> {
        let sql = "SELECT cell_key, metric, value FROM samples";
        let order = "ORDER BY cell_key COLLATE \"C\", metric COLLATE \"C\", idx";
        let rows = match key {
            Some(k) => self.client().query(&format!("{sql} WHERE cell_key = $1 {order}"), &[&k])?,
            None => self.client().query(&format!("{sql} {order}"), &[])?,
        };
        let mut out = SamplesByCell::new();
        for row in rows {
            rows::add_sample(&mut out, row.get(0), row.get(1), row.get(2));
        }
        Ok(out)
    }

    fn cells(&self, filter: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Vec<rows::PartialCell>> {
        let sql = format!("SELECT * FROM cells {filter} ORDER BY started_at NULLS FIRST, key COLLATE \"C\"");
        let rows = self.client().query(&sql, params)?;
        rows.iter().map(|row| rows::read_cell(&|name| neutral(row, name)).map_err(StoreError::Row)).collect()
    }
}

/// A column of a row as a neutral value.
fn neutral(row: &postgres::Row, name: &str) -> Result<columns::Value, String> {
    let idx = row.columns().iter().position(|c| c.name() == name).ok_or_else(|| format!("no column {name}"))?;
    let ty = row.columns()[idx].type_().clone();
    let err = |e: postgres::Error| format!("column {name}: {e}");
    Ok(if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(idx).map_err(err)?.map_or(columns::Value::Null, columns::Value::Int)
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(idx).map_err(err)?.map_or(columns::Value::Null, columns::Value::Real)
    } else {
        row.try_get::<_, Option<String>>(idx).map_err(err)?.map_or(columns::Value::Null, columns::Value::Text)
    })
}

fn claim_row(r: &postgres::Row) -> ClaimRow {
    ClaimRow {
        key: r.get(0),
        owner: r.get(1),
        host: r.get(2),
        pid: r.get(3),
        claimed_at: r.get(4),
        expires_at: r.get(5),
    }
}

impl ResultStore for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn schema_version(&self) -> Res<i64> {
        Ok(self.client().query_one("SELECT version FROM harness_schema", &[])?.get(0))
    }

    fn keys(&self) -> Res<HashSet<String>> {
        self.key_set("SELECT key FROM cells", &[])
    }

    fn keys_with_status(&self, status: CellStatus) -> Res<HashSet<String>> {
        self.key_set("SELECT key FROM cells WHERE status = $1", &[&status.as_str()])
    }

    fn keys_with_verdict(&self, verdict: &str) -> Res<HashSet<String>> {
        self.key_set("SELECT key FROM cells WHERE verdict = $1", &[&verdict])
    }

    fn machine_classes(&self) -> Res<Vec<(MachineClass, usize)>> {
        let mut counts: std::collections::BTreeMap<MachineClass, usize> = Default::default();
        for row in self.client().query("SELECT fingerprint_json FROM cells", &[])? {
            let fp: crate::record::Fingerprint = serde_json::from_str(row.get(0))?;
            *counts.entry(MachineClass::of(&fp)).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    /// The cell, its samples and the end of its claim in one transaction.
    fn insert(&self, rec: &CellRecord) -> Res<()> {
        let (names, values) = rows::cell_row(rec)?;
        let bound: Vec<Box<dyn ToSql + Sync>> = names.iter().zip(values).map(|(n, v)| self.bind(n, v)).collect();
        let params: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let sql = format!("INSERT INTO cells ({}) VALUES ({})", names.join(", "), marks.join(", "));
        let mut client = self.client();
        let mut tx = client.transaction()?;
        tx.execute("DELETE FROM samples WHERE cell_key = $1", &[&rec.key])?;
        tx.execute("DELETE FROM cells WHERE key = $1", &[&rec.key])?;
        tx.execute("DELETE FROM claims WHERE key = $1", &[&rec.key])?;
        tx.execute(&sql, &params)?;
        let series = tx.prepare(
            "INSERT INTO samples (cell_key, metric, idx, value) \
             SELECT $1, $2, t.i - 1, t.v FROM unnest($3::float8[]) WITH ORDINALITY AS t(v, i)",
        )?;
        for s in &rec.samples {
            let values: Vec<Option<f64>> = s.values.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
            tx.execute(&series, &[&rec.key, &s.metric, &values])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn get(&self, key: &str) -> Res<Option<CellRecord>> {
        let Some(mut cell) = self.cells("WHERE key = $1", &[&key])?.pop() else { return Ok(None) };
        cell.fill_samples(&mut self.samples(Some(key))?);
        Ok(Some(cell.record))
    }

    fn all(&self) -> Res<Vec<CellRecord>> {
        Ok(rows::assemble(self.cells("", &[])?, self.samples(None)?))
    }

    fn count_by_status(&self) -> Res<Vec<(CellStatus, usize)>> {
        let rows = self
            .client()
            .query("SELECT status, COUNT(*) FROM cells GROUP BY status ORDER BY status COLLATE \"C\"", &[])?;
        rows.iter()
            .map(|r| {
                let s: String = r.get(0);
                let status = CellStatus::parse(&s).ok_or_else(|| StoreError::Row(format!("unknown status {s:?}")))?;
                Ok((status, r.get::<_, i64>(1).max(0) as usize))
            })
            .collect()
    }

    fn insert_evaluation(&self, e: &EvaluationRecord) -> Res<i64> {
        let json = serde_json::to_string(&EvaluationRecord { id: 0, ..e.clone() })?;
        let row = self.client().query_one(
            "INSERT INTO evaluation_records (created_at, objective, cv, baseline, record_json) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&e.created_at, &e.objective, &e.cv, &e.baseline, &json],
        )?;
        Ok(row.get(0))
    }

    fn latest_evaluation(&self) -> Res<Option<EvaluationRecord>> {
        let row =
            self.client().query_opt("SELECT id, record_json FROM evaluation_records ORDER BY id DESC LIMIT 1", &[])?;
        row.map(|r| {
            let mut e: EvaluationRecord = serde_json::from_str(r.get(1))?;
            e.id = r.get(0);
            Ok(e)
        })
        .transpose()
    }

    fn record_provenance(&self, source: &str, cells: usize) -> Res<()> {
        self.client().execute(
            "INSERT INTO provenance (merged_at, source, cells) VALUES ($1, $2, $3)",
            &[&super::claim::now(), &source, &(cells as i64)],
        )?;
        Ok(())
    }

    fn claim(&self, key: &str, me: &Claimant, ttl_s: f64, redo_before: Option<f64>) -> Res<ClaimOutcome> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        // Claimers queue on this lock (it conflicts with itself); readers are not held up.
        tx.batch_execute("LOCK TABLE claims IN SHARE ROW EXCLUSIVE MODE")?;
        let stored = tx
            .query_opt("SELECT started_at FROM cells WHERE key = $1", &[&key])?
            .map(|r| r.get::<_, Option<f64>>(0).unwrap_or(f64::NAN));
        let existing =
            tx.query_opt(&format!("{} WHERE key = $1", super::claim::SELECT), &[&key])?.map(|r| claim_row(&r));
        let now = super::claim::now();
        let outcome = super::claim::decide(stored, existing.as_ref(), me, redo_before, now);
        if outcome == ClaimOutcome::Claimed {
            tx.execute(
                "INSERT INTO claims (key, owner, host, pid, claimed_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, host = EXCLUDED.host, pid = EXCLUDED.pid, \
                 claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at",
                &[&key, &me.owner, &me.host, &me.pid, &now, &(now + ttl_s)],
            )?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn release(&self, key: &str, owner: Option<&str>) -> Res<()> {
        match owner {
            Some(o) => self.client().execute("DELETE FROM claims WHERE key = $1 AND owner = $2", &[&key, &o])?,
            None => self.client().execute("DELETE FROM claims WHERE key = $1", &[&key])?,
        };
        Ok(())
    }

    fn claims(&self) -> Res<Vec<ClaimRow>> {
        let rows =
            self.client().query(&format!("{} ORDER BY claimed_at, key COLLATE \"C\"", super::claim::SELECT), &[])?;
        Ok(rows.iter().map(claim_row).collect())
    }

    /// The server keeps its own pages whole; what can go wrong here is rows that point nowhere.
    fn check_storage(&self, repair: bool) -> Res<Vec<Finding>> {
        let found = super::check::orphan_samples(
            repair,
            |sql| Ok::<i64, StoreError>(self.client().query_one(sql, &[])?.get(0)),
            |sql| Ok(self.client().execute(sql, &[]).map(|_| ())?),
        )?;
        Ok(found.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_come_from_the_sqlite_schema() {
        let shared = shared_schema().unwrap();
        let cells = create_table("cells", &shared[0].1);
        assert!(cells.contains("key TEXT NOT NULL") && cells.contains("latency_p50_ms DOUBLE PRECISION"), "{cells}");
        assert!(cells.contains("PRIMARY KEY (key)"));
        let samples = create_table("samples", &shared[1].1);
        assert!(samples.contains("PRIMARY KEY (cell_key, metric, idx)") && samples.contains("REFERENCES cells"));
    }

    /// A schema of its own for one test, dropped at the end.
    pub(crate) struct Scratch {
        pub url: String,
        base: String,
        schema: String,
    }

    impl Scratch {
        pub fn new(base: &str) -> Scratch {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let schema = format!("t_{}_{nanos}", std::process::id());
            let sep = if base.contains('?') { '&' } else { '?' };
            Scratch { url: format!("{base}{sep}schema={schema}"), base: base.to_string(), schema }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            if let Ok(t) = parse_url(&self.base) {
                if let Ok(mut c) = t.config.connect(NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
                }
            }
        }
    }

    #[test]
    fn conformance() {
        let Some(base) = test_server() else { return };
        let scratch = Scratch::new(&base);
        crate::store::conformance::all(&|| Box::new(PgStore::open(&scratch.url, false).unwrap()));
        // Reopened as an existing store; a newer harness's store is refused untouched.
        let store = PgStore::open(&scratch.url, true).unwrap();
        assert!(store.location().contains("schema="));
        store.client().execute("UPDATE harness_schema SET version = 99", &[]).unwrap();
        let err = PgStore::open(&scratch.url, false).err().expect("newer schema refused");
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
        let missing = Scratch::new(&base);
        assert!(matches!(PgStore::open(&missing.url, true), Err(StoreError::Missing { .. })));
    }
}

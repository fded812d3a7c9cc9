//! Migration 3's data step: every cell's key is recomputed from its [`CellIdentity`]
//! (which leaves out prose, prices and names, and takes in the machine class and the
//! engine), so a store made before the change keeps every measurement and a re-run
//! with the same identity skips it. Rows an older scheme kept apart but one identity
//! now names keep the newest in `cells` and move the others to `superseded_cells`.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use crate::config::CellConfig;
use crate::record::identity::LEGACY_ENGINE_VERSION;
use crate::record::{CellIdentity, Fingerprint, MachineClass};
use crate::store::StoreError;

struct Row {
    key: String,
    config_json: String,
    model_digest: String,
    code_version: String,
    fingerprint: String,
    started_at: f64,
    decode_tok_s: Option<f64>,
}

pub(super) fn rekey(conn: &Connection) -> Result<(), StoreError> {
    let rows: Vec<Row> = {
        let mut stmt = conn.prepare(
            "SELECT key, config_json, model_digest, code_version, fingerprint_json, started_at, decode_tok_s FROM cells",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Row {
                key: r.get(0)?,
                config_json: r.get(1)?,
                model_digest: r.get(2)?,
                code_version: r.get(3)?,
                fingerprint: r.get(4)?,
                started_at: r.get::<_, Option<f64>>(5)?.unwrap_or(f64::NAN),
                decode_tok_s: r.get(6)?,
            })
        })?;
        rows.collect::<Result<_, _>>()?
    };
    // New key -> (newest started_at, old key) and the others that share it.
    let mut by_key: BTreeMap<String, Vec<(f64, String)>> = BTreeMap::new();
    let mut updates = Vec::new();
    for row in rows {
        let Ok(cfg) = serde_json::from_str::<CellConfig>(&row.config_json) else {
            continue; // unreadable config: keep the row and its key as they are
        };
        let fp: Fingerprint = serde_json::from_str(&row.fingerprint)?;
        let machine = MachineClass::of(&fp);
        let key = CellIdentity::new(&cfg, &row.model_digest, LEGACY_ENGINE_VERSION, &row.code_version, &machine).key();
        // One definition of decode tokens per second: per sequence (1000 / TPOT), as
        // serving cells always stored it; plain batched cells stored it per batch.
        let batch = cfg.workload_spec.batch.max(1) as f64;
        let decode = match (&cfg.workload_spec.serving, row.decode_tok_s) {
            (None, Some(d)) if batch > 1.0 => Some(d / batch),
            (_, d) => d,
        };
        by_key.entry(key.clone()).or_default().push((row.started_at, row.key.clone()));
        updates.push((row.key, key, machine.label(), decode));
    }
    let mut keep: BTreeMap<String, String> = BTreeMap::new();
    for (new, mut olds) in by_key {
        olds.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        keep.insert(olds[0].1.clone(), new);
        for (_, old) in &olds[1..] {
            conn.execute("INSERT INTO superseded_samples SELECT * FROM samples WHERE cell_key = ?1", [old])?;
            conn.execute("DELETE FROM samples WHERE cell_key = ?1", [old])?;
            conn.execute("INSERT INTO superseded_cells SELECT * FROM cells WHERE key = ?1", [old])?;
            conn.execute("DELETE FROM cells WHERE key = ?1", [old])?;
        }
    }
    for (old, new, machine, decode) in updates {
        if keep.get(&old) != Some(&new) {
            continue;
        }
        conn.execute(
            "UPDATE cells SET key = ?2, machine_class = ?3, decode_tok_s = ?4 WHERE key = ?1",
            params![old, new, machine, decode],
        )?;
        conn.execute("UPDATE samples SET cell_key = ?2 WHERE cell_key = ?1", params![old, new])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::Connection;

    use super::super::schema::MIGRATIONS;
    use crate::record::{test_record, CellIdentity, MachineClass};
    use crate::store::{ResultStore, SqliteStore};

    /// A store as the harness wrote it before identities (schema version 2), with
    /// `cells` rows keyed the old way.
    fn old_store(path: &Path, rows: &[(&str, &str, f64)]) {
        let conn = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        let g = crate::config::parse(
            Path::new("g.yaml"),
            "models: {m: {synthetic: {layers: 1, hidden: 32, heads: 2, intermediate: 64}}}\n\
             workloads: {w: {prompt_tokens: 4, output_tokens: 2, batch: 2}}\n",
        )
        .unwrap();
        let cfg = crate::config::expand(&g).remove(0);
        for (key, description, started) in rows {
            let mut cfg = cfg.clone();
            cfg.workload_spec.description = Some(description.to_string());
            let r = test_record(key);
            conn.execute(
                "INSERT INTO cells (key, grid, model, technique, threads, workload, hardware, emulated, status,
                 decode_tok_s, cpu_model, rustflags, git_revision, model_digest, code_version, started_at, config_json,
                 summary_json, fingerprint_json, sample_metrics)
                 VALUES (?1, 'g', 'm', 'f32', 1, 'w', 'local', 0, 'ok', 800.0, 'cpu', '', '', 'sha256:x', '0.1.0+m2+',
                 ?2, ?3, ?4, ?5, '[\"latency_ms\"]')",
                rusqlite::params![
                    key,
                    started,
                    serde_json::to_string(&cfg).unwrap(),
                    serde_json::to_string(r.summary.as_ref().unwrap()).unwrap(),
                    serde_json::to_string(&r.fingerprint).unwrap()
                ],
            )
            .unwrap();
            conn.execute("INSERT INTO samples VALUES (?1, 'latency_ms', 0, ?2)", rusqlite::params![key, started])
                .unwrap();
        }
    }

    #[test]
    fn old_keys_are_recomputed_and_nothing_measured_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        // Two rows the old scheme kept apart only because a description changed, and one more.
        old_store(&path, &[("old-a", "first words", 1.0), ("old-b", "edited words", 2.0)]);
        let store = SqliteStore::open(&path).unwrap();
        let recs = store.all().unwrap();
        assert_eq!(recs.len(), 1, "one identity, one current cell");
        let rec = &recs[0];
        let cfg: crate::config::CellConfig = serde_json::from_str(&rec.config_json).unwrap();
        assert_eq!(cfg.workload_spec.description.as_deref(), Some("edited words"), "the newest stays current");
        let machine = MachineClass::of(&rec.fingerprint);
        let want = CellIdentity::new(&cfg, "sha256:x", super::LEGACY_ENGINE_VERSION, "0.1.0+m2+", &machine).key();
        assert_eq!(rec.key, want);
        assert_eq!(rec.engine, "candle");
        assert_eq!(rec.samples[0].values, vec![2.0], "samples follow their cell's new key");
        // Batched plain cells stored decode tok/s per batch; it is per sequence now.
        assert_eq!(rec.summary.as_ref().unwrap().decode_tok_s, 400.0);
        let kept: i64 = store.conn().query_row("SELECT count(*) FROM superseded_cells", [], |r| r.get(0)).unwrap();
        let kept_samples: i64 =
            store.conn().query_row("SELECT count(*) FROM superseded_samples", [], |r| r.get(0)).unwrap();
        assert_eq!((kept, kept_samples), (1, 1), "the older measurement is kept aside, not dropped");
        drop(store);
        // Opening again migrates nothing twice.
        assert_eq!(SqliteStore::open(&path).unwrap().all().unwrap().len(), 1);
    }
}

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

//! `harness merge OUT IN...`: several stores (shards of a grid, runs on other
//! machines) into one, by cell identity. Idempotent and order-independent: a key
//! present in several stores keeps the most recently measured record (ties broken
//! by the record's content), so merging again, or in another order, gives the same
//! store. Every record keeps its own fingerprint, revision and start time; each merge
//! is logged in the output's `provenance` table. Evaluations are not merged: they
//! are derived, run `harness evaluate` on the merged store.

use std::path::Path;

use super::{ResultStore, StoreError};
use crate::record::CellRecord;

/// What a merge did, per input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeCount {
    pub source: String,
    /// Cells the output did not have.
    pub added: usize,
    /// Cells the output had, replaced by a more recent measurement.
    pub replaced: usize,
    /// Cells the output already had as they are (or more recent).
    pub unchanged: usize,
}

/// Which of two records of one key a merge keeps.
fn newer<'a>(a: &'a CellRecord, b: &'a CellRecord) -> &'a CellRecord {
    match a.started_at.total_cmp(&b.started_at) {
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Equal => {
            let text = |r: &CellRecord| serde_json::to_string(r).unwrap_or_default();
            if text(a) >= text(b) {
                a
            } else {
                b
            }
        }
    }
}

/// Merges `inputs` (paths of existing stores at this harness's schema version) into `out`.
pub fn merge(out: &dyn ResultStore, inputs: &[&Path]) -> Result<Vec<MergeCount>, StoreError> {
    let mut counts = Vec::new();
    for path in inputs {
        let input = super::SqliteStore::open_for_merge(path)?;
        let source = path.display().to_string();
        let mut count = MergeCount { source: source.clone(), ..Default::default() };
        for rec in input.all()? {
            match out.get(&rec.key)? {
                None => {
                    out.insert(&rec)?;
                    count.added += 1;
                }
                Some(have) if std::ptr::eq(newer(&have, &rec), &rec) && have != rec => {
                    out.insert(&rec)?;
                    count.replaced += 1;
                }
                Some(_) => count.unchanged += 1,
            }
        }
        if count.added + count.replaced > 0 {
            out.record_provenance(&source, count.added + count.replaced)?;
        }
        counts.push(count);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;
    use crate::store::SqliteStore;

    fn store_with(dir: &Path, name: &str, recs: &[CellRecord]) -> std::path::PathBuf {
        let path = dir.join(name);
        let s = SqliteStore::open(&path).unwrap();
        for r in recs {
            s.insert(r).unwrap();
        }
        path
    }

    #[test]
    fn merge_is_idempotent_and_order_independent() {
        let dir = tempfile::tempdir().unwrap();
        let old = CellRecord { started_at: 1.0, ..test_record("shared") };
        let new = CellRecord { started_at: 2.0, wall_s: 9.0, ..test_record("shared") };
        let a = store_with(dir.path(), "a.db", &[test_record("a1"), old]);
        let b = store_with(dir.path(), "b.db", &[test_record("b1"), new.clone()]);
        let ab = SqliteStore::open(&dir.path().join("ab.db")).unwrap();
        let c = merge(&ab, &[&a, &b]).unwrap();
        assert_eq!((c[0].added, c[1].added, c[1].replaced), (2, 1, 1));
        let ba = SqliteStore::open(&dir.path().join("ba.db")).unwrap();
        merge(&ba, &[&b, &a]).unwrap();
        assert_eq!(ab.all().unwrap(), ba.all().unwrap());
        assert_eq!(ab.get("shared").unwrap().unwrap(), new);
        let again = merge(&ab, &[&a, &b]).unwrap();
        assert!(again.iter().all(|c| c.added == 0 && c.replaced == 0), "{again:?}");
        assert_eq!(ab.all().unwrap().len(), 3);
    }

    #[test]
    fn schema_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = store_with(dir.path(), "a.db", &[test_record("a1")]);
        rusqlite::Connection::open(&a).unwrap().pragma_update(None, "user_version", 2).unwrap();
        let out = SqliteStore::open(&dir.path().join("out.db")).unwrap();
        let e = merge(&out, &[&a]).unwrap_err();
        assert!(matches!(e, StoreError::SchemaMismatch { found: 2, .. }), "{e}");
        assert!(out.all().unwrap().is_empty());
    }
}

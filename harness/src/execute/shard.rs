//! `harness run GRID --shard K/N`: a deterministic, balanced slice of a grid's cells,
//! so N independent processes (on N machines, or a Slurm job array) cover the grid
//! exactly once.
//!
//! Every process plans the same grid and computes the same partition: cells sorted
//! by expected cost (largest first, then by content key), each given to the shard
//! with the least expected cost so far (longest-processing-time first). The expected
//! cost comes from the cell's configuration alone: tokens processed (prompt + output,
//! times the batch or the serving requests) × the model's weight bytes (the file in
//! the hub cache, or the synthetic model's f32 parameters), per thread.

use std::path::Path;

use super::plan::PlannedCell;
use crate::models::{hub, ModelSpec};

/// Shard `k` (1-based) of `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// `K/N` with 1 <= K <= N.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("bad --shard `{s}`: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        (n >= 1 && (1..=n).contains(&k)).then_some(Shard { k, n }).ok_or_else(bad)
    }
}

/// Bytes of the model's weights as stored, or its f32 parameters for a synthetic model.
fn model_bytes(spec: &ModelSpec, hub_cache: &Path) -> f64 {
    match spec {
        ModelSpec::Synthetic(s) => s.config().parameters() as f64 * 4.0,
        ModelSpec::Hub(h) => hub::resolve(hub_cache, &h.repo, &h.revision, &h.file)
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(1e8, |m| m.len() as f64),
    }
}

/// The expected relative cost of measuring a cell (see the module docs).
pub fn expected_cost(cell: &PlannedCell, hub_cache: &Path) -> f64 {
    let c = &cell.config;
    let w = &c.workload_spec;
    let sequences = w.serving.as_ref().map_or(w.batch.max(1), |s| s.requests.max(1)) as f64;
    let tokens = (w.prompt_tokens + w.output_tokens).max(1) as f64 * sequences;
    tokens * model_bytes(&c.model_spec, hub_cache) / c.threads.max(1) as f64
}

/// The shard (0-based) of each cell, given their expected costs: longest first to the
/// least loaded shard; ties broken by content key and shard index, so the result
/// depends only on the cells.
pub fn assign(cells: &[PlannedCell], costs: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then_with(|| cells[a].key.cmp(&cells[b].key)));
    let mut load = vec![0.0f64; n.max(1)];
    let mut out = vec![0; cells.len()];
    for i in order {
        let s = (0..load.len()).min_by(|&x, &y| load[x].total_cmp(&load[y]).then(x.cmp(&y))).expect("n >= 1");
        load[s] += costs[i];
        out[i] = s;
    }
    out
}

/// The cells of `shard`, in plan order, and their share of the grid's expected cost.
pub fn select(cells: &[PlannedCell], shard: Shard, hub_cache: &Path) -> (Vec<PlannedCell>, f64) {
    let costs: Vec<f64> = cells.iter().map(|c| expected_cost(c, hub_cache)).collect();
    let which = assign(cells, &costs, shard.n);
    let total: f64 = costs.iter().sum();
    let mine: f64 = (0..cells.len()).filter(|&i| which[i] == shard.k - 1).map(|i| costs[i]).sum();
    let picked = (0..cells.len()).filter(|&i| which[i] == shard.k - 1).map(|i| cells[i].clone()).collect();
    (picked, if total > 0.0 { mine / total } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_syntax() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { k: 2, n: 4 }));
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(Shard::parse(bad).unwrap_err().contains("expected K/N"), "{bad}");
        }
    }
}

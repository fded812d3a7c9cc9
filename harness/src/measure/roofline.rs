//! Decode against the memory roofline: at batch 1 a decode step streams every weight
//! once, so (weight bytes per token) / (time per token) is the bandwidth a cell
//! achieved, and its share of the machine's measured bandwidth says how close to the
//! hardware limit the engine runs. The f32 embedding table is left out (a step reads
//! one row of it); KV-cache reads are left out too (small at these context lengths),
//! so the share is a slight underestimate.

use std::path::Path;

use crate::config::CellConfig;
use crate::hardware::bandwidth::Bandwidth;
use crate::models::generate::KvMode;
use crate::record::{CellRecord, CellStatus, MachineClass};

/// One decode cell held against the roofline.
#[derive(Debug, Clone, PartialEq)]
pub struct RooflineRow {
    pub key: String,
    pub model: String,
    pub workload: String,
    pub technique: String,
    pub threads: usize,
    pub batch: usize,
    /// Weight bytes streamed per decode step, MB (10^6 bytes).
    pub streamed_mb: f64,
    pub tpot_ms: f64,
    /// Streamed bytes per second achieved, GB/s.
    pub achieved_gbs: f64,
    /// The weight format the cell ran (to find its matmul peak).
    pub weights: crate::models::WeightFormat,
    /// `achieved_gbs` as a share of the machine's bandwidth.
    pub share: f64,
}

/// The decode cells of `records` measured on `machine` (plain workloads with a KV
/// cache: a decode step there is one pass over the weights), against `bandwidth`.
/// Cells whose model sizes cannot be read (a hub model not in `hub_cache`) are skipped.
pub fn analyse(
    records: &[CellRecord],
    machine: &MachineClass,
    bandwidth: &Bandwidth,
    hub_cache: &Path,
) -> Vec<RooflineRow> {
    let mut rows = Vec::new();
    for rec in records.iter().filter(|r| r.status == CellStatus::Ok && &r.machine() == machine) {
        let (Some(s), Ok(cfg)) = (&rec.summary, serde_json::from_str::<CellConfig>(&rec.config_json)) else { continue };
        let timed = s.tpot_ms > 0.0; // false for NaN too
        if cfg.workload_spec.serving.is_some() || cfg.technique.plan().kv != KvMode::On || !timed {
            continue;
        }
        let Ok(model) = cfg.model_spec.config(hub_cache) else { continue };
        // Our engine keeps an f32 copy of the embedding table, of which a step reads one
        // row; other engines' weight bytes are the file's tensors, all streamed (a tied
        // embedding is the output head).
        let embedding = if rec.engine == crate::engines::DEFAULT_ENGINE {
            (model.vocab_size * model.hidden_size * 4) as f64
        } else {
            0.0
        };
        let streamed = (s.weight_mb * 1024.0 * 1024.0 - embedding).max(0.0);
        let achieved = streamed / (s.tpot_ms / 1e3) / 1e9;
        rows.push(RooflineRow {
            weights: cfg.technique.plan().weights,
            key: rec.key.clone(),
            model: rec.model.clone(),
            workload: rec.workload.clone(),
            technique: rec.technique.clone(),
            threads: rec.threads,
            batch: cfg.workload_spec.batch,
            streamed_mb: streamed / 1e6,
            tpot_ms: s.tpot_ms,
            achieved_gbs: achieved,
            share: achieved / bandwidth.best_gbs,
        });
    }
    rows
}

/// Writes a row's figures into its cell (`extra.bandwidth_share`, shown as the
/// `bandwidth_share` column), with the bandwidth it was held against and, when
/// measured, the matmul peak of the cell's weight format on this machine.
pub fn annotate(rec: &mut CellRecord, row: &RooflineRow, bandwidth: &Bandwidth, peaks: &[MatmulPeak]) {
    if let Some(serde_json::Value::Object(extra)) = rec.summary.as_mut().map(|s| &mut s.extra) {
        extra.insert("bandwidth_share".into(), serde_json::json!(row.share));
        extra.insert("achieved_gbs".into(), serde_json::json!(row.achieved_gbs));
        extra.insert("roofline".into(), serde_json::to_value(bandwidth).unwrap_or_default());
        if let Some(p) = peaks.iter().find(|p| p.weights == row.weights) {
            extra.insert("matmul_peak".into(), serde_json::to_value(p).unwrap_or_default());
        }
    }
}

/// The matmul throughput our engine reaches with one weight format.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MatmulPeak {
    /// The technique that stores weights this way (its registered name).
    pub format: String,
    #[serde(skip)]
    pub weights: crate::models::WeightFormat,
    /// Integer or float multiply-adds ×2 per second at a prefill shape (64 rows), 10^9.
    pub prefill_gops: f64,
    /// The same at one row (a decode step), 10^9.
    pub decode_gops: f64,
}

/// Times `x · Wᵀ` for a `(n, n)` weight in every weight format a technique of the
/// registry stores (the file's own format aside), through the engine's own linear
/// layers, at 64 rows and at one; best of `passes`.
pub fn matmul_peaks(n: usize, passes: usize) -> anyhow::Result<Vec<MatmulPeak>> {
    use crate::models::linear::{Linear, LoadStats};
    use crate::models::weights::{SourceTensor, WeightFormat};
    use crate::techniques::{registry, Family, TechniqueName};
    use candle_core::{Device, Tensor};

    let w = Tensor::randn(0f32, 0.02, (n, n), &Device::Cpu)?;
    let mut out = Vec::new();
    for t in registry().iter().filter(|t| matches!(t.family(), Family::Precision | Family::Quantization)) {
        let Ok(name) = TechniqueName::parse(t.name()) else { continue };
        let fmt = name.plan().weights;
        if fmt == WeightFormat::Native {
            continue;
        }
        let lin = Linear::build(SourceTensor::Dense(w.clone()), fmt, &mut LoadStats::default())?;
        let best = |m: usize| -> anyhow::Result<f64> {
            let x: Vec<f32> = (0..m * n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
            let mut y = vec![0f32; m * n];
            lin.matmul_into(&x, m, &mut y)?; // warm
            let mut fastest = f64::INFINITY;
            for _ in 0..passes.max(1) {
                let t0 = std::time::Instant::now();
                lin.matmul_into(&x, m, &mut y)?;
                fastest = fastest.min(t0.elapsed().as_secs_f64());
            }
            Ok(2.0 * (m * n * n) as f64 / fastest / 1e9)
        };
        out.push(MatmulPeak {
            format: t.name().to_string(),
            weights: fmt,
            prefill_gops: best(64)?,
            decode_gops: best(1)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    #[test]
    fn every_stored_weight_format_gets_a_matmul_peak() {
        let peaks = matmul_peaks(256, 1).unwrap();
        assert!(peaks.len() >= 10, "{peaks:?}");
        for p in &peaks {
            assert!(p.prefill_gops > 0.0 && p.decode_gops > 0.0 && p.prefill_gops.is_finite(), "{p:?}");
        }
    }

    #[test]
    fn a_decode_cell_is_held_against_the_bandwidth() {
        let g = crate::config::parse(
            Path::new("g.yaml"),
            "models: {m: {synthetic: {layers: 2, hidden: 64, heads: 4, intermediate: 128, vocab: 512}}}\n\
             workloads: {w: {prompt_tokens: 4, output_tokens: 4}}\n",
        )
        .unwrap();
        let cfg = crate::config::expand(&g).remove(0);
        let mut rec = test_record("a");
        rec.config_json = serde_json::to_string(&cfg).unwrap();
        let s = rec.summary.as_mut().unwrap();
        s.serving = None;
        // 512 x 64 f32 embedding = 131072 bytes; 1 MiB of weights in all.
        s.weight_mb = 1.0;
        s.tpot_ms = 1.0;
        let bw = Bandwidth { threads: 2, array_mib: 1, best_gbs: 2.0, median_gbs: 1.9 };
        let rows = analyse(&[rec.clone()], &rec.machine(), &bw, Path::new("/nonexistent"));
        assert_eq!(rows.len(), 1);
        let streamed = 1024.0 * 1024.0 - 131072.0;
        assert!((rows[0].achieved_gbs - streamed / 1e-3 / 1e9).abs() < 1e-9);
        assert!((rows[0].share - rows[0].achieved_gbs / 2.0).abs() < 1e-12);
        let other = MachineClass { cpu_model: "elsewhere".into(), ..rec.machine() };
        assert!(analyse(&[rec.clone()], &other, &bw, Path::new("/x")).is_empty(), "only this machine's cells");
        let peak = MatmulPeak { format: "x".into(), weights: rows[0].weights, prefill_gops: 9.0, decode_gops: 3.0 };
        annotate(&mut rec, &rows[0], &bw, &[peak]);
        let extra = rec.summary.unwrap().extra;
        assert_eq!(extra["bandwidth_share"], rows[0].share);
        assert_eq!(extra["matmul_peak"]["prefill_gops"], 9.0);
    }
}

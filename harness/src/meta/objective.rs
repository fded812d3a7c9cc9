//! What "best" means for a task: the objective to optimise and the constraints an
//! arm must meet to count at all.
//!
//! Every objective is turned into a *performance* where higher is better
//! (1/latency, tokens per second, ...), so regret and speed-up ratios read the
//! same whatever the objective.

use std::fmt;

use crate::record::{CellRecord, CellStatus, Summary};

/// The quantity a selector should optimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Median request latency (lower is better).
    Latency,
    /// Generated tokens per second (higher is better).
    Throughput,
    /// Median time to first token (lower is better).
    Ttft,
    /// Cost per 1000 generated tokens (lower is better).
    Cost,
    /// Requests per second meeting both latency targets; serving workloads only (higher is better).
    Goodput,
    /// Run time in seconds of an imported algorithm-selection scenario (PAR10; lower is better).
    Runtime,
}

impl Objective {
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Throughput => "throughput",
            Objective::Ttft => "ttft",
            Objective::Cost => "cost",
            Objective::Goodput => "goodput",
            Objective::Runtime => "runtime",
        }
    }

    /// The raw figure in its own unit, as stored.
    pub fn raw(self, s: &Summary) -> Option<f64> {
        let v = match self {
            Objective::Latency => s.latency_ms.p50,
            Objective::Throughput => s.output_tok_s,
            Objective::Ttft => s.ttft_ms,
            Objective::Cost => s.cost_per_1k_tokens,
            Objective::Goodput => s.serving.as_ref().map(|sv| sv.goodput * sv.request_throughput)?,
            Objective::Runtime => return None,
        };
        v.is_finite().then_some(v)
    }

    /// Whether a larger raw figure is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Objective::Throughput | Objective::Goodput)
    }

    /// Raw figure → performance (higher is better). `None` for a figure that cannot be one
    /// (zero latency, negative throughput).
    pub fn performance(self, raw: f64) -> Option<f64> {
        if self.higher_is_better() {
            (raw >= 0.0).then_some(raw)
        } else {
            (raw > 0.0).then(|| 1.0 / raw)
        }
    }

    /// Performance → raw figure, for printing predictions.
    pub fn raw_from_performance(self, perf: f64) -> f64 {
        if self.higher_is_better() {
            perf
        } else {
            1.0 / perf
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Objective::Latency | Objective::Ttft => "ms",
            Objective::Throughput => "tok/s",
            Objective::Cost => "$/1k tok",
            Objective::Goodput => "good req/s",
            Objective::Runtime => "s (PAR10)",
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One clause of `--accuracy-floor`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "limit")]
pub enum AccuracyFloor {
    /// `ppl:1%`: perplexity at most this many percent above the f32 reference's.
    PerplexityIncreasePct(f64),
    /// `agreement:0.99`: greedy-token agreement with the f32 reference at least this.
    Agreement(f64),
    /// `kl:0.01`: mean KL(reference ‖ technique) at most this many nats.
    Kl(f64),
}

impl AccuracyFloor {
    /// Parses a comma-separated list of clauses, e.g. `ppl:1%,agreement:0.99`.
    pub fn parse_list(s: &str) -> Result<Vec<AccuracyFloor>, String> {
        s.split(',').map(str::trim).filter(|c| !c.is_empty()).map(AccuracyFloor::parse).collect()
    }

    fn parse(clause: &str) -> Result<AccuracyFloor, String> {
        let bad = || {
            format!(
                "bad accuracy floor `{clause}`: expected `ppl:P%` (at most P% perplexity increase over the f32 \
                 reference), `agreement:A` (0..1) or `kl:K` (nats), comma-separated"
            )
        };
        let (key, value) = clause.split_once(':').ok_or_else(bad)?;
        match key.trim() {
            "ppl" | "perplexity" => {
                let pct = value.trim().strip_suffix('%').ok_or_else(bad)?;
                let v: f64 = pct.trim().parse().map_err(|_| bad())?;
                (v >= 0.0).then_some(AccuracyFloor::PerplexityIncreasePct(v)).ok_or_else(bad)
            }
            "agreement" => {
                let v: f64 = value.trim().parse().map_err(|_| bad())?;
                (0.0..=1.0).contains(&v).then_some(AccuracyFloor::Agreement(v)).ok_or_else(bad)
            }
            "kl" => {
                let v: f64 = value.trim().parse().map_err(|_| bad())?;
                (v >= 0.0).then_some(AccuracyFloor::Kl(v)).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }

    /// `None` when met, else why not. A cell exact by construction meets every floor: it is
    /// the reference's own computation, quality-preserving by definition. Any other cell must
    /// have measured the figure; one it did not measure fails the floor.
    fn violation(&self, s: &Summary) -> Option<String> {
        if s.exact_by_construction() {
            return None;
        }
        let missing = |what: &str| Some(format!("no {what} measured"));
        match *self {
            AccuracyFloor::PerplexityIncreasePct(max) => match (s.perplexity, s.ref_perplexity) {
                (Some(p), Some(r)) if r > 0.0 => {
                    let inc = (p / r - 1.0) * 100.0;
                    (inc > max + 1e-9).then(|| format!("perplexity +{inc:.2}% > {max}%"))
                }
                _ => missing("perplexity"),
            },
            AccuracyFloor::Agreement(min) => match s.agreement {
                Some(a) => (a < min - 1e-12).then(|| format!("agreement {a:.3} < {min}")),
                None => missing("agreement"),
            },
            AccuracyFloor::Kl(max) => match s.kl_mean {
                Some(k) => (k > max + 1e-12).then(|| format!("KL {k:.4} > {max}")),
                None => missing("KL"),
            },
        }
    }
}

/// The quality floor `evaluate` and `recommend` hold every pick to unless told otherwise
/// (`--accuracy-floor none` opts out). Chosen from the committed stores, before any test
/// task: 8- and 6-bit weights stay within it (q8_0 at most +3.7 % perplexity with greedy
/// agreement at least 0.938 over the evaluation store, q6k at most +3.2 %), while 4-bit
/// formats on these small models (q4_0 up to +59 %, agreement 0.43–0.73) and dropped layers,
/// heads or ranks (perplexity ×2–×5) miss it. Agreement ≥ 0.9 means at most one greedy token
/// in ten differs from the reference's; the perplexity clause catches a change spread over
/// the whole distribution that greedy decoding does not show.
pub const DEFAULT_ACCURACY_FLOOR: &str = "ppl:5%,agreement:0.9";

/// A parsed `--accuracy-floor` (all clauses must hold; `none`: no floor).
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyFloors(pub Vec<AccuracyFloor>);

impl AccuracyFloors {
    pub fn parse(s: &str) -> Result<AccuracyFloors, String> {
        if s.trim() == "none" {
            return Ok(AccuracyFloors(vec![]));
        }
        AccuracyFloor::parse_list(s).map(AccuracyFloors)
    }

    /// [`DEFAULT_ACCURACY_FLOOR`].
    pub fn default_floor() -> AccuracyFloors {
        AccuracyFloors::parse(DEFAULT_ACCURACY_FLOOR).expect("the default floor parses")
    }

    /// The clauses as written, `none` when there are none.
    pub fn label(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0
            .iter()
            .map(|f| match f {
                AccuracyFloor::PerplexityIncreasePct(p) => format!("ppl:{p}%"),
                AccuracyFloor::Agreement(a) => format!("agreement:{a}"),
                AccuracyFloor::Kl(k) => format!("kl:{k}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Limits an arm must meet on a task to be feasible there.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Constraints {
    pub accuracy: Vec<AccuracyFloor>,
    /// Peak resident memory, MB.
    pub memory_limit_mb: Option<f64>,
    /// Cost per 1000 generated tokens, dollars.
    pub budget: Option<f64>,
}

impl Constraints {
    /// Whether a cell that ran misses the quality floor in force, or [`DEFAULT_ACCURACY_FLOOR`]
    /// when none is: a pick of it gives up quality (what `evaluate` reports as a floor violation).
    pub fn below_floor(&self, rec: &CellRecord) -> bool {
        let default;
        let floors = if self.accuracy.is_empty() {
            default = AccuracyFloors::default_floor().0;
            &default
        } else {
            &self.accuracy
        };
        match (&rec.summary, rec.status) {
            (Some(s), CellStatus::Ok) => floors.iter().any(|f| f.violation(s).is_some()),
            _ => false,
        }
    }

    /// `None` when the cell may be picked, else the reason it is infeasible. Failed and
    /// not-applicable cells are infeasible with their stored reason.
    pub fn violation(&self, rec: &CellRecord) -> Option<String> {
        let s = match (&rec.summary, rec.status) {
            (Some(s), CellStatus::Ok) => s,
            (_, status) => {
                let why = rec.reason.as_deref().unwrap_or("no reason stored");
                return Some(format!("{}: {why}", status.as_str()));
            }
        };
        if let Some(why) = self.accuracy.iter().find_map(|f| f.violation(s)) {
            return Some(why);
        }
        if let Some(limit) = self.memory_limit_mb {
            if s.peak_rss_mb > limit {
                return Some(format!("peak RSS {:.0} MB > {limit} MB", s.peak_rss_mb));
            }
        }
        if let Some(budget) = self.budget {
            if s.cost_per_1k_tokens > budget {
                return Some(format!("cost {:.3e} $/1k tok > budget {budget:.3e}", s.cost_per_1k_tokens));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_floor_syntax() {
        let f = AccuracyFloor::parse_list("ppl:1%, agreement:0.99,kl:0.02").unwrap();
        assert_eq!(
            f,
            vec![AccuracyFloor::PerplexityIncreasePct(1.0), AccuracyFloor::Agreement(0.99), AccuracyFloor::Kl(0.02)]
        );
        for bad in ["ppl:1", "agreement:2", "speed:3", "ppl", "kl:-1"] {
            let e = AccuracyFloor::parse_list(bad).unwrap_err();
            assert!(e.contains("expected `ppl:P%`"), "{e}");
        }
    }

    #[test]
    fn constraints_mark_cells_infeasible() {
        let mut rec = crate::record::test_record("a");
        let c = Constraints { accuracy: AccuracyFloor::parse_list("ppl:1%").unwrap(), ..Default::default() };
        // 12.5 vs 12.0 is +4.2%.
        assert!(c.violation(&rec).unwrap().contains("perplexity +4.17%"));
        let c = Constraints { memory_limit_mb: Some(100.0), ..Default::default() };
        assert!(c.violation(&rec).unwrap().contains("peak RSS"));
        assert_eq!(Constraints::default().violation(&rec), None);
        rec.status = CellStatus::Failed;
        rec.reason = Some("oom".into());
        assert_eq!(Constraints::default().violation(&rec).unwrap(), "failed: oom");
    }

    #[test]
    fn an_exact_by_construction_cell_meets_every_floor_and_an_unmeasured_one_none() {
        let floors = Constraints {
            accuracy: AccuracyFloor::parse_list("ppl:0%,agreement:1,kl:0").unwrap(),
            ..Default::default()
        };
        let mut rec = crate::record::test_record("a");
        rec.technique = "kv-off".into();
        let s = rec.summary.as_mut().unwrap();
        (s.ref_perplexity, s.agreement, s.kl_mean) = (None, None, None);
        // Figures absent and no basis: nothing says the quality is kept.
        assert_eq!(floors.violation(&rec).unwrap(), "no perplexity measured");
        rec.summary.as_mut().unwrap().set_accuracy_basis(crate::record::accuracy::Basis::ExactByConstruction);
        assert_eq!(floors.violation(&rec), None);
    }

    #[test]
    fn performance_is_higher_is_better() {
        assert_eq!(Objective::Latency.performance(4.0), Some(0.25));
        assert_eq!(Objective::Throughput.performance(4.0), Some(4.0));
        assert_eq!(Objective::Latency.performance(0.0), None);
        assert_eq!(Objective::Latency.raw_from_performance(0.25), 4.0);
    }
}

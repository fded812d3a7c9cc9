//! What an arm does to the model's outputs, predicted for a task before it runs: the
//! quality side of a recommendation.
//!
//! Quality is a property of the model and the technique (not of the workload, threads or
//! machine: the accuracy figures are measured on the corpus against the f32 reference of the
//! same model), so the prediction is read from the store, conservatively:
//! - a technique that changes neither weights nor structure is **exact by construction**;
//! - one measured on this model: the **worst** figures of its cells (largest perplexity
//!   increase, lowest greedy agreement), not their mean;
//! - one measured only on other models: the worst over those models (quality loss grows as
//!   models shrink, and the store's models are small, so this errs on the safe side for larger
//!   ones and says it transferred);
//! - one never measured: unknown, which meets no floor.
//!
//! An arm whose predicted quality misses the floor is no candidate of a recommendation.

use std::collections::BTreeMap;

use super::objective::AccuracyFloor;
use crate::record::{CellRecord, CellStatus};
use crate::techniques::TechniqueName;

/// Where a predicted quality comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// The technique does not change the reference's computation.
    Exact,
    /// Measured on this model, in this many cells.
    Measured(usize),
    /// Measured on other models only: the worst of these.
    Transferred(Vec<String>),
    /// Never measured.
    Unknown,
}

/// Predicted quality of one technique on one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    /// Perplexity increase over the f32 reference, percent.
    pub ppl_increase_pct: Option<f64>,
    /// Greedy-token agreement with the reference, 0..1.
    pub agreement: Option<f64>,
    pub basis: Basis,
}

impl Quality {
    /// `None` when every floor is met, else why not.
    pub fn violation(&self, floors: &[AccuracyFloor]) -> Option<String> {
        if self.basis == Basis::Exact {
            return None;
        }
        floors.iter().find_map(|f| match *f {
            AccuracyFloor::PerplexityIncreasePct(max) => match self.ppl_increase_pct {
                Some(p) => (p > max + 1e-9).then(|| format!("perplexity +{p:.1}% > {max}%")),
                None => Some("perplexity never measured".into()),
            },
            AccuracyFloor::Agreement(min) => match self.agreement {
                Some(a) => (a < min - 1e-12).then(|| format!("agreement {a:.3} < {min}")),
                None => Some("agreement never measured".into()),
            },
            AccuracyFloor::Kl(_) => Some("KL is not predicted; use ppl: or agreement: floors".into()),
        })
    }

    /// One line: `perplexity +2.3%, agreement 0.969 (measured on this model, 4 cells)`.
    pub fn describe(&self) -> String {
        let figures = match (self.ppl_increase_pct, self.agreement) {
            _ if self.basis == Basis::Exact => "the reference's outputs".to_string(),
            (Some(p), Some(a)) => format!("perplexity {p:+.1}%, agreement {a:.3}"),
            (Some(p), None) => format!("perplexity {p:+.1}%"),
            (None, Some(a)) => format!("agreement {a:.3}"),
            (None, None) => "unknown".to_string(),
        };
        let basis = match &self.basis {
            Basis::Exact => "exact by construction".to_string(),
            Basis::Measured(n) => format!("worst of {n} measured cells of this model"),
            Basis::Transferred(models) => {
                format!("not measured on this model: worst over {} other models ({})", models.len(), models.join(", "))
            }
            Basis::Unknown => "never measured in the store".to_string(),
        };
        format!("{figures} ({basis})")
    }
}

/// One model's measured (perplexity increases %, greedy agreements) for one technique.
type Figures = (Vec<f64>, Vec<f64>);

/// Measured accuracy per (model, technique).
#[derive(Debug, Clone, Default)]
pub struct QualityTable {
    /// technique → model → (ppl increases, agreements).
    cells: BTreeMap<String, BTreeMap<String, Figures>>,
}

impl QualityTable {
    pub fn from_records(records: &[CellRecord]) -> QualityTable {
        let mut t = QualityTable::default();
        for rec in records.iter().filter(|r| r.status == CellStatus::Ok) {
            let Some(s) = &rec.summary else { continue };
            if s.exact_by_construction() {
                continue;
            }
            let entry = t.cells.entry(rec.technique.clone()).or_default().entry(rec.model.clone()).or_default();
            if let (Some(p), Some(r)) = (s.perplexity, s.ref_perplexity) {
                if r > 0.0 && p.is_finite() {
                    entry.0.push((p / r - 1.0) * 100.0);
                }
            }
            if let Some(a) = s.agreement.filter(|a| a.is_finite()) {
                entry.1.push(a);
            }
        }
        t
    }

    /// The predicted quality of `technique` on `model`.
    pub fn predict(&self, model: &str, technique: &TechniqueName) -> Quality {
        if technique.exact() {
            return Quality { ppl_increase_pct: Some(0.0), agreement: Some(1.0), basis: Basis::Exact };
        }
        let worst = |v: &[Figures]| {
            let p = v
                .iter()
                .flat_map(|c| c.0.iter().copied())
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
            let a = v
                .iter()
                .flat_map(|c| c.1.iter().copied())
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
            (p, a)
        };
        let Some(by_model) = self.cells.get(&technique.to_string()) else {
            return Quality { ppl_increase_pct: None, agreement: None, basis: Basis::Unknown };
        };
        if let Some(own) = by_model.get(model).filter(|c| !c.0.is_empty() || !c.1.is_empty()) {
            let (p, a) = worst(std::slice::from_ref(own));
            return Quality { ppl_increase_pct: p, agreement: a, basis: Basis::Measured(own.0.len().max(own.1.len())) };
        }
        let others: Vec<(&String, &Figures)> =
            by_model.iter().filter(|(_, c)| !c.0.is_empty() || !c.1.is_empty()).collect();
        if others.is_empty() {
            return Quality { ppl_increase_pct: None, agreement: None, basis: Basis::Unknown };
        }
        let cells: Vec<Figures> = others.iter().map(|(_, c)| (*c).clone()).collect();
        let (p, a) = worst(&cells);
        Quality {
            ppl_increase_pct: p,
            agreement: a,
            basis: Basis::Transferred(others.iter().map(|(m, _)| m.to_string()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::objective::AccuracyFloor;

    fn cell(model: &str, technique: &str, ppl: f64, agreement: f64) -> CellRecord {
        let mut r = crate::record::test_record(&format!("{model}{technique}{ppl}"));
        r.model = model.into();
        r.technique = technique.into();
        let s = r.summary.as_mut().unwrap();
        (s.perplexity, s.ref_perplexity, s.agreement) = (Some(10.0 * (1.0 + ppl / 100.0)), Some(10.0), Some(agreement));
        r
    }

    #[test]
    fn the_worst_measured_figures_are_predicted_and_checked_against_the_floor() {
        let t = QualityTable::from_records(&[
            cell("a", "q8_0", 1.0, 0.97),
            cell("a", "q8_0", 3.0, 0.95),
            cell("b", "q4_0", 20.0, 0.7),
            cell("c", "q4_0", 8.0, 0.8),
        ]);
        let floor = AccuracyFloor::parse_list("ppl:5%,agreement:0.9").unwrap();
        let name = |s: &str| TechniqueName::parse(s).unwrap();
        let q8 = t.predict("a", &name("q8_0"));
        assert_eq!(q8.basis, Basis::Measured(2));
        assert!((q8.ppl_increase_pct.unwrap() - 3.0).abs() < 1e-9 && q8.agreement == Some(0.95));
        assert_eq!(q8.violation(&floor), None);
        let q4 = t.predict("new", &name("q4_0"));
        assert!(matches!(q4.basis, Basis::Transferred(ref m) if m.len() == 2));
        assert!(q4.violation(&floor).unwrap().contains("perplexity +20.0%"), "{q4:?}");
        assert_eq!(t.predict("a", &name("q6k")).basis, Basis::Unknown);
        assert!(t.predict("a", &name("q6k")).violation(&floor).is_some(), "unknown quality meets no floor");
        let exact = t.predict("new", &name("kv-off"));
        assert_eq!((exact.basis.clone(), exact.violation(&floor)), (Basis::Exact, None));
    }
}

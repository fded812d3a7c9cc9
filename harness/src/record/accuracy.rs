//! How a cell knows its fidelity to the f32 reference: measured, or exact by construction.
//!
//! Most techniques are scored against the reference (agreement, KL, the reference's perplexity).
//! A technique that changes neither weights nor structure on our engine (f32 weights, `kv-off`,
//! speculative decoding, the serving policies, f32 placements) is scored by the reference's own
//! teacher-forced forward pass: comparing it with the reference would compare the reference with
//! itself, so such a cell stores no agreement, KL or reference perplexity, only its basis
//! `exact-by-construction` in `extra.accuracy`. That the techniques' own decoding loops give the
//! reference's tokens is shown by tests on a real decoder (`tests/it/exact_techniques.rs`), not per cell.

use super::{CellRecord, Summary};
use crate::engines::DEFAULT_ENGINE;
use crate::techniques::TechniqueName;

/// Where the basis is kept in a summary's `extra`.
pub const KEY: &str = "accuracy";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Scored against the reference: the figures are measurements.
    Measured,
    /// The reference's own computation: no figure compares it with the reference.
    ExactByConstruction,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::ExactByConstruction => "exact-by-construction",
        }
    }

    pub fn parse(s: &str) -> Option<Basis> {
        [Basis::Measured, Basis::ExactByConstruction].into_iter().find(|b| b.as_str() == s)
    }
}

impl Summary {
    /// The basis of this cell's accuracy figures; `None` for a cell that has none (an imported
    /// scenario). A record without the marker is measured when it holds a figure.
    pub fn accuracy_basis(&self) -> Option<Basis> {
        match self.extra.get(KEY).and_then(|v| v.as_str()).and_then(Basis::parse) {
            Some(b) => Some(b),
            None => (self.agreement.is_some() || self.kl_mean.is_some() || self.ref_perplexity.is_some())
                .then_some(Basis::Measured),
        }
    }

    pub fn exact_by_construction(&self) -> bool {
        self.accuracy_basis() == Some(Basis::ExactByConstruction)
    }

    /// Records `basis`. An exact cell keeps its perplexity (its own forward pass, measured) and
    /// drops the figures that would only compare it with itself.
    pub fn set_accuracy_basis(&mut self, basis: Basis) {
        if basis == Basis::ExactByConstruction {
            (self.ref_perplexity, self.agreement, self.kl_mean) = (None, None, None);
        }
        if !self.extra.is_object() {
            self.extra = serde_json::json!({});
        }
        if let Some(obj) = self.extra.as_object_mut() {
            obj.insert(KEY.into(), basis.as_str().into());
        }
    }
}

/// A store written before the basis existed holds agreement 1 and KL 0, written rather than
/// measured, for our engine's exact techniques: read back, such a cell is marked exact by
/// construction like a new one, so no consumer takes those figures for measurements.
pub fn upgrade_legacy(rec: &mut CellRecord) {
    let exact = rec.engine == DEFAULT_ENGINE && TechniqueName::from_stored(&rec.technique).exact();
    let Some(s) = rec.summary.as_mut() else { return };
    let written = s.extra.get(KEY).is_none() && s.agreement == Some(1.0) && s.kl_mean == Some(0.0);
    if exact && written {
        s.set_accuracy_basis(Basis::ExactByConstruction);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    fn legacy(technique: &str, engine: &str) -> CellRecord {
        let mut rec = test_record("a");
        rec.technique = technique.into();
        rec.engine = engine.into();
        let s = rec.summary.as_mut().unwrap();
        (s.ref_perplexity, s.agreement, s.kl_mean) = (s.perplexity, Some(1.0), Some(0.0));
        rec
    }

    #[test]
    fn a_basis_reads_back_from_its_name() {
        for b in [Basis::Measured, Basis::ExactByConstruction] {
            assert_eq!(Basis::parse(b.as_str()), Some(b));
        }
        assert_eq!(Basis::parse("exact"), None);
    }

    #[test]
    fn an_exact_cell_keeps_its_perplexity_and_drops_the_comparisons() {
        let mut s = test_record("a").summary.unwrap();
        assert_eq!(s.accuracy_basis(), Some(Basis::Measured), "unmarked with figures: measured");
        s.set_accuracy_basis(Basis::ExactByConstruction);
        assert_eq!((s.perplexity, s.ref_perplexity, s.agreement, s.kl_mean), (Some(12.5), None, None, None));
        assert_eq!(s.extra[KEY], "exact-by-construction");
        assert_eq!(s.extra["n"], 2, "the rest of extra stays");
        assert!(s.exact_by_construction());
        let mut bare = Summary::default();
        assert_eq!(bare.accuracy_basis(), None, "no figures, no basis");
        bare.set_accuracy_basis(Basis::Measured);
        assert_eq!(bare.accuracy_basis(), Some(Basis::Measured));
    }

    #[test]
    fn old_stores_written_figures_read_back_as_exact_by_construction() {
        let cases = [
            ("f32", true),
            ("kv-off", true),
            ("spec:draft=q4_0,k=2", true),
            ("prefix-cache", true),
            ("q8_0+spec:draft=q4_0,k=2", false),
            ("q8_0", false),
        ];
        for (technique, expect_exact) in cases {
            let mut rec = legacy(technique, DEFAULT_ENGINE);
            upgrade_legacy(&mut rec);
            let s = rec.summary.unwrap();
            assert_eq!(s.exact_by_construction(), expect_exact, "{technique}");
            assert_eq!(s.agreement.is_none(), expect_exact, "{technique}");
        }
        // Another engine's exact technique was measured against ours: its figures stay.
        let mut rec = legacy("f32", "llama.cpp");
        upgrade_legacy(&mut rec);
        assert_eq!(rec.summary.unwrap().agreement, Some(1.0));
        // A measured figure below 1 is a measurement, whatever the technique.
        let mut rec = legacy("kv-off", DEFAULT_ENGINE);
        rec.summary.as_mut().unwrap().agreement = Some(0.99);
        upgrade_legacy(&mut rec);
        assert!(!rec.summary.unwrap().exact_by_construction());
    }
}

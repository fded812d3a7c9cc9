//! A validated technique expression (`q4k+layer-skip:2`): parsed once, a type from then on.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{known_names, registry, AppliesTo, ExecutionPlan, Scope, Technique};

/// One `+`-separated part: a registered technique (by registry index) and its parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Part {
    /// `None` for a name this build does not know (read back from a store).
    technique: Option<usize>,
    param: Option<String>,
}

/// A technique expression. Built by [`TechniqueName::parse`] (grids: strict) or
/// [`TechniqueName::from_stored`] (stores: keeps names this build does not know).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TechniqueName {
    text: String,
    parts: Vec<Part>,
}

fn split(s: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    s.split('+').map(str::trim).map(|p| match p.split_once(':') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (p, None),
    })
}

fn canonical(s: &str) -> String {
    split(s)
        .map(|(n, v)| match v {
            Some(v) => format!("{n}:{v}"),
            None => n.to_string(),
        })
        .collect::<Vec<_>>()
        .join("+")
}

impl TechniqueName {
    /// Parses and validates an expression: every part registered, parameters where
    /// (and only where) a technique takes one, no aspect decided twice.
    pub fn parse(s: &str) -> Result<Self, String> {
        let reg = registry();
        let mut plan = ExecutionPlan::default();
        let mut parts = Vec::new();
        for (name, param) in split(s) {
            let i = reg
                .iter()
                .position(|t| t.name() == name)
                .ok_or_else(|| format!("unknown technique `{name}`; known techniques: {}", known_names().join(", ")))?;
            if parts.iter().any(|p: &Part| p.technique == Some(i)) {
                return Err(format!("technique `{s}`: `{name}` appears twice"));
            }
            let t = &reg[i];
            match (t.parameter(), param) {
                (Some(what), None) => return Err(format!("technique `{name}` needs a parameter: `{name}:{what}`")),
                (None, Some(_)) => return Err(format!("technique `{name}` takes no parameter (`:...`)")),
                _ => {}
            }
            t.apply(param, &mut plan).map_err(|e| format!("technique `{s}`: {e}"))?;
            parts.push(Part { technique: Some(i), param: param.map(str::to_string) });
        }
        Ok(Self { text: canonical(s), parts })
    }

    /// A name read back from a store: parts this build does not know are kept
    /// (they sort last, are never exact, and plan as the reference).
    pub fn from_stored(s: &str) -> Self {
        if let Ok(t) = Self::parse(s) {
            return t;
        }
        let reg = registry();
        let parts = split(s)
            .map(|(name, param)| Part {
                technique: reg.iter().position(|t| t.name() == name),
                param: param.map(str::to_string),
            })
            .collect();
        Self { text: canonical(s), parts }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn with_techniques<R>(&self, f: impl FnOnce(Vec<(Option<&dyn Technique>, Option<&str>)>) -> R) -> R {
        let reg = registry();
        let parts = self.parts.iter().map(|p| (p.technique.map(|i| reg[i]), p.param.as_deref())).collect();
        f(parts)
    }

    /// The recipe the engine runs.
    pub fn plan(&self) -> ExecutionPlan {
        self.with_techniques(|parts| {
            let mut plan = ExecutionPlan::default();
            for (t, param) in parts.into_iter() {
                if let Some(t) = t {
                    // Validated in `parse`; a stored name that no longer validates plans what it can.
                    let _ = t.apply(param, &mut plan);
                }
            }
            plan
        })
    }

    /// Whether the outputs equal the reference's by construction: no part changes
    /// weights or structure (an unknown part is assumed to).
    pub fn exact(&self) -> bool {
        self.with_techniques(|parts| parts.iter().all(|(t, _)| t.is_some_and(|t| !t.alters_outputs())))
    }

    /// Why this expression cannot run on a workload (`serving`: it has a `serving:`
    /// section), from each part's [`Technique::applies_to`]; `None` when it can.
    pub fn not_applicable(&self, serving: bool) -> Option<String> {
        self.with_techniques(|parts| {
            parts.iter().find_map(|(t, _)| {
                let t = (*t)?;
                match (t.applies_to(), serving) {
                    (AppliesTo::Serving, false) => Some(format!(
                        "`{}` is a serving technique: it needs a workload with a `serving:` section",
                        t.name()
                    )),
                    (AppliesTo::Generation, true) => Some(format!(
                        "`{}` cannot run in the serving loop, which always keeps a KV cache of paged blocks",
                        t.name()
                    )),
                    _ => None,
                }
            })
        })
    }

    /// Whether this is exactly the baseline technique of `scope`.
    pub fn is_reference(&self, scope: Scope) -> bool {
        self.with_techniques(|parts| matches!(parts.as_slice(), [(Some(t), None)] if t.reference_for() == Some(scope)))
    }

    /// Order of tables and figures: by the first part's rank, then fewer parts, then name.
    pub fn sort_key(&self) -> (u16, usize, String) {
        let rank = self.with_techniques(|parts| parts.first().and_then(|(t, _)| t.map(|t| t.sort_rank())));
        (rank.unwrap_or(u16::MAX), self.parts.len().saturating_sub(1), self.text.clone())
    }
}

impl fmt::Display for TechniqueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for TechniqueName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for TechniqueName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TechniqueName::parse(&s).map_err(serde::de::Error::custom)
    }
}

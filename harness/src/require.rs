//! What a test needs from the machine, and one rule for when it is missing.
//!
//! Tests that need a model file, writable cgroups, a tmpfs mount, a PostgreSQL server, a
//! Slurm cluster or Chromium skip with a `skipped:` line on a developer's machine that lacks
//! it, so the README's test command passes after its quick start alone. libtest counts such a
//! test as passed, so where the resource must be there — CI — `HARNESS_REQUIRE` names it and
//! its absence fails the test instead: `HARNESS_REQUIRE=models,postgres` or
//! `HARNESS_REQUIRE=all` (what `.ci/run` sets).

use std::path::PathBuf;

/// A resource some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The quick start's models (SmolLM2, MiniLM: `scripts/fetch_models.sh`).
    Models,
    /// Gemma 3 270M and the Qwen2.5-Coder pair (`scripts/fetch_gemma3-270m.sh`,
    /// `scripts/fetch_qwen2.5-coder-*.sh`; ~1.9 GB, not fetched by the quick start).
    LargeModels,
    /// Writable cgroup v1 `cpu` and `memory` hierarchies (root).
    Cgroups,
    /// Mounting a tmpfs (root).
    Tmpfs,
    /// A PostgreSQL server on loopback (`scripts/postgres.sh`).
    Postgres,
    /// A one-node Slurm cluster (`scripts/slurm.sh`).
    Slurm,
    /// Headless Chromium (Debian's `chromium`).
    Chromium,
}

impl Resource {
    pub const ALL: [Resource; 7] = [
        Resource::Models,
        Resource::LargeModels,
        Resource::Cgroups,
        Resource::Tmpfs,
        Resource::Postgres,
        Resource::Slurm,
        Resource::Chromium,
    ];

    /// The name `HARNESS_REQUIRE` lists it by.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Models => "models",
            Resource::LargeModels => "large-models",
            Resource::Cgroups => "cgroups",
            Resource::Tmpfs => "tmpfs",
            Resource::Postgres => "postgres",
            Resource::Slurm => "slurm",
            Resource::Chromium => "chromium",
        }
    }

    /// Whether `HARNESS_REQUIRE` makes this resource's absence a failure.
    pub fn required(self) -> bool {
        required_in(self, std::env::var("HARNESS_REQUIRE").as_deref().unwrap_or(""))
    }

    /// A test's resource is missing (`why` says what and how to get it): a failure (a panic)
    /// when it is required, else a `skipped:` line on stderr. Returns `None` so a test can
    /// write `let Some(x) = found.or_else(|| Resource::X.missing(..)) else { return };`.
    pub fn missing<T>(self, why: &str) -> Option<T> {
        assert!(!self.required(), "HARNESS_REQUIRE names {} but {why}", self.name());
        eprintln!("skipped: {why}");
        None
    }
}

/// Whether the comma-separated list `list` names `r` (or `all`). An unknown name panics: a
/// misspelt requirement would otherwise let every test it meant skip unseen.
fn required_in(r: Resource, list: &str) -> bool {
    let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    for n in &names {
        assert!(
            *n == "all" || Resource::ALL.iter().any(|x| x.name() == *n),
            "HARNESS_REQUIRE: unknown resource {n:?} (known: all, {})",
            Resource::ALL.map(Resource::name).join(", ")
        );
    }
    names.iter().any(|n| *n == "all" || *n == r.name())
}

/// The hub cache the tests read models from: `$HARNESS_HUB_CACHE` as the fetch scripts
/// take it, else `models/hub` of this checkout.
pub fn hub_cache() -> PathBuf {
    std::env::var_os("HARNESS_HUB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/hub"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_resources_or_all() {
        assert!(!required_in(Resource::Postgres, ""));
        assert!(required_in(Resource::Postgres, "models, postgres"));
        assert!(!required_in(Resource::Slurm, "models,postgres"));
        assert!(!required_in(Resource::Models, "large-models"));
        for r in Resource::ALL {
            assert!(required_in(r, "all"), "{r:?}");
        }
    }

    #[test]
    #[should_panic(expected = "unknown resource \"postgress\"")]
    fn a_misspelt_resource_fails() {
        required_in(Resource::Postgres, "postgress");
    }
}

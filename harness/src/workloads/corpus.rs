//! Text gathered by `scripts/fetch_corpus.sh` under `data/corpus/NAME/`.
//! One file per corpus is held out (never used for prompts) for perplexity.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The file of each corpus whose text is held out for scoring.
fn heldout_file(corpus: &str) -> &'static str {
    match corpus {
        "licenses" => "MPL-2.0",
        _ => "heldout.txt",
    }
}

pub const FETCH_COMMAND: &str = "scripts/fetch_corpus.sh";

/// `$HARNESS_CORPUS_DIR`, else `data/corpus`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("HARNESS_CORPUS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data/corpus"))
}

pub struct Corpus {
    pub train: String,
    pub heldout: String,
}

impl Corpus {
    pub fn load(dir: &Path, name: &str) -> Result<Self> {
        let root = dir.join(name);
        if !root.is_dir() {
            bail!("corpus `{name}` not found at {}; gather it with {FETCH_COMMAND}", root.display());
        }
        let mut files: Vec<_> = std::fs::read_dir(&root)
            .with_context(|| format!("listing {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let held_name = heldout_file(name);
        let (mut train, mut heldout) = (String::new(), None);
        for f in files {
            let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
            if f.file_name().is_some_and(|n| n == held_name) {
                heldout = Some(text);
            } else {
                train.push_str(&text);
                train.push('\n');
            }
        }
        let heldout = heldout
            .with_context(|| format!("corpus `{name}` has no held-out file {held_name} in {}", root.display()))?;
        Ok(Self { train, heldout })
    }
}

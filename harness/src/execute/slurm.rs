//! `harness slurm GRID --array N`: a Slurm job array whose task K runs `harness run GRID
//! --shard K/N`, each into its own SQLite store (merged afterwards with `harness merge`)
//! or all into one shared PostgreSQL store. The script is written to a folder with a
//! small record of the array (`array.json`), which `harness slurm status` reads back.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Everything the job script says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArrayJob {
    /// The grid file (absolute).
    pub grid: PathBuf,
    /// Tasks in the array (= shards).
    pub n: usize,
    /// A shared store (PostgreSQL URL, no password); `None`: one SQLite store per task in `dir`.
    pub store: Option<String>,
    /// Where the script, the logs and the per-task stores go (absolute).
    pub dir: PathBuf,
    pub partition: Option<String>,
    /// Wall-clock limit per task, in Slurm's format (`1:00:00`).
    pub time: Option<String>,
    /// CPUs each task asks for (the grid's largest thread count).
    pub cpus: usize,
    /// The harness binary the tasks run (absolute).
    pub exe: PathBuf,
    /// The folder the tasks start in (the submitting one).
    pub workdir: PathBuf,
    pub hub_cache: PathBuf,
    pub corpus_dir: PathBuf,
    /// Set once submitted.
    pub job_id: Option<String>,
}

impl ArrayJob {
    /// Task `k`'s store: the shared one, or `dir/shard-K.db`.
    pub fn store_of(&self, k: usize) -> PathBuf {
        match &self.store {
            Some(url) => PathBuf::from(url),
            None => self.dir.join(format!("shard-{k}.db")),
        }
    }

    pub fn script_path(&self) -> PathBuf {
        self.dir.join("job.sbatch")
    }

    fn record_path(dir: &Path) -> PathBuf {
        dir.join("array.json")
    }

    /// The `sbatch` script: array indices 1..=N are the shard numbers.
    pub fn script(&self) -> String {
        let name = self.grid.file_stem().map_or("grid".into(), |s| s.to_string_lossy().into_owned());
        let mut s = String::from("#!/bin/bash\n# Written by `harness slurm`: task K of the array runs shard K of N.\n");
        s += &format!("#SBATCH --job-name=harness-{}\n", sanitize(&name));
        s += &format!("#SBATCH --array=1-{}\n", self.n);
        s += &format!("#SBATCH --cpus-per-task={}\n", self.cpus);
        s += &format!("#SBATCH --output={}\n", self.dir.join("task-%a.log").display());
        if let Some(p) = &self.partition {
            s += &format!("#SBATCH --partition={p}\n");
        }
        if let Some(t) = &self.time {
            s += &format!("#SBATCH --time={t}\n");
        }
        s += "set -euo pipefail\n";
        s += &format!("cd {}\n", quote(&self.workdir.display().to_string()));
        let store = match &self.store {
            Some(url) => quote(url),
            None => format!("{}/shard-${{SLURM_ARRAY_TASK_ID}}.db", quote(&self.dir.display().to_string())),
        };
        s += &format!(
            "exec {} run {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\" --store {store} --hub-cache {} --corpus-dir {}\n",
            quote(&self.exe.display().to_string()),
            quote(&self.grid.display().to_string()),
            self.n,
            quote(&self.hub_cache.display().to_string()),
            quote(&self.corpus_dir.display().to_string()),
        );
        s
    }

    /// Writes the script and the record of the array into `dir`.
    pub fn write(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        std::fs::write(self.script_path(), self.script())
            .with_context(|| format!("writing {}", self.script_path().display()))?;
        let rec = ArrayJob::record_path(&self.dir);
        std::fs::write(&rec, serde_json::to_string_pretty(self)?).with_context(|| format!("writing {}", rec.display()))
    }

    /// The array written into `dir` by an earlier `harness slurm`.
    pub fn read(dir: &Path) -> Result<ArrayJob> {
        let rec = ArrayJob::record_path(dir);
        let text = std::fs::read_to_string(&rec).with_context(|| {
            format!("no job array recorded in {} (write one with `harness slurm GRID --array N`)", dir.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", rec.display()))
    }

    /// `sbatch --parsable` the script; records and returns the job id.
    pub fn submit(&mut self) -> Result<String> {
        let out = Command::new("sbatch")
            .arg("--parsable")
            .arg(self.script_path())
            .output()
            .context("running sbatch (is Slurm installed? scripts/slurm.sh starts a one-node cluster)")?;
        anyhow::ensure!(out.status.success(), "sbatch failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.trim().split(';').next().unwrap_or_default().to_string();
        anyhow::ensure!(!id.is_empty() && id.chars().all(|c| c.is_ascii_digit()), "sbatch printed no job id: {text}");
        self.job_id = Some(id.clone());
        self.write()?;
        Ok(id)
    }

    /// The array's tasks still known to Slurm, by state (`PENDING`, `RUNNING`...); empty once all ended.
    pub fn queue(&self) -> Result<Vec<(String, usize)>> {
        let Some(id) = &self.job_id else { return Ok(vec![]) };
        let out = Command::new("squeue").args(["-h", "-r", "-j", id, "-o", "%T"]).output().context("running squeue")?;
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for state in String::from_utf8_lossy(&out.stdout).lines().map(str::trim).filter(|l| !l.is_empty()) {
            *counts.entry(state.to_string()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }
}

/// A job name Slurm and shells take as it is.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Single-quoted for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_runs_shard_k_of_n_into_its_own_store() {
        let job = ArrayJob {
            grid: "/g/smoke.yaml".into(),
            n: 3,
            store: None,
            dir: "/r/it's here".into(),
            partition: Some("debug".into()),
            time: Some("0:30:00".into()),
            cpus: 2,
            exe: "/bin/harness".into(),
            workdir: "/w".into(),
            hub_cache: "/h".into(),
            corpus_dir: "/c".into(),
            job_id: None,
        };
        let s = job.script();
        assert!(s.contains("#SBATCH --array=1-3\n") && s.contains("#SBATCH --partition=debug\n"), "{s}");
        assert!(s.contains("--shard \"${SLURM_ARRAY_TASK_ID}/3\""), "{s}");
        assert!(s.contains(r"--store '/r/it'\''s here'/shard-${SLURM_ARRAY_TASK_ID}.db"), "{s}");
        let shared = ArrayJob { store: Some("postgres://u@h/db".into()), ..job };
        assert!(shared.script().contains("--store 'postgres://u@h/db' "));
        assert_eq!(shared.store_of(2), PathBuf::from("postgres://u@h/db"));
    }
}

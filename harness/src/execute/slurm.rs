//! `harness slurm GRID --array N`: a Slurm job array whose task K runs `harness run GRID
//! --shard K/N`, each into its own SQLite store (merged afterwards with `harness merge`)
//! or all into one shared PostgreSQL store. Hardware profiles that name a Slurm partition
//! or node constraint get an array of their own, which runs only their cells (`--hardware`).
//! The scripts are written to a folder with a record of the arrays (`array.json`), which
//! `harness slurm status` reads back.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Everything one job script says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArrayJob {
    /// Which array of the grid this is (empty: the only one), in its file names.
    pub name: String,
    /// The hardware profiles whose cells it runs (empty: all).
    pub hardware: Vec<String>,
    pub constraint: Option<String>,
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
    /// `-NAME`, or nothing for the only array.
    fn suffix(&self) -> String {
        if self.name.is_empty() {
            String::new()
        } else {
            format!("-{}", self.name)
        }
    }

    /// Task `k`'s store: the shared one, or `dir/shard[-NAME]-K.db`.
    pub fn store_of(&self, k: usize) -> PathBuf {
        match &self.store {
            Some(url) => PathBuf::from(url),
            None => self.dir.join(format!("shard{}-{k}.db", self.suffix())),
        }
    }

    pub fn script_path(&self) -> PathBuf {
        self.dir.join(format!("job{}.sbatch", self.suffix()))
    }

    fn record_path(dir: &Path) -> PathBuf {
        dir.join("array.json")
    }

    /// The `sbatch` script: array indices 1..=N are the shard numbers.
    pub fn script(&self) -> String {
        let name = self.grid.file_stem().map_or("grid".into(), |s| s.to_string_lossy().into_owned());
        let mut s = String::from("#!/bin/bash\n# Written by `harness slurm`: task K of the array runs shard K of N.\n");
        s += &format!("#SBATCH --job-name=harness-{}{}\n", sanitize(&name), self.suffix());
        s += &format!("#SBATCH --array=1-{}\n", self.n);
        s += &format!("#SBATCH --cpus-per-task={}\n", self.cpus);
        s += &format!("#SBATCH --output={}\n", self.dir.join(format!("task{}-%a.log", self.suffix())).display());
        if let Some(p) = &self.partition {
            s += &format!("#SBATCH --partition={p}\n");
        }
        if let Some(c) = &self.constraint {
            s += &format!("#SBATCH --constraint={c}\n");
        }
        if let Some(t) = &self.time {
            s += &format!("#SBATCH --time={t}\n");
        }
        s += "set -euo pipefail\n";
        s += &format!("cd {}\n", quote(&self.workdir.display().to_string()));
        let store = match &self.store {
            Some(url) => quote(url),
            None => {
                format!("{}/shard{}-${{SLURM_ARRAY_TASK_ID}}.db", quote(&self.dir.display().to_string()), self.suffix())
            }
        };
        let only = if self.hardware.is_empty() {
            String::new()
        } else {
            format!(" --hardware {}", quote(&self.hardware.join(",")))
        };
        s += &format!(
            "exec {} run {}{only} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\" --store {store} --hub-cache {} --corpus-dir {}\n",
            quote(&self.exe.display().to_string()),
            quote(&self.grid.display().to_string()),
            self.n,
            quote(&self.hub_cache.display().to_string()),
            quote(&self.corpus_dir.display().to_string()),
        );
        s
    }

    /// Writes every array's script and the record of them all into their folder.
    pub fn write_all(jobs: &[ArrayJob]) -> Result<()> {
        let Some(dir) = jobs.first().map(|j| &j.dir) else { return Ok(()) };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for job in jobs {
            std::fs::write(job.script_path(), job.script())
                .with_context(|| format!("writing {}", job.script_path().display()))?;
        }
        let rec = ArrayJob::record_path(dir);
        std::fs::write(&rec, serde_json::to_string_pretty(jobs)?).with_context(|| format!("writing {}", rec.display()))
    }

    /// The arrays written into `dir` by an earlier `harness slurm`.
    pub fn read(dir: &Path) -> Result<Vec<ArrayJob>> {
        let rec = ArrayJob::record_path(dir);
        let text = std::fs::read_to_string(&rec).with_context(|| {
            format!("no job array recorded in {} (write one with `harness slurm GRID --array N`)", dir.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", rec.display()))
    }

    /// `sbatch --parsable` the script; returns the job id (also kept in `job_id`).
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
            name: String::new(),
            hardware: vec![],
            constraint: None,
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
        let shared = ArrayJob { store: Some("postgres://u@h/db".into()), ..job.clone() };
        assert!(shared.script().contains("--store 'postgres://u@h/db' "));
        assert_eq!(shared.store_of(2), PathBuf::from("postgres://u@h/db"));
        // A profile's own array: its partition and constraint, only its cells, files of its own.
        let big = ArrayJob {
            name: "gpu".into(),
            hardware: vec!["a100".into(), "h100".into()],
            constraint: Some("avx512&highmem".into()),
            ..job
        };
        let s = big.script();
        assert!(s.contains("#SBATCH --constraint=avx512&highmem\n") && s.contains(" --hardware 'a100,h100' "), "{s}");
        assert!(s.contains("/shard-gpu-${SLURM_ARRAY_TASK_ID}.db") && s.contains("task-gpu-%a.log"), "{s}");
        assert_eq!(big.script_path(), PathBuf::from("/r/it's here/job-gpu.sbatch"));
    }

    #[test]
    fn a_profile_placement_that_would_break_the_script_is_refused_with_its_line() {
        let grid = |placement: &str| {
            format!(
                "models: {{m: {{synthetic: {{layers: 1, hidden: 32, heads: 2, intermediate: 64}}}}}}\n\
                 workloads: {{w: {{prompt_tokens: 4, output_tokens: 2}}}}\n\
                 hardware:\n  one:\n    slurm: {placement}\n"
            )
        };
        let ok = crate::config::parse(Path::new("g.yaml"), &grid("{partition: gpu, constraint: \"avx512&highmem\"}"));
        assert!(ok.is_ok(), "{:?}", ok.err());
        let err = crate::config::parse(Path::new("g.yaml"), &grid("{partition: \"gpu\\nrm -rf /\"}")).unwrap_err();
        let e = err.to_string();
        assert!(e.contains("g.yaml:4") && e.contains("hardware.one.slurm.partition"), "{e}");
        assert!(crate::config::parse(Path::new("g.yaml"), &grid("{queue: gpu}")).is_err(), "unknown fields refused");
    }
}

//! Beyond one process: two runners sharing a store (SQLite, PostgreSQL), a Slurm job
//! array, a run killed at random moments, workers that hang or crash. Every cell ends
//! up stored exactly once, and `harness check` passes.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The keys a grid plans (dry run against an empty store).
fn planned(grid: &str, dir: &Path) -> Vec<String> {
    let db = dir.join(format!("dry-{}.db", std::process::id()));
    let o = run(&["run", grid, "--store", db.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_file(&db);
    let mut k: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("to run").map(|r| r.split_whitespace().next().unwrap().to_string()))
        .collect();
    k.sort();
    k
}

fn stored(store: &str) -> Vec<String> {
    let s = harness::store::open_read_only(Path::new(store)).unwrap();
    let mut k: Vec<String> = s.all().unwrap().into_iter().map(|r| r.key).collect();
    k.sort();
    k
}

/// The smoke grid with other techniques: it shares three of them with the smoke grid.
fn overlapping_grid(dir: &Path) -> String {
    let text = std::fs::read_to_string(smoke_grid()).unwrap();
    let b = text.replace("technique: [f32, q8_0, q4k, kv-off]", "technique: [q8_0, q4k, kv-off, q6k]");
    assert_ne!(b, text);
    let path = dir.join("smoke-b.yaml");
    std::fs::write(&path, b.replace("name: smoke", "name: smoke-b")).unwrap();
    path.to_str().unwrap().to_string()
}

fn check_passes(store: &str) {
    let o = run(&["check", "--store", store]);
    assert!(o.status.success() && text(&o).contains(": ok"), "{}", text(&o));
}

/// Two runs of overlapping grids started at the same instant on one store.
fn two_runners(store: &str, dir: &Path) {
    let (a, b) = (smoke_grid(), overlapping_grid(dir));
    let mut union = planned(&a, dir);
    union.extend(planned(&b, dir));
    union.sort();
    union.dedup();
    let start = |grid: &str| {
        harness(&["run", grid, "--store", store]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (ra, rb) = (start(&a), start(&b));
    let (oa, ob) = (ra.wait_with_output().unwrap(), rb.wait_with_output().unwrap());
    for o in [&oa, &ob] {
        assert!(o.status.success(), "{}", text(o));
        assert!(!text(o).contains("locked"), "{}", text(o));
    }
    let both = format!("{}{}", text(&oa), text(&ob));
    assert!(both.contains("stored by another run"), "the runs shared the overlap: {both}");
    assert_eq!(stored(store), union, "every cell of both grids stored exactly once");
    check_passes(store);
}

#[test]
fn two_runs_on_one_sqlite_store_store_every_cell_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    two_runners(db.to_str().unwrap(), dir.path());
}

#[test]
fn two_runs_on_one_postgres_store_store_every_cell_once() {
    let Some(base) = harness::store::postgres::test_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("cli_{}", std::process::id());
    let url = format!("{base}?schema={schema}");
    two_runners(&url, dir.path());
    // The store's URL is what runs print and record; no password is anywhere in it.
    let o = run(&["export", "--store", &url, "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    drop_schema(&base, &schema);
}

fn drop_schema(base: &str, schema: &str) {
    let passfile = std::env::var("PGPASSFILE")
        .unwrap_or_else(|_| format!("{}/.harness/pgpass", std::env::var("HOME").unwrap_or_default()));
    let drop = format!("DROP SCHEMA {schema} CASCADE");
    let quiet = "-c client_min_messages=warning";
    let _ = Command::new("psql")
        .arg(base)
        .args(["-qc", &drop])
        .env("PGPASSFILE", passfile)
        .env("PGOPTIONS", quiet)
        .status();
}

/// A one-node Slurm cluster (`scripts/slurm.sh`), or `false` to skip (unless CI requires it).
fn slurm() -> bool {
    let up = Command::new("sinfo").arg("-h").output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    up || Resource::Slurm.missing::<()>("no Slurm cluster answers (scripts/slurm.sh starts one)").is_some()
}

/// Submits `grid` as job arrays of 3 tasks, waits for every cell, merges the task stores and
/// holds them against a single-process run of the grid: same identities, same count.
fn array_equals_one_run(grid: &str, cells: usize, arrays: usize) {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("array");
    let o = run(&["slurm", grid, "--array", "3", "--submit", "--dir", jobs.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("submitted job").count(), arrays, "{}", text(&o));
    let t0 = Instant::now();
    loop {
        let o = run(&["slurm", "status", "--dir", jobs.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let idle = text(&o).matches("no task queued or running").count() == arrays;
        if text(&o).contains(&format!("{cells} of {cells} cells stored")) && idle {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(900), "the array did not finish: {}", text(&o));
        std::thread::sleep(Duration::from_secs(2));
    }
    let merged = dir.path().join("merged.db");
    let mut args = vec!["merge".to_string(), merged.to_str().unwrap().to_string()];
    for e in std::fs::read_dir(&jobs).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("shard") && name.ends_with(".db") {
            args.push(e.path().to_str().unwrap().to_string());
        }
    }
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    let single = dir.path().join("single.db");
    let o = run(&["run", grid, "--store", single.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let (m, s) = (stored(merged.to_str().unwrap()), stored(single.to_str().unwrap()));
    assert_eq!(m.len(), cells);
    assert_eq!(m, s, "the arrays' merged stores hold the cells of one run: same identities, same count");
    check_passes(merged.to_str().unwrap());
}

#[test]
fn a_slurm_job_array_merged_equals_one_run() {
    if slurm() {
        array_equals_one_run(&smoke_grid(), 8, 1);
    }
}

/// A profile that names a partition gets an array of its own, running only its cells there.
#[test]
fn a_profile_mapped_to_a_partition_runs_as_an_array_of_its_own() {
    if !slurm() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let smoke = std::fs::read_to_string(smoke_grid()).unwrap();
    let with = smoke
        .replace("technique: [f32, q8_0, q4k, kv-off]", "technique: [f32, q8_0]")
        .replace("  threads: [1]\n", "  threads: [1]\n  hardware: [local, one]\n")
        + "\nhardware:\n  one:\n    description: a one-core node\n    emulated: {cores: 1}\n    \
         slurm: {partition: debug}\n";
    let grid = dir.path().join("placed.yaml");
    std::fs::write(&grid, with).unwrap();
    let grid = grid.to_str().unwrap();
    let o = run(&["slurm", grid, "--array", "2", "--dir", dir.path().join("dry").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let script = std::fs::read_to_string(dir.path().join("dry/job-debug.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --partition=debug") && script.contains("--hardware 'one'"), "{script}");
    let other = std::fs::read_to_string(dir.path().join("dry/job-default.sbatch")).unwrap();
    assert!(!other.contains("--partition") && other.contains("--hardware 'local'"), "{other}");
    array_equals_one_run(grid, 8, 2);
}

/// A small deterministic generator for kill moments (seeded by the clock, printed).
fn moments(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            200 + x % max_ms
        })
        .collect()
}

fn sigkill(child: &mut Child) {
    // SAFETY: kill(2) on a pid we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

#[test]
fn a_run_killed_at_random_moments_resumes_to_every_cell_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("killed.db");
    let db_s = db.to_str().unwrap();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    // Each cell measures for at least half a second: the kills land across the grid.
    let measure = "  min_time_s: 0.5\n  max_time_s: 2\n  min_reps: 3\n  max_reps: 100000\n  timeout_s: 120\n";
    let grid = small_grid(dir.path(), measure);
    for ms in moments(seed, 6, 2000) {
        let mut child = harness(&["run", &grid, "--store", db_s, "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        sigkill(&mut child);
        if db.exists() {
            check_passes(db_s);
        }
    }
    let o = run(&["run", &grid, "--store", db_s, "-q"]);
    assert!(o.status.success(), "seed {seed}: {}", text(&o));
    assert_eq!(stored(db_s), planned(&grid, dir.path()), "seed {seed}");
    check_passes(db_s);
    let s = harness::store::open_read_only(&db).unwrap();
    let left = s.claims().unwrap();
    assert!(left.is_empty(), "no claim outlives a finished run: {left:?} (stored: {:?})", stored(db_s));
}

/// The smoke grid cut to two techniques (four cells), with a measurement protocol of its own.
fn small_grid(dir: &Path, measure: &str) -> String {
    let text = std::fs::read_to_string(smoke_grid()).unwrap();
    let start = text.find("measure:").unwrap();
    let g = text[..start].replace("technique: [f32, q8_0, q4k, kv-off]", "technique: [f32, q8_0]");
    let path = dir.join("small.yaml");
    std::fs::write(&path, format!("{g}measure:\n{measure}")).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_hung_worker_is_killed_at_its_timeout_and_stored_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    // Every cell must measure for at least 30 s; the wall-clock limit is 1.5 s.
    let grid = small_grid(
        dir.path(),
        "  min_time_s: 30\n  max_time_s: 60\n  min_reps: 1000\n  max_reps: 100000\n  timeout_s: 1.5\n",
    );
    let db = dir.path().join("hang.db");
    let t0 = Instant::now();
    let o = run(&["run", &grid, "--store", db.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "failed cells exit 1: {}", text(&o));
    assert!(t0.elapsed() < Duration::from_secs(60), "the limit held");
    let s = harness::store::open_read_only(&db).unwrap();
    let recs = s.all().unwrap();
    assert_eq!(recs.len(), 4, "every cell stored, each as failed");
    for r in &recs {
        assert_eq!(r.status, harness::record::CellStatus::Failed);
        assert!(r.reason.as_deref().unwrap_or("").contains("timed out after 2 s"), "{:?}", r.reason);
    }
}

#[test]
fn a_crashed_worker_is_stored_with_its_signal_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let grid = small_grid(
        dir.path(),
        "  min_time_s: 2\n  max_time_s: 4\n  min_reps: 3\n  max_reps: 1000000\n  timeout_s: 120\n",
    );
    let db = dir.path().join("crash.db");
    let child = harness(&["run", &grid, "--store", db.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first worker this run starts gets SIGABRT, as an abort in a kernel would.
    let t0 = Instant::now();
    let worker = loop {
        let out = Command::new("pgrep").args(["-P", &child.id().to_string()]).output().unwrap();
        if let Some(pid) =
            String::from_utf8_lossy(&out.stdout).lines().next().and_then(|l| l.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no worker started");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on the worker process found above.
    unsafe { libc::kill(worker, libc::SIGABRT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = harness::store::open_read_only(&db).unwrap();
    let recs = s.all().unwrap();
    assert_eq!(recs.len(), 4, "the run went on after the crash");
    let crashed: Vec<_> = recs.iter().filter(|r| r.status == harness::record::CellStatus::Failed).collect();
    assert_eq!(crashed.len(), 1, "{recs:?}");
    assert!(crashed[0].reason.as_deref().unwrap().contains("signal 6"), "{:?}", crashed[0].reason);
    assert_eq!(recs.iter().filter(|r| r.status == harness::record::CellStatus::Ok).count(), 3);
}

/// A tmpfs of `size` mounted on a fresh folder (root only), unmounted on drop; `None` where mounting is not allowed.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.path().to_str().unwrap()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Resource::Tmpfs.missing("cannot mount a tmpfs here (needs root)");
        }
        Some(Tmpfs(dir))
    }

    fn read_only(&self) {
        let ok = Command::new("mount").args(["-o", "remount,ro", self.0.path().to_str().unwrap()]).status().unwrap();
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// A full disk is a failure of the run, not bad input: exit 1 (2 would tell the user to fix the command).
#[test]
fn a_full_disk_stops_the_run_and_keeps_what_was_stored() {
    let Some(fs) = Tmpfs::new("300k") else { return };
    let db = fs.0.path().join("full.db");
    let o = run(&["run", &smoke_grid(), "--store", db.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is full") && text(&o).contains("every cell stored before it is kept"), "{}", text(&o));
    let kept = stored(db.to_str().unwrap());
    assert!(!kept.is_empty() && kept.len() < 8, "{kept:?}");
    check_passes(db.to_str().unwrap());
}

#[test]
fn a_read_only_store_is_read_and_refused_for_writing_untouched() {
    let Some(fs) = Tmpfs::new("20m") else { return };
    let db = fs.0.path().join("r.db");
    let db_s = db.to_str().unwrap();
    let o = run(&["run", &small_grid(fs.0.path(), "  max_reps: 5\n"), "--store", db_s, "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    fs.read_only();
    let before = std::fs::read(&db).unwrap();
    let o = run(&["run", &smoke_grid(), "--store", db_s, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot be written") && text(&o).contains("Read-only file system"), "{}", text(&o));
    check_passes(db_s);
    let o = run(&["export", "--store", db_s, "--format", "csv"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).lines().count() == 5, "{}", text(&o));
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// The evaluation store copied into PostgreSQL reads back record for record: the JSON export of both is the same.
#[test]
fn a_store_copied_into_postgres_exports_the_same_records() {
    let Some(base) = harness::store::postgres::test_server() else { return };
    let schema = format!("copy_{}", std::process::id());
    let url = format!("{base}?schema={schema}");
    let src = repo_root().join("results/evaluation/meta-eval-amd-epyc-avx512-2cpu.db");
    let src = src.to_str().unwrap();
    let o = run(&["merge", &url, src]);
    assert!(o.status.success(), "{}", text(&o));
    let export = |store: &str| {
        let o = run(&["export", "--store", store, "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        o.stdout
    };
    let (pg, sqlite) = (export(&url), export(src));
    assert!(pg.len() > 100_000);
    assert!(pg == sqlite, "the PostgreSQL copy differs from the SQLite store");
    drop_schema(&base, &schema);
}

//! How long `harness recommend` takes to answer on the committed stores (every machine class
//! measured for the project: 967 records, 871 distinct cells), on this machine's own task
//! (SmolLM2 chat, the local node): `answer` is what a call does once the store's calibration is
//! cached (build the task table, fit the selector once, predict, read the calibration, check
//! quality); `calibrate` is the once-per-store-content cross-validation a cache miss adds.
//! `cargo bench --bench recommend`; run it on an idle machine from the repository root.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use harness::config::HardwareSpec;
use harness::meta::features::{HardwareInfo, ModelInfo, TaskDescriptor};
use harness::meta::load;
use harness::meta::objective::{AccuracyFloors, Constraints, Objective};
use harness::meta::quality::QualityTable;
use harness::meta::recommend::{recommend, Calibration, Inputs};
use harness::meta::selectors;
use harness::record::CellRecord;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn records() -> Vec<CellRecord> {
    let mut out = vec![];
    for dir in ["results/reference", "results/evaluation"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "db"))
            .collect();
        paths.sort();
        for p in paths {
            out.extend(harness::store::open_read_only(&p).unwrap().all().unwrap());
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let records = records();
    let floor = AccuracyFloors::default_floor();
    let cons = Constraints { accuracy: floor.0.clone(), ..Default::default() };
    let hub = harness::models::hub::default_cache_dir();
    let sel = selectors::by_name("gbdt-mach").unwrap();
    let grid = harness::config::load(&root().join("experiments/grid.yaml")).unwrap();
    let fp = harness::hardware::fingerprint::fingerprint();
    let here = harness::hardware::fingerprint::machine_class();
    let answer = || {
        let loaded = load::table(&records, None, Objective::Latency, &cons, &hub, false).unwrap();
        let (model, _) = ModelInfo::resolve("smollm2-135m", &grid.file.models["smollm2-135m"], &hub);
        let task = TaskDescriptor {
            model,
            workload_name: "chat".into(),
            workload: grid.file.workloads["chat"].clone(),
            hardware: HardwareInfo::new("local", &HardwareSpec::default(), &fp),
        };
        let mut extra = task.extra();
        extra.extend(loaded.machines.profile(&here).features());
        (loaded, task, extra)
    };
    let (loaded, _, _) = answer();
    println!("{} records, {} tasks x {} arms", records.len(), loaded.table.tasks.len(), loaded.table.arms.len());
    let calibration = Calibration::compute(&loaded.table, sel.as_ref(), None, 0).unwrap();
    let mut g = c.benchmark_group("recommend");
    g.sample_size(10);
    g.bench_function("answer", |b| {
        b.iter(|| {
            let (loaded, task, extra) = answer();
            let r = recommend(&Inputs {
                table: &loaded.table,
                selector: sel.as_ref(),
                task: &task,
                extra,
                machine: here.tag(),
                embedding: None,
                budget: None,
                floor: &floor.0,
                quality: &QualityTable::from_records(&records),
                calibration: &calibration,
                seed: 0,
            })
            .unwrap();
            assert!(r.arm.is_some());
        })
    });
    g.bench_function("calibrate", |b| b.iter(|| Calibration::compute(&loaded.table, sel.as_ref(), None, 0).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! `harness compare --axis A`: cells that differ only on one axis, side by side.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use harness::report::compare::{self, Axis};
use harness::store;
use harness::BadInput;

use super::cli::StoreArg;

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// The axis the paired cells differ on.
    #[arg(long, default_value = "engine", value_parser = axes())]
    pub axis: Axis,
    /// The two values to compare, `A,B` (ratios are B / A) [default: the two most common]. Technique
    /// names may hold commas themselves (`q8_0,q8_0+spec:draft=q4_0,k=4`): the split is where both sides are
    /// techniques.
    #[arg(long)]
    pub values: Option<String>,
}

pub fn run(a: CompareArgs) -> Result<ExitCode> {
    let axis = a.axis;
    let store = store::open_read_only(&a.store.store)?;
    let records = store.all()?;
    let values = match &a.values {
        None => None,
        Some(v) => {
            let valid = |s: &str| {
                !s.is_empty() && (axis != Axis::Technique || harness::techniques::TechniqueName::parse(s).is_ok())
            };
            let split = v.match_indices(',').map(|(i, _)| (&v[..i], &v[i + 1..])).find(|(x, y)| valid(x) && valid(y));
            Some(split.ok_or_else(|| BadInput(format!("--values takes two values, A,B; got `{v}`")))?)
        }
    };
    let (pairs, agreement) = compare::compare(&records, axis, values);
    let Some(first) = pairs.first() else {
        println!(
            "no two cells in {} differ only in {}; run a grid with two or more values on that axis, e.g. \
             `harness run experiments/peer.yaml`",
            store.location(),
            axis.name()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let (va, vb) = (first.a.clone(), first.b.clone());
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "task".to_string(),
        "arm".to_string(),
        format!("decode tok/s {va}"),
        format!("decode {vb}"),
        format!("{vb}/{va} [95% CI]"),
        format!("prefill tok/s {va}"),
        format!("prefill {vb}"),
        format!("{vb}/{va} [95% CI]"),
    ]);
    let ratio = |r: &compare::Rate| format!("{:.2} [{:.2}, {:.2}]", r.ratio, r.ci.0, r.ci.1);
    for p in &pairs {
        t.add_row(vec![
            p.task.clone(),
            p.arm.clone(),
            format!("{:.1}", p.decode.a),
            format!("{:.1}", p.decode.b),
            ratio(&p.decode),
            format!("{:.1}", p.prefill.a),
            format!("{:.1}", p.prefill.b),
            ratio(&p.prefill),
        ]);
    }
    println!("{} pairs across `{}` ({va} vs {vb}):\n{t}", pairs.len(), axis.name());
    if !agreement.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(["task", "arms both measured", "Kendall tau of latency ranks"]);
        for g in &agreement {
            t.add_row(vec![g.task.clone(), g.arms.to_string(), format!("{:.2}", g.kendall_tau)]);
        }
        println!("do {va} and {vb} rank the arms of a task alike?\n{t}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--axis`: one of [`Axis::NAMES`], parsed by clap (anything else exits 2, listing them).
fn axes() -> impl clap::builder::TypedValueParser<Value = Axis> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Axis::NAMES).map(|s: String| Axis::parse(&s).expect("a possible value"))
}

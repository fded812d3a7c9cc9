//! `harness freeze`: the freeze manifest checked against this build, or extended.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use harness::meta::freeze::{self, Status};
use harness::meta::selectors;
use harness::BadInput;

#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// Selectors to freeze (comma-separated registry names): prints the manifest with them added.
    #[arg(long, value_delimiter = ',')]
    pub add: Vec<String>,
    /// The day the new entries are frozen on, YYYY-MM-DD [default: today, UTC].
    #[arg(long)]
    pub date: Option<String>,
}

/// Today's date in UTC as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    harness::record::time::utc_date(secs)
}

pub fn run(a: FreezeArgs) -> Result<ExitCode> {
    if !a.add.is_empty() {
        let date = a.date.unwrap_or_else(today);
        let ok = date.len() == 10
            && date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
        if !ok {
            return Err(BadInput(format!("--date `{date}`: expected YYYY-MM-DD")).into());
        }
        print!("{}", freeze::add(&a.add, &date)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut differs = 0;
    for sel in selectors::registry() {
        let st = freeze::status(sel.as_ref());
        differs += usize::from(matches!(st, Status::Differs { .. }));
        println!("{:<20} {}", sel.name(), st.label());
    }
    if differs > 0 {
        eprintln!("{differs} frozen selectors' code differs from {}", freeze::MANIFEST_PATH);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

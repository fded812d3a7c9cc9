//! `harness freeze`: the freeze manifest checked against this build, or extended.

use std::process::ExitCode;

use anyhow::Result;
use harness::meta::freeze::{self, Status};
use harness::meta::selectors;
use harness::BadInput;

use super::cli::FreezeArgs;

/// Today's date in UTC as YYYY-MM-DD (civil-from-days, Howard Hinnant's algorithm).
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn freeze(a: FreezeArgs) -> Result<ExitCode> {
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

//! Instants as people read them: Unix seconds to UTC calendar dates, without a date crate
//! (the one conversion the store's figures and the freeze manifest need).

/// `secs` (Unix seconds) as `YYYY-MM-DD HH:MM`, UTC.
pub fn utc_minute(secs: f64) -> String {
    let secs = secs.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

/// `secs` (Unix seconds) as `YYYY-MM-DD`, UTC.
pub fn utc_date(secs: f64) -> String {
    utc_minute(secs)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_minutes_of_known_instants() {
        assert_eq!(utc_minute(0.0), "1970-01-01 00:00");
        // 2026-12-07 08:44:00 UTC
        assert_eq!(utc_minute(1_796_633_040.0), "2026-12-07 08:44");
        // a leap day
        assert_eq!(utc_minute(951_782_400.0), "2000-02-29 00:00");
        assert_eq!(utc_date(1_796_633_040.0), "2026-12-07");
    }
}

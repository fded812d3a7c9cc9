//! A store URL to a driver configuration: the harness's own `schema` parameter taken out, a
//! password in the URL refused (and never echoed), the password read from `PGPASSWORD` or a
//! libpq password file instead.

use std::path::PathBuf;

use postgres::Config;

use crate::store::StoreError;

type Res<T> = std::result::Result<T, StoreError>;

/// A URL split into what the driver reads and the harness's own `schema` parameter.
pub(super) struct Target {
    pub(super) config: Config,
    pub(super) schema: Option<String>,
}

fn bad_url(url: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Url { url: redact(url), detail: detail.into() }
}

/// The URL with any password in it replaced by `***`, fit to print.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, host) = match rest.split_once('@') {
        Some((a, h)) if !a.contains('/') => (a, h),
        _ => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

pub(super) fn parse_url(url: &str) -> Res<Target> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", name)) => {
                let ok = !name.is_empty()
                    && name.len() <= 63
                    && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if !ok {
                    return Err(bad_url(url, format!("schema {name:?}: use lowercase letters, digits and _")));
                }
                schema = Some(name.to_string());
            }
            _ => rest.push(pair),
        }
    }
    let driver_url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    let mut config: Config = driver_url.parse().map_err(|e: postgres::Error| bad_url(url, e.to_string()))?;
    if config.get_password().is_some() {
        return Err(bad_url(
            url,
            "the URL holds a password; give it in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass) instead, \
             so it never lands in results, job scripts or logs",
        ));
    }
    if config.get_user().is_none() {
        config.user(&std::env::var("USER").unwrap_or_else(|_| "root".into()));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let file = std::env::var_os("PGPASSFILE").map(PathBuf::from).unwrap_or_else(|| home.join(".pgpass"));
    let pw = password_for(&config, std::env::var("PGPASSWORD").ok(), Some(file))
        .or_else(|| password_for(&config, None, Some(home.join(HARNESS_PASSFILE))));
    if let Some(pw) = pw {
        config.password(pw);
    }
    Ok(Target { config, schema })
}

/// The password file `scripts/postgres.sh` writes (under the home folder), read after libpq's own.
const HARNESS_PASSFILE: &str = ".harness/pgpass";

/// The server tests use: `HARNESS_TEST_POSTGRES`, else the loopback server `scripts/postgres.sh`
/// started if it is up (its password file present, its port answering). `None`: the tests say
/// so and pass, unless `HARNESS_REQUIRE` names `postgres` (CI) and makes its absence a failure.
pub fn test_server() -> Option<String> {
    let local = || {
        let home = PathBuf::from(std::env::var_os("HOME")?);
        let addr = ([127, 0, 0, 1], 5432).into();
        let up = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok();
        (home.join(HARNESS_PASSFILE).is_file() && up).then(|| "postgres://harness@127.0.0.1:5432/harness_test".into())
    };
    let found = std::env::var("HARNESS_TEST_POSTGRES").ok().or_else(local);
    found.or_else(|| {
        crate::require::Resource::Postgres
            .missing("no PostgreSQL server is up (set HARNESS_TEST_POSTGRES, or run scripts/postgres.sh)")
    })
}

/// The password for `config` from `PGPASSWORD`, else the first matching line of the libpq
/// password file (`host:port:database:user:password`, `*` matching anything).
fn password_for(config: &Config, env: Option<String>, file: Option<PathBuf>) -> Option<String> {
    if env.is_some() {
        return env;
    }
    let text = std::fs::read_to_string(file?).ok()?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let db = config.get_dbname().or(config.get_user()).unwrap_or_default().to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let fields = split_pgpass(line);
        let want = [&host, &port, &db, &user];
        (fields.len() == 5 && fields[..4].iter().zip(want).all(|(f, w)| f == "*" || f == w)).then(|| fields[4].clone())
    })
}

/// One password-file line's fields (`\:` and `\\` escaped).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("one field").extend(chars.next()),
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_lines_match_with_wildcards_and_escapes() {
        assert_eq!(split_pgpass(r"h:5432:*:u:p\:w\\d"), ["h", "5432", "*", "u", r"p:w\d"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "# comment\nother:5432:*:harness:nope\n127.0.0.1:5432:*:harness:s3cret\n").unwrap();
        let config: Config = "postgres://harness@127.0.0.1:5432/db".parse().unwrap();
        assert_eq!(password_for(&config, None, Some(file.clone())).as_deref(), Some("s3cret"));
        assert_eq!(password_for(&config, Some("env".into()), Some(file)).as_deref(), Some("env"), "PGPASSWORD wins");
        let elsewhere: Config = "postgres://harness@10.0.0.1:5432/db".parse().unwrap();
        assert_eq!(password_for(&elsewhere, None, Some(dir.path().join("pgpass"))), None);
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        let err = parse_url("postgres://harness:hunter2@127.0.0.1/db").err().unwrap();
        let text = err.to_string();
        assert!(text.contains("PGPASSWORD") && !text.contains("hunter2") && text.contains("harness:***@"), "{text}");
        assert!(matches!(parse_url("postgres://h@x/db?schema=Bad-Name"), Err(StoreError::Url { .. })));
        let t = parse_url("postgres://h@x/db?schema=run_1").unwrap();
        assert_eq!(t.schema.as_deref(), Some("run_1"));
    }
}

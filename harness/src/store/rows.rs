//! Rows back to records, for every backend: a backend hands over a getter of neutral
//! column values by name; the record is rebuilt through the one column list in
//! [`crate::record::columns`].

use std::collections::HashMap;

use crate::record::{accuracy, columns, CellRecord, CellStatus, SampleSeries, Summary};

/// Raw sample values keyed by cell key, then metric, each in idx order.
pub type SamplesByCell = HashMap<String, HashMap<String, Vec<f64>>>;

/// Adds one sample row (read in idx order) to `all`; NULL reads back as NaN.
pub fn add_sample(all: &mut SamplesByCell, cell: String, metric: String, value: Option<f64>) {
    all.entry(cell).or_default().entry(metric).or_default().push(value.unwrap_or(f64::NAN));
}

/// A cell row read back, still waiting for its samples.
pub struct PartialCell {
    pub record: CellRecord,
    pub metrics: Vec<String>,
}

impl PartialCell {
    /// Moves this cell's series out of `all` (keyed by cell, then metric), in the
    /// order they were inserted; a listed series with no rows was empty.
    pub fn fill_samples(&mut self, all: &mut SamplesByCell) {
        let mut mine = all.remove(&self.record.key).unwrap_or_default();
        self.record.samples = self
            .metrics
            .drain(..)
            .map(|metric| {
                let values = mine.remove(&metric).unwrap_or_default();
                SampleSeries { metric, values }
            })
            .collect();
    }
}

/// Every cell with its samples.
pub fn assemble(cells: Vec<PartialCell>, mut samples: SamplesByCell) -> Vec<CellRecord> {
    cells
        .into_iter()
        .map(|mut c| {
            c.fill_samples(&mut samples);
            c.record
        })
        .collect()
}

/// A column getter: the value of the named column of one row.
pub type Getter<'a> = dyn Fn(&str) -> Result<columns::Value, String> + 'a;

fn json<T: serde::de::DeserializeOwned>(get: &Getter<'_>, name: &str) -> Result<T, String> {
    match get(name)? {
        columns::Value::Text(t) => serde_json::from_str(&t).map_err(|e| format!("column {name}: {e}")),
        other => Err(format!("column {name}: expected JSON text, found {other:?}")),
    }
}

/// Rebuilds a record from a whole `cells` row: the summary exists when `summary_json` is
/// not NULL (its `extra` comes from there), then every column of [`columns::COLUMNS`]
/// puts its value back (NULL reads back as NaN, which JSON cannot carry). An older store's
/// written accuracy figures read back as exact by construction ([`accuracy::upgrade_legacy`]).
pub fn read_cell(get: &Getter<'_>) -> Result<PartialCell, String> {
    let summary = match get("summary_json")? {
        columns::Value::Null => None,
        _ => {
            let blob: serde_json::Value = json(get, "summary_json")?;
            Some(Summary { extra: blob.get("extra").cloned().unwrap_or_default(), ..Default::default() })
        }
    };
    let status = get("status")?.as_text().unwrap_or_default();
    let status = CellStatus::parse(&status).ok_or_else(|| format!("unknown cell status {status:?}"))?;
    let mut record = CellRecord {
        key: String::new(),
        grid: String::new(),
        model: String::new(),
        technique: String::new(),
        threads: 0,
        engine: String::new(),
        workload: String::new(),
        hardware: String::new(),
        emulated: false,
        status,
        reason: None,
        summary,
        samples: Vec::new(),
        config_json: String::new(),
        fingerprint: json(get, "fingerprint_json")?,
        model_digest: String::new(),
        code_version: String::new(),
        started_at: f64::NAN,
        wall_s: f64::NAN,
    };
    for c in columns::COLUMNS {
        (c.set)(&mut record, &get(c.name)?);
    }
    accuracy::upgrade_legacy(&mut record);
    Ok(PartialCell { record, metrics: json(get, "sample_metrics")? })
}

/// A record as a whole `cells` row: the names and neutral values of its columns, the
/// JSON blobs (summary, fingerprint, the list of sample series) last.
pub fn cell_row(rec: &CellRecord) -> Result<(Vec<&'static str>, Vec<columns::Value>), serde_json::Error> {
    let mut values = columns::values(rec);
    let mut names = columns::names();
    let summary_json = rec.summary.as_ref().map(serde_json::to_string).transpose()?;
    let metrics: Vec<&str> = rec.samples.iter().map(|s| s.metric.as_str()).collect();
    for (name, v) in [
        ("summary_json", summary_json.map_or(columns::Value::Null, columns::Value::Text)),
        ("fingerprint_json", columns::Value::Text(serde_json::to_string(&rec.fingerprint)?)),
        ("sample_metrics", columns::Value::Text(serde_json::to_string(&metrics)?)),
    ] {
        names.push(name);
        values.push(v);
    }
    Ok((names, values))
}

//! CSV: one row per cell with the `cells` table's flat columns and the export-only ones
//! (`accuracy_basis`), for spreadsheets and pandas. Samples and the JSON blobs stay out (use the JSON export for those);
//! `config_json` stays in because it is what distinguishes otherwise equal cells.

use super::Exporter;
use crate::record::columns::{self, Value};
use crate::record::CellRecord;

/// Comma-separated values with a header row; NULL is an empty field.
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn extension(&self) -> &'static str {
        "csv"
    }

    fn write(&self, records: &[CellRecord], out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(columns::export_names())?;
        for rec in records {
            w.write_record(columns::export_values(rec).into_iter().map(field))?;
        }
        w.flush()?;
        Ok(())
    }
}

/// A column value as CSV text; reals use Rust's shortest round-trip form.
fn field(v: Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Int(n) => n.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{test_record, CellStatus};

    #[test]
    fn header_then_one_row_per_record_and_parses_back() {
        let failed = CellRecord {
            status: CellStatus::Failed,
            reason: Some("panicked: \"index out of bounds\",\nline 2".into()),
            summary: None,
            ..test_record("b")
        };
        let records = [test_record("a"), failed];
        let mut buf = Vec::new();
        CsvExporter.write(&records, &mut buf).unwrap();

        let mut r = csv::Reader::from_reader(buf.as_slice());
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, columns::export_names());
        let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), records.len());
        let col = |row: &csv::StringRecord, name: &str| {
            row[columns::export_names().iter().position(|c| *c == name).unwrap()].to_string()
        };
        assert_eq!(col(&rows[0], "key"), "a");
        assert_eq!(col(&rows[0], "workload"), "chat, short");
        assert_eq!(col(&rows[0], "latency_stdev_ms").parse::<f64>().unwrap(), 0.1 + 0.2);
        assert_eq!(col(&rows[0], "config_json"), records[0].config_json);
        assert_eq!(col(&rows[1], "reason"), records[1].reason.clone().unwrap());
        assert_eq!(col(&rows[1], "latency_p50_ms"), "");
    }

    #[test]
    fn an_exact_cell_exports_its_basis_and_no_comparison() {
        let mut exact = test_record("e");
        exact.summary.as_mut().unwrap().set_accuracy_basis(crate::record::accuracy::Basis::ExactByConstruction);
        let mut buf = Vec::new();
        CsvExporter.write(&[test_record("m"), exact], &mut buf).unwrap();
        let mut r = csv::Reader::from_reader(buf.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
        let col = |row: &csv::StringRecord, name: &str| {
            row[columns::export_names().iter().position(|c| *c == name).unwrap()].to_string()
        };
        assert_eq!((col(&rows[0], "accuracy_basis"), col(&rows[0], "agreement")), ("measured".into(), "0.97".into()));
        assert_eq!(col(&rows[1], "accuracy_basis"), "exact-by-construction");
        assert_eq!((col(&rows[1], "agreement"), col(&rows[1], "ref_perplexity")), (String::new(), String::new()));
        assert_eq!(col(&rows[1], "perplexity"), "12.5", "its own perplexity is measured");
    }

    #[test]
    fn empty_export_still_has_header() {
        let mut buf = Vec::new();
        CsvExporter.write(&[], &mut buf).unwrap();
        assert_eq!(String::from_utf8(buf).unwrap().lines().count(), 1);
    }
}

//! Exporters: turn stored cell records into files other tools read.
//!
//! Each format is one type implementing [`Exporter`] in its own file plus one line
//! in [`exporters`]; the CLI lists and picks formats through the registry only.

mod csv;
mod json;

pub use self::csv::CsvExporter;
pub use self::json::JsonExporter;

use crate::record::CellRecord;

/// One output format.
pub trait Exporter {
    /// The name the user picks it by (`--format csv`).
    fn name(&self) -> &'static str;
    /// File extension for default output paths, without the dot.
    fn extension(&self) -> &'static str;
    /// Writes all `records` to `out`.
    fn write(&self, records: &[CellRecord], out: &mut dyn std::io::Write) -> anyhow::Result<()>;
}

/// Every known format, in the order help text should list them.
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(CsvExporter), Box::new(JsonExporter)]
}

/// The format called `name`, if any.
pub fn exporter(name: &str) -> Option<Box<dyn Exporter>> {
    exporters().into_iter().find(|e| e.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_finds_each_format_by_name() {
        for e in exporters() {
            assert_eq!(exporter(e.name()).map(|f| f.extension()), Some(e.extension()));
        }
        assert!(exporter("csv").is_some() && exporter("json").is_some());
        assert!(exporter("xlsx").is_none());
    }
}

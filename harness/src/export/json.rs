//! JSON: the full records, samples included, as one pretty array. Lossless for
//! finite figures, so it is the format to move results between machines or into
//! notebooks. (JSON has no NaN: a NaN figure is written as `null`.)

use super::Exporter;
use crate::record::CellRecord;

/// A pretty-printed JSON array of [`CellRecord`]s.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn name(&self) -> &'static str {
        "json"
    }

    fn extension(&self) -> &'static str {
        "json"
    }

    fn write(&self, records: &[CellRecord], out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *out, records)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    #[test]
    fn parses_back_into_equal_records() {
        let records = vec![test_record("a"), CellRecord { summary: None, ..test_record("b") }];
        let mut buf = Vec::new();
        JsonExporter.write(&records, &mut buf).unwrap();
        let back: Vec<CellRecord> = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, records);
    }
}

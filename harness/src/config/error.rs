use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a grid file: always the file, the line where known, the field
/// and what was expected. The CLI exits with code 2 on these.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: &Path, line: Option<usize>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), line, field: field.into(), message: message.into() }
    }

    pub fn from_yaml(file: &Path, e: &serde_yaml::Error) -> Self {
        // serde_yaml prefixes the field path ("axes.technique[2]: ...") and
        // appends the position; keep the message, report the position as a line.
        let mut msg = e.to_string();
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        let (field, message) = match msg.split_once(": ") {
            Some((f, m)) if !f.contains(' ') => (f.to_string(), m.to_string()),
            _ => (String::new(), msg),
        };
        Self::new(file, e.location().map(|l| l.line()), field, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

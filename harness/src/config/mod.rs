//! Grid files: the YAML schema, validation with file:line errors, and the
//! expansion of the matrix into cells.

pub mod cluster;
mod error;
mod expand;
mod locate;
mod schema;

pub use cluster::{ClusterNode, ClusterSpec, LinkSpec, Route};
pub use error::ConfigError;
pub use expand::{default_threads, expand, CellConfig};
pub use schema::{
    Axes, ExcludeRule, GridFile, HardwareSpec, MeasureSpec, ServingSpec, SlurmPlacement, WorkloadSpec, LOCAL_HARDWARE,
};

use std::path::{Path, PathBuf};

/// A parsed and validated grid file.
#[derive(Debug, Clone)]
pub struct Grid {
    pub path: PathBuf,
    pub text: String,
    pub file: GridFile,
}

impl Grid {
    /// The grid's name: its `name:` field, else the file stem.
    pub fn name(&self) -> String {
        self.file.name.clone().unwrap_or_else(|| {
            self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "grid".into())
        })
    }

    /// Line of `key:` (a definition) in the file, for error messages.
    pub fn line_of_key(&self, key: &str) -> Option<usize> {
        locate::key_line(&self.text, key)
    }
}

/// Read, parse and validate a grid file. Every error names the file, the line
/// and the field.
pub fn load(path: &Path) -> Result<Grid, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::new(path, None, "", format!("cannot read: {e}")))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Grid, ConfigError> {
    let mut file: GridFile = serde_yaml::from_str(text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    if let Some(rel) = &file.hardware_profiles {
        let profiles = path.parent().unwrap_or(Path::new(".")).join(rel);
        for (name, spec) in load_profiles(path, text, &profiles)? {
            file.hardware.entry(name).or_insert(spec);
        }
    }
    let grid = Grid { path: path.to_path_buf(), text: text.to_string(), file };
    schema::validate(&grid)?;
    Ok(grid)
}

/// The `profiles:` of a hardware profiles file, validated (errors name that file's lines).
fn load_profiles(
    grid: &Path,
    grid_text: &str,
    path: &Path,
) -> Result<std::collections::BTreeMap<String, HardwareSpec>, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ProfilesFile {
        #[serde(default)]
        #[allow(dead_code)]
        description: Option<String>,
        profiles: std::collections::BTreeMap<String, HardwareSpec>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            grid,
            locate::key_line(grid_text, "hardware_profiles"),
            "hardware_profiles",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let file: ProfilesFile = serde_yaml::from_str(&text).map_err(|e| ConfigError::from_yaml(path, &e))?;
    schema::validate_hardware(path, &text, &file.profiles)?;
    Ok(file.profiles)
}

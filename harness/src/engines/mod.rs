//! Inference engines: what runs a model for a cell. `engine` is an axis of the grid
//! and part of every cell's identity.

/// The engine of cells whose grid names none: our candle engine.
pub const DEFAULT_ENGINE: &str = "candle";

/// The candle engine's version: bump it with any change that can move a timing, so
/// stored cells of the old engine are measured again.
pub const CANDLE_VERSION: &str = "candle-0.11.1+decoder-1";

/// Names of the engines a grid may use.
pub fn names() -> Vec<&'static str> {
    vec![DEFAULT_ENGINE]
}

/// The version of engine `name`, part of a cell's identity.
pub fn version(name: &str) -> Option<&'static str> {
    (name == DEFAULT_ENGINE).then_some(CANDLE_VERSION)
}

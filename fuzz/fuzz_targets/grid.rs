//! Any text as a grid file: parsing and validation return an error or a grid, never
//! panic; a valid grid expands into cells.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // No file beside it: a `hardware_profiles:` entry must fail cleanly, not read the machine.
    let path = std::path::Path::new("/nonexistent-fuzz-dir/grid.yaml");
    if let Ok(grid) = harness::config::parse(path, text) {
        let cells = harness::config::expand(&grid);
        std::hint::black_box(cells.len());
    }
});

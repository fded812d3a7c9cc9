//! Any bytes as a GGUF file: the header walk accepts or refuses without panicking or
//! allocating by a claimed size; whatever it accepts, candle's reader then reads without
//! panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if harness::models::gguf_header::check(data, data.len() as u64).is_ok() {
        let mut cursor = std::io::Cursor::new(data);
        let _ = candle_core::quantized::gguf_file::Content::read(&mut cursor);
    }
});

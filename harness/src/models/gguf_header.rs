//! A bounds-checked walk over a GGUF file's header, before any reader allocates by it.
//!
//! GGUF stores counts and lengths (tensors, metadata entries, strings, arrays, tensor
//! shapes) as 64-bit integers; a truncated or hostile file can claim 2^60 of anything.
//! This walk checks every figure against the bytes the file actually has left before
//! trusting it, allocates nothing sized by the file (strings are skipped, not read;
//! keys are capped), and checks every tensor's data range against the file's size. Only
//! a header that passes is handed to candle's reader.

use std::io::Read;

use candle_core::quantized::GgmlDType;

/// What a sound header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    pub version: u32,
    pub tensors: u64,
    pub metadata: u64,
    /// Where tensor data starts (aligned).
    pub data_offset: u64,
}

/// Longest metadata key read (keys are dotted names like `llama.attention.head_count`).
const MAX_KEY: u64 = 64 * 1024;
/// Arrays nest at most this deep.
const MAX_DEPTH: u32 = 4;
/// GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;

/// A reader that counts what it consumed and knows how much the file has left.
struct Walk<R> {
    inner: R,
    pos: u64,
    len: u64,
    /// GGUF version 1 stores counts and lengths as u32.
    v1: bool,
}

type Res<T> = Result<T, String>;

impl<R: Read> Walk<R> {
    fn left(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Res<[u8; N]> {
        let mut b = [0u8; N];
        if self.left() < N as u64 {
            return Err(format!("{what} at byte {}: the file ends ({} bytes)", self.pos, self.len));
        }
        self.inner.read_exact(&mut b).map_err(|e| format!("{what} at byte {}: {e}", self.pos))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Res<u32> {
        self.bytes::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Res<u64> {
        self.bytes::<8>(what).map(u64::from_le_bytes)
    }

    /// A count or length: u32 in version 1, u64 after.
    fn len_field(&mut self, what: &str) -> Res<u64> {
        if self.v1 {
            self.u32(what).map(u64::from)
        } else {
            self.u64(what)
        }
    }

    /// Skips `n` bytes the file must have.
    fn skip(&mut self, n: u64, what: &str) -> Res<()> {
        if n > self.left() {
            return Err(format!("{what} at byte {} claims {n} bytes; the file has {} left", self.pos, self.left()));
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| format!("{what} at byte {}: {e}", self.pos))?;
        if copied != n {
            return Err(format!("{what} at byte {}: the file ends", self.pos));
        }
        self.pos += n;
        Ok(())
    }

    /// A count of items at least `min` bytes each, checked against what is left.
    fn count(&mut self, min: u64, what: &str) -> Res<u64> {
        let at = self.pos;
        let n = self.len_field(what)?;
        if n.checked_mul(min).is_none_or(|b| b > self.left()) {
            return Err(format!("{what} at byte {at} is {n}: that many cannot fit in the {} bytes left", self.left()));
        }
        Ok(n)
    }

    /// A string read (keys, which are short) or skipped.
    fn string(&mut self, keep: bool, what: &str) -> Res<Option<String>> {
        let at = self.pos;
        let n = self.len_field(what)?;
        if !keep {
            self.skip(n, what)?;
            return Ok(None);
        }
        if n > MAX_KEY || n > self.left() {
            return Err(format!("{what} at byte {at} claims {n} bytes ({} left, keys at most {MAX_KEY})", self.left()));
        }
        let mut buf = vec![0u8; n as usize];
        self.inner.read_exact(&mut buf).map_err(|e| format!("{what} at byte {at}: {e}"))?;
        self.pos += n;
        // Trailing NULs are dropped, as candle's reader does (files written with C strings have them).
        while buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Skips one metadata value of type `ty`; returns it when it is an integer of at most 32 bits
    /// (what candle takes `general.alignment` from).
    fn value(&mut self, ty: u32, depth: u32) -> Res<Option<i64>> {
        let fixed = |ty: u32| match ty {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        match ty {
            0 => return self.bytes::<1>("a u8 value").map(|b| Some(i64::from(b[0]))),
            1 => return self.bytes::<1>("an i8 value").map(|b| Some(i64::from(b[0] as i8))),
            2 => return self.bytes::<2>("a u16 value").map(|b| Some(i64::from(u16::from_le_bytes(b)))),
            3 => return self.bytes::<2>("an i16 value").map(|b| Some(i64::from(i16::from_le_bytes(b)))),
            4 => return self.u32("a u32 value").map(|v| Some(i64::from(v))),
            5 => return self.bytes::<4>("an i32 value").map(|b| Some(i64::from(i32::from_le_bytes(b)))),
            8 => {
                self.string(false, "a string value")?;
            }
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("arrays nested deeper than {MAX_DEPTH} at byte {}", self.pos));
                }
                let elem = self.u32("an array's element type")?;
                let min = match elem {
                    8 => {
                        if self.v1 {
                            4
                        } else {
                            8
                        }
                    }
                    9 => {
                        if self.v1 {
                            8
                        } else {
                            12
                        }
                    }
                    t => fixed(t).ok_or_else(|| format!("unknown array element type {t} at byte {}", self.pos))?,
                };
                let n = self.count(min, "an array's length")?;
                match fixed(elem) {
                    Some(size) => self.skip(n * size, "an array's elements")?,
                    None => {
                        for _ in 0..n {
                            self.value(elem, depth + 1)?;
                        }
                    }
                }
            }
            t => {
                let size = fixed(t).ok_or_else(|| format!("unknown metadata value type {t} at byte {}", self.pos))?;
                self.skip(size, "a metadata value")?;
            }
        }
        Ok(None)
    }
}

/// The GGML type of a tensor, by its id in the file.
fn dtype(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// Walks the header of a GGUF file of `len` bytes read from `reader` (positioned at its start).
pub fn check(reader: impl Read, len: u64) -> Result<HeaderInfo, String> {
    let mut w = Walk { inner: reader, pos: 0, len, v1: false };
    let magic = w.bytes::<4>("the magic")?;
    if &magic != b"GGUF" {
        return Err(format!("not a GGUF file (it starts with {magic:02x?}, not \"GGUF\")"));
    }
    let version = w.u32("the version")?;
    if !(1..=3).contains(&version) {
        return Err(format!("GGUF version {version} is not one this harness reads (1 to 3)"));
    }
    w.v1 = version == 1;
    let len_size = if w.v1 { 4 } else { 8 };
    // A tensor entry is at least a name length, one dimension count, a type and an offset.
    let tensors = w.count(len_size + 4 + 4 + 8, "the tensor count")?;
    // A metadata entry is at least a key length, a type and one byte of value.
    let metadata = w.count(len_size + 4 + 1, "the metadata count")?;
    let mut alignment = 32u64;
    for _ in 0..metadata {
        let key = w.string(true, "a metadata key")?.unwrap_or_default();
        let ty = w.u32("a metadata value type")?;
        let v = w.value(ty, 0)?;
        if key == "general.alignment" {
            // As candle reads it (the last entry wins): an integer of at most 32 bits, not negative;
            // anything else means the default.
            alignment = v.and_then(|v| u64::try_from(v).ok()).unwrap_or(32);
        }
    }
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(format!("general.alignment {alignment} is not a power of two"));
    }
    let mut ranges = Vec::new();
    for i in 0..tensors {
        let name = w.string(true, "a tensor name")?.unwrap_or_default();
        let dims = w.u32("a tensor's dimension count")?;
        if dims > MAX_DIMS {
            return Err(format!("tensor {i} ({name}) has {dims} dimensions (at most {MAX_DIMS})"));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            let d = w.len_field("a tensor dimension")?;
            elements = elements.checked_mul(d).ok_or_else(|| format!("tensor {name}: its element count overflows"))?;
        }
        let id = w.u32("a tensor type")?;
        let dt = dtype(id).ok_or_else(|| format!("tensor {name}: unknown type {id}"))?;
        let offset = w.u64("a tensor offset")?;
        let block = dt.block_size() as u64;
        if !elements.is_multiple_of(block) {
            return Err(format!("tensor {name}: {elements} elements is not a whole number of {block}-blocks"));
        }
        let bytes = (elements / block)
            .checked_mul(dt.type_size() as u64)
            .ok_or_else(|| format!("tensor {name}: its size overflows"))?;
        ranges.push((name, offset, bytes));
    }
    let data_offset = w.pos.div_ceil(alignment) * alignment;
    let data = len.saturating_sub(data_offset);
    for (name, offset, bytes) in ranges {
        if offset.checked_add(bytes).is_none_or(|end| end > data) {
            return Err(format!(
                "tensor {name}: its {bytes} bytes at data offset {offset} run past the file's end ({data} bytes of \
                 tensor data)"
            ));
        }
    }
    Ok(HeaderInfo { version, tensors, metadata, data_offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small sound GGUF (version 3): two metadata entries and one f32 tensor of 2x4.
    pub(crate) fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        let s = |b: &mut Vec<u8>, t: &str| {
            b.extend((t.len() as u64).to_le_bytes());
            b.extend(t.as_bytes());
        };
        b.extend(b"GGUF");
        b.extend(3u32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        s(&mut b, "general.name");
        b.extend(8u32.to_le_bytes());
        s(&mut b, "tiny");
        s(&mut b, "general.alignment");
        b.extend(4u32.to_le_bytes());
        b.extend(32u32.to_le_bytes());
        s(&mut b, "w");
        b.extend(2u32.to_le_bytes());
        b.extend(4u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        b.extend([0u8; 32]);
        b
    }

    #[test]
    fn a_sound_header_passes_and_candle_agrees() {
        let b = sample();
        let info = check(&b[..], b.len() as u64).unwrap();
        assert_eq!((info.version, info.tensors, info.metadata), (3, 1, 2));
        let ct = candle_core::quantized::gguf_file::Content::read(&mut std::io::Cursor::new(&b)).unwrap();
        assert_eq!(ct.tensor_data_offset, info.data_offset);
    }

    #[test]
    fn every_truncation_is_refused_without_allocating() {
        let b = sample();
        for cut in 0..b.len() - 1 {
            assert!(check(&b[..cut], cut as u64).is_err(), "cut at {cut} passed");
        }
    }

    #[test]
    fn huge_counts_and_lengths_are_refused_by_the_bytes_left() {
        let mut b = sample();
        b[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
        let e = check(&b[..], b.len() as u64).unwrap_err();
        assert!(e.contains("tensor count") && e.contains("cannot fit"), "{e}");
        let mut b = sample();
        b[24..32].copy_from_slice(&u64::MAX.to_le_bytes()); // the first key's length
        assert!(check(&b[..], b.len() as u64).unwrap_err().contains("metadata key"));
        let mut b = sample();
        let n = b.len();
        b.truncate(n - 16); // tensor data cut short
        assert!(check(&b[..], b.len() as u64).unwrap_err().contains("past the file's end"));
    }

    /// Opening a truncated model file fails with the walk's reason before candle reads a byte of it.
    #[test]
    fn a_truncated_model_file_is_refused_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.gguf");
        let b = sample();
        std::fs::write(&path, &b[..b.len() - 8]).unwrap();
        let err = crate::models::gguf::GgufSource::open(&path).err().expect("refused");
        let e = format!("{err:#}");
        assert!(e.contains("cut.gguf is not a sound GGUF file") && e.contains("past the file's end"), "{e}");
    }

    /// Every input the fuzzer found a crash with (`fuzz/regressions/gguf_header/`): the walk answers
    /// without panicking, and candle's reader does not panic on what the walk accepts.
    #[test]
    fn fuzz_regressions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/gguf_header");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let b = std::fs::read(e.path()).unwrap();
            if check(&b[..], b.len() as u64).is_ok() {
                let _ = candle_core::quantized::gguf_file::Content::read(&mut std::io::Cursor::new(&b));
            }
            n += 1;
        }
        assert!(n >= 1);
    }

    #[test]
    fn an_alignment_of_zero_in_any_integer_type_is_refused() {
        // candle divides by the alignment: 0 as a u8 under a key with trailing NULs (what the fuzzer
        // found) would panic there.
        for (ty, bytes) in [(0u32, vec![0u8]), (2, vec![0, 0]), (4, vec![0, 0, 0, 0]), (5, vec![0, 0, 0, 0])] {
            let mut b = Vec::new();
            b.extend(b"GGUF");
            b.extend(3u32.to_le_bytes());
            b.extend(0u64.to_le_bytes());
            b.extend(1u64.to_le_bytes());
            b.extend(19u64.to_le_bytes());
            b.extend(b"general.alignment\0\0");
            b.extend(ty.to_le_bytes());
            b.extend(&bytes);
            let e = check(&b[..], b.len() as u64).unwrap_err();
            assert!(e.contains("general.alignment 0"), "type {ty}: {e}");
        }
    }

    /// Every GGUF in the hub cache (the packaged models, when fetched) passes, agreeing with candle.
    #[test]
    fn the_packaged_models_pass() {
        let hub = crate::require::hub_cache();
        let mut stack = vec![hub.clone()];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "gguf") {
                    let f = std::fs::File::open(&p).unwrap();
                    let len = f.metadata().unwrap().len();
                    let info =
                        check(std::io::BufReader::new(f), len).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    let mut r = std::io::BufReader::new(std::fs::File::open(&p).unwrap());
                    let ct = candle_core::quantized::gguf_file::Content::read(&mut r).unwrap();
                    assert_eq!(ct.tensor_data_offset, info.data_offset, "{}", p.display());
                    seen += 1;
                }
            }
        }
        if seen == 0 {
            use crate::require::Resource;
            let _: Option<()> = Resource::Models.missing(&format!("no GGUF file in {}", hub.display()));
        }
        eprintln!("{seen} GGUF files checked");
    }
}

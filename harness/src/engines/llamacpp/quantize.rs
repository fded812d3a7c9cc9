//! Weight formats for llama.cpp, made by llama.cpp's own quantizer (`llama_model_quantize`)
//! from the model file, as its users make them. The model's reference is its file
//! dequantized (the same reference our engine derives every format from), so
//! re-quantizing an already quantized file is allowed, and every tensor takes the one
//! format asked for (`pure`), with llama.cpp's own fallback where a row does not fit a
//! block. Files are cached under the hub cache, keyed by the source's digest and the format.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use candle_core::quantized::GgmlDType;

use crate::models::weights::NotApplicable;
use crate::models::{ModelSpec, WeightFormat};

/// llama.cpp's file type for a weight format (`Ok(None)`: the file's own, as stored).
fn ftype(fmt: WeightFormat) -> Result<Option<llama_cpp_sys_2::llama_ftype>, NotApplicable> {
    use llama_cpp_sys_2 as sys;
    Ok(Some(match fmt {
        WeightFormat::Native => return Ok(None),
        WeightFormat::F32 => sys::LLAMA_FTYPE_ALL_F32,
        WeightFormat::F16 => sys::LLAMA_FTYPE_MOSTLY_F16,
        WeightFormat::BF16 => sys::LLAMA_FTYPE_MOSTLY_BF16,
        WeightFormat::Quant(d) => match d {
            GgmlDType::Q8_0 => sys::LLAMA_FTYPE_MOSTLY_Q8_0,
            GgmlDType::Q4_0 => sys::LLAMA_FTYPE_MOSTLY_Q4_0,
            GgmlDType::Q4_1 => sys::LLAMA_FTYPE_MOSTLY_Q4_1,
            GgmlDType::Q5_0 => sys::LLAMA_FTYPE_MOSTLY_Q5_0,
            GgmlDType::Q5_1 => sys::LLAMA_FTYPE_MOSTLY_Q5_1,
            GgmlDType::Q2K => sys::LLAMA_FTYPE_MOSTLY_Q2_K,
            GgmlDType::Q3K => sys::LLAMA_FTYPE_MOSTLY_Q3_K_S,
            GgmlDType::Q4K => sys::LLAMA_FTYPE_MOSTLY_Q4_K_S,
            GgmlDType::Q5K => sys::LLAMA_FTYPE_MOSTLY_Q5_K_S,
            GgmlDType::Q6K => sys::LLAMA_FTYPE_MOSTLY_Q6_K,
            other => return Err(NotApplicable(format!("llama.cpp has no file type for the weight format {other:?}"))),
        },
    }))
}

/// The GGUF file to load for `fmt`: the file itself for its own format, else a cached
/// copy made by llama.cpp's quantizer.
pub fn file_for(spec: &ModelSpec, file: &Path, fmt: WeightFormat, hub_cache: &Path) -> Result<PathBuf> {
    let Some(ftype) = ftype(fmt)? else { return Ok(file.to_path_buf()) };
    let digest = spec.digest(hub_cache)?;
    let dir = hub_cache.join(".llamacpp-formats");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("{}-{}.gguf", &digest.trim_start_matches("sha256:")[..16], fmt.name()));
    if out.is_file() {
        return Ok(out);
    }
    // Written beside, then renamed: a concurrent or killed worker never leaves half a file.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = out.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let part = dir.join(format!("{name}.{}-{n}.part", std::process::id()));
    let (inp, outp) = (cstr(file)?, cstr(&part)?);
    // SAFETY: plain data from llama.cpp's defaults; the paths outlive the call.
    let code = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = ftype;
        params.allow_requantize = true;
        params.pure_ = true;
        params.nthread = std::thread::available_parallelism().map_or(1, |n| n.get() as i32);
        llama_cpp_sys_2::llama_model_quantize(inp.as_ptr(), outp.as_ptr(), &params)
    };
    if code != 0 {
        let _ = std::fs::remove_file(&part);
        return Err(anyhow!("llama.cpp's quantizer failed ({code}) making {} from {}", fmt.name(), file.display()));
    }
    std::fs::rename(&part, &out).with_context(|| format!("placing {}", out.display()))?;
    Ok(out)
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.to_string_lossy().as_bytes()).map_err(|e| anyhow!("path {}: {e}", p.display()))
}

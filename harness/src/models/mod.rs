//! Model sources and our Llama decoder.
//!
//! A model is loaded from a [`WeightSource`] (a GGUF file from the hub cache, or
//! seeded synthetic weights) and turned into a [`llama::Decoder`] with the weight
//! format a technique asks for; the candle engine (`crate::engines::candle`) runs it.

pub mod arch;
pub mod catalog;
pub mod generate;
pub mod gguf;
pub mod gguf_header;
pub mod hub;
pub mod kernels;
pub mod kv_cache;
pub mod linear;
pub mod llama;
pub mod synthetic;
pub mod tokenizer;
pub mod weights;

pub use catalog::ModelSpec;
pub use llama::{Decoder, LlamaConfig};
pub use weights::{SourceTensor, WeightFormat, WeightSource};

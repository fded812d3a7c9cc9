//! Model sources and the inference engine.
//!
//! A model is loaded from a [`WeightSource`] (a GGUF file from the hub cache, or
//! seeded synthetic weights), turned into an engine [`llama::Decoder`] with the
//! weight format a technique asks for, and driven by [`generate`].

pub mod catalog;
pub mod generate;
pub mod gguf;
pub mod hub;
pub mod kv_cache;
pub mod linear;
pub mod llama;
pub mod synthetic;
pub mod tokenizer;
pub mod weights;

pub use catalog::ModelSpec;
pub use llama::{Decoder, LlamaConfig};
pub use weights::{SourceTensor, WeightFormat, WeightSource};

//! Hardware: the machine fingerprint (profiles and emulated nodes come later).

pub mod fingerprint;

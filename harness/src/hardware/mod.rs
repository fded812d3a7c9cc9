//! Hardware: the machine fingerprint (profiles and emulated nodes come later).

pub mod bandwidth;
pub mod cgroup;
pub mod fingerprint;

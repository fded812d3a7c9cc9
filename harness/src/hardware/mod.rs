//! Hardware: the machine fingerprint and kernel-enforced node limits.

pub mod bandwidth;
pub mod cgroup;
pub mod fingerprint;

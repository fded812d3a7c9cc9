//! One file per selector; [`super::selector::registry`] lists them.

pub mod alors;
pub mod gbdt;
pub mod heuristic;
pub mod isac;
pub mod knn;
pub mod metainf;
pub mod oracle;
pub mod ours;
pub mod random;
pub mod random_forest;
pub mod single_best;

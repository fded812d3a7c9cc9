//! The error kinds the command line maps to exit codes.

/// Something the user asked for does not exist or cannot be done as asked (an unknown
/// selector, model, workload or format; a selector that needs the truth in
/// `recommend`). Exits with code 2, like a bad grid file or a store that cannot be used as
/// asked ([`crate::store::StoreError::is_bad_input`]); a failure while running exits 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

impl BadInput {
    pub fn new(msg: impl Into<String>) -> BadInput {
        BadInput(msg.into())
    }
}

/// Whether an error chain is the user's input rather than a failure of the run.
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<BadInput>()
            || c.is::<crate::config::ConfigError>()
            || c.downcast_ref::<crate::store::StoreError>().is_some_and(crate::store::StoreError::is_bad_input)
    })
}

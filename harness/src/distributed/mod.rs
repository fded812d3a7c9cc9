//! Decentralized inference: a model split over the nodes of a cluster profile, each node a
//! `harness node` process (emulated here in its own cgroup, or a real machine at `addr`), with
//! activations passed over TCP through shaped links.
//!
//! `protocol` is the wire format and handshake, `node` the server, `link` the shaping,
//! `split` the placement policies and their cost model, `pipeline` the coordinator, and `engine`
//! the [`engine::ClusterEngine`] the worker runs a cluster cell's model through, like any engine.

pub mod engine;
pub mod link;
pub mod node;
pub mod pipeline;
pub mod protocol;
pub mod split;

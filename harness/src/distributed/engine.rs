//! A cluster profile as an engine: [`ClusterEngine`] runs a cell's model split over the
//! cluster's nodes through the [`super::pipeline`] coordinator, with the node engine's
//! capabilities narrowed to what the nodes build. The worker treats it like any engine.

use std::path::Path;

use anyhow::Result;

use crate::config::CellConfig;
use crate::engines::{self, Capabilities, Engine, LoadedModel};
use crate::models::weights::NotApplicable;
use crate::models::ModelSpec;
use crate::techniques::ExecutionPlan;

/// The engine of a cell on a cluster profile: the nodes run `inner` (our engine) on their
/// layer ranges; the coordinator drives them.
pub struct ClusterEngine {
    cfg: CellConfig,
    inner: Box<dyn Engine>,
}

impl ClusterEngine {
    /// For a cell whose hardware profile is a cluster, run by `inner` on its nodes.
    pub fn new(cfg: CellConfig, inner: Box<dyn Engine>) -> Self {
        Self { cfg, inner }
    }
}

impl Engine for ClusterEngine {
    /// The nodes' engine: a cluster cell is that engine's computation, split.
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn version(&self) -> &'static str {
        self.inner.version()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    /// The nodes' engine's own limits, then the cluster's: plain generation of our engine
    /// with weight and KV formats only.
    fn check(&self, plan: &ExecutionPlan, serving: bool) -> Result<()> {
        self.inner.check(plan, serving)?;
        let hw = &self.cfg.hardware;
        let why = if serving {
            Some(format!("on cluster `{hw}` the model runs plain generation, not the serving loop"))
        } else if self.inner.name() != engines::DEFAULT_ENGINE {
            Some(format!("the nodes of cluster `{hw}` run the {} engine", engines::DEFAULT_ENGINE))
        } else if plan.reshapes_model() {
            Some(format!(
                "on cluster `{hw}` the nodes build weight and KV formats only, not pruned, factored or speculative models"
            ))
        } else {
            None
        };
        match why {
            Some(why) => Err(NotApplicable(why).into()),
            None => Ok(()),
        }
    }

    fn load(&self, _spec: &ModelSpec, plan: &ExecutionPlan, hub_cache: &Path) -> Result<Box<dyn LoadedModel>> {
        Ok(Box::new(super::pipeline::load(&self.cfg, plan, hub_cache)?))
    }
}

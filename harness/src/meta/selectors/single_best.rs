//! `single-best`: the arm with the best mean on the training tasks, whatever the
//! task: the highest mean share of each task's best performance, i.e. the lowest
//! mean training regret (scale-free, so fast and slow tasks weigh the same). Its
//! regret is what choosing per task can win back.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::prior::ArmMeans;
use crate::meta::selectors::{Fitted, Selector};

pub struct SingleBest;

impl Selector for SingleBest {
    fn source(&self) -> &'static str {
        file!()
    }
    fn family(&self) -> super::Family {
        super::Family::SingleBest
    }
    fn name(&self) -> &'static str {
        "single-best"
    }
    fn describe(&self) -> &'static str {
        "the arm with the best mean on the training tasks, for every task"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(ArmMeans(train.arm_mean_shares())))
    }
}

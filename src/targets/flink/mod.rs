//! Apache Flink session clusters through the JobManager REST API.

use super::{Context, Target};
use crate::error::{Error, Result};

#[derive(Default)]
pub struct Flink {}

impl Target for Flink {
    async fn plan(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>> {
        let f = ctx.cfg.flink.as_ref().expect("flink config");
        Ok(vec![format!(
            "Flink session cluster {}: {}",
            f.url,
            ctx.cfg.action.as_str()
        )])
    }

    async fn apply(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        Err(Error::platform(
            "target `flink` is not available in this build",
        ))
    }
}

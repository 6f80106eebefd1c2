//! Flink jobs on HDInsight on AKS through Azure Resource Manager.

use super::{Context, Target};
use crate::error::{Error, Result};

#[derive(Default)]
pub struct HdInsight {}

impl Target for HdInsight {
    async fn plan(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>> {
        let h = ctx.cfg.hdi.as_ref().expect("hdinsight config");
        Ok(vec![format!(
            "HDInsight cluster {}/{}: {}",
            h.cluster_pool,
            h.cluster_name,
            ctx.cfg.action.as_str()
        )])
    }

    async fn apply(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        Err(Error::platform(
            "target `hdinsight` is not available in this build",
        ))
    }
}

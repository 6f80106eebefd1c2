//! What the targets that work through a Kubernetes operator share (`ververicaOperator`,
//! `flinkOperator`): the inputs they refuse and the cluster they read, the apply and delete
//! steps on their one resource, and the events in a failure's account.

use std::time::Duration;

use serde_json::Value;

use crate::config::{Action, RawInputs, Shared};
use crate::error::{Error, Result};
use crate::kube::{Apply, Cluster, ClusterConfig, FIELD_MANAGER};
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::targets::vvp_operator::client::Crs;
use crate::targets::vvp_operator::judge::Event;
use crate::targets::Context;
use crate::wait::{self, End, Observed, Probe, Verdict, Wait};

/// Refuse the inputs in `unused` (input, why): given, they would be silently ignored.
pub fn refuse_unused(raw: &RawInputs, target: &str, unused: &[(&str, &str)]) -> Result<()> {
    match unused.iter().find(|(input, _)| raw.get(input).is_some()) {
        Some((input, why)) => Err(Error::input(
            input,
            format!("is not used by target `{target}`: {why}"),
        )),
        None => Ok(()),
    }
}

/// The cluster inputs; `None` only for a `validate` that names no cluster (the resource is then
/// checked against its schema alone).
pub fn cluster_config(
    raw: &RawInputs,
    shared: &Shared<'_>,
    why: &str,
) -> Result<Option<ClusterConfig>> {
    let no_cluster_given = raw.get(i::KUBERNETES_SERVICE_ENDPOINT).is_none()
        && raw.pick(i::CONNECTION_TYPE)? != Some("azureResourceManager");
    if shared.run.action == Action::Validate && no_cluster_given {
        return Ok(None);
    }
    ClusterConfig::from_raw(raw, shared.azure, why).map(Some)
}

/// The signed-in cluster, which the configuration asks for on every action that writes.
pub fn cluster<'c>(cx: &Context<'c>, why: &str) -> Result<&'c Cluster> {
    cx.cluster.ok_or_else(|| {
        Error::input(
            i::KUBERNETES_SERVICE_ENDPOINT,
            format!("is required: {why}"),
        )
    })
}

/// The resource in words: `Kind `name` in namespace `ns``.
pub fn subject(crs: &Crs<'_>) -> String {
    format!(
        "{} `{}` in namespace `{}`",
        crs.obj.kind, crs.obj.name, crs.obj.namespace
    )
}

/// The plan's first line: `create`/`update`/`nothing to change in` `what`, and how it is applied.
pub fn apply_line(what: &str, (live, changed): (bool, bool), force: bool) -> String {
    let verb = match (live, changed) {
        (true, false) => "nothing to change in",
        (false, _) => "create",
        (true, true) => "update",
    };
    let force = if force {
        ", taking over fields other managers own"
    } else {
        ""
    };
    format!("{verb} {what} (server-side apply, field manager {FIELD_MANAGER}{force})")
}

/// The step `apply`: server-side apply as this task; the resource as stored.
pub async fn apply_step(
    crs: &Crs<'_>,
    rec: &mut Recorder,
    body: &Value,
    force: bool,
    update: bool,
) -> Result<Value> {
    rec.begin("apply");
    rec.timeline(if update {
        "update applied"
    } else {
        "create applied"
    });
    let how = Apply {
        force,
        dry_run: false,
    };
    let r = crs.apply(body, how, i::SPEC_FILE).await;
    let written = rec.end(r)?;
    let generation = written
        .pointer("/metadata/generation")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    rec.log(&format!(
        "applied {} (generation {generation}) as field manager {FIELD_MANAGER}",
        subject(crs)
    ));
    Ok(written)
}

/// The last events of a failure's account, oldest first.
pub fn event_lines(recent: &[&Event]) -> Vec<String> {
    let start = recent.len().saturating_sub(20);
    recent[start..]
        .iter()
        .map(|e| format!("event: {}", e.line()))
        .collect()
}

struct Exists(bool);

impl Observed for Exists {
    fn shown(&self) -> String {
        if self.0 { "still there" } else { "gone" }.into()
    }
}

struct Presence<'a>(&'a Crs<'a>);

#[async_trait::async_trait(?Send)]
impl Probe for Presence<'_> {
    type Obs = Exists;
    async fn probe(&mut self) -> Result<Exists> {
        Ok(Exists(self.0.get().await?.is_some()))
    }
}

/// The steps `delete` and `wait until deleted` (nothing when the plan found no resource);
/// `hint` says what holds a resource that stays.
pub async fn delete_and_wait(
    crs: &Crs<'_>,
    rec: &mut Recorder,
    (existed, timeout): (bool, Duration),
    hint: &str,
) -> Result<()> {
    let what = subject(crs);
    if !existed {
        rec.log(&format!("{what} does not exist: nothing to delete"));
        return Ok(());
    }
    rec.begin("delete");
    let r = crs.delete().await;
    rec.end(r)?;
    rec.timeline("delete sent");
    rec.begin("wait until deleted");
    let subject = format!("the {}", crs.obj.kind);
    let w = Wait::new(&subject, timeout, crate::targets::vvp_operator::probe::PACE);
    let end = wait::until(rec, &w, &mut Presence(crs), |e, _| match e.0 {
        true => Verdict::Pending,
        false => Verdict::Done,
    })
    .await;
    let r = match end {
        Ok(End::Reached(_)) => Ok(()),
        Ok(_) => Err(Error::timeout(format!(
            "{what} is still there {}s after the delete (its finalizers have not finished)",
            timeout.as_secs()
        ))
        .with_hint(hint)),
        Err(e) => Err(e),
    };
    rec.end(r)?;
    rec.timeline("deleted");
    rec.output("deploymentName", &crs.obj.name);
    Ok(())
}

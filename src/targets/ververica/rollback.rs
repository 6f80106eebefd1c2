//! `rollbackOnFailure`: after a failed or timed-out deploy, put back the spec that was deployed
//! before (captured by the plan) and wait for it. The run still fails, since the new version did
//! not deploy; the error says how the rollback went.

use serde_json::Value;

use super::judge::{self, Observation};
use super::{diff, spec, On, SyncingMode, WaitFor};
use crate::error::{Error, Result};
use crate::report::Recorder;
use crate::rollback::Outcome;

/// What to send to get from `now` back to `previous`: the whole previous spec for PUT, else
/// the merge patch between the two (`None` when they are already the same).
pub fn revert_body(now: &Value, previous: &Value, mode: SyncingMode) -> Option<Value> {
    let prev = diff::clean(previous);
    match mode {
        SyncingMode::Put => Some(prev),
        SyncingMode::Patch => {
            let patch = diff::merge_patch_between(&diff::clean(now), &prev);
            if patch.as_object().is_some_and(|m| m.is_empty()) {
                None
            } else {
                Some(patch)
            }
        }
    }
}

/// Run the rollback as its own step; the run's final error comes from
/// [`crate::rollback::conclude`].
pub async fn run(on: On<'_>, rec: &mut Recorder, previous: &Value) -> Outcome {
    crate::rollback::begin(rec);
    match attempt(on, rec, previous).await {
        Ok(done) => Outcome::Done(done),
        Err(e) => Outcome::Failed(e),
    }
}

async fn attempt(on: On<'_>, rec: &mut Recorder, previous: &Value) -> Result<String> {
    let On { cfg, client, addr } = on;
    let mode = cfg.own.syncing_mode;
    let now = client.get_deployment(addr).await?.ok_or_else(|| {
        Error::platform(format!(
            "deployment {addr} in namespace `{}` is gone; nothing to roll back",
            client.ns
        ))
    })?;
    let target = spec::get_str(previous, &["spec", "state"])
        .unwrap_or("RUNNING")
        .to_owned();
    let before = Observation::of(&now);
    let prev_status = Observation::of(previous);
    rec.log(&format!(
        "re-applying the spec deployed before this run (it was {}, desired {target})",
        prev_status.describe()
    ));
    let written = match revert_body(&now, previous, mode) {
        Some(body) => {
            let w = super::write(client, rec, addr, true, mode, &body).await?;
            rec.log(&format!(
                "sent: {}",
                serde_json::to_string(&body).unwrap_or_default()
            ));
            w
        }
        None => {
            rec.log("the deployed spec already equals the previous one; waiting for it");
            now.clone()
        }
    };
    let new_job = target == "RUNNING"
        && before.state == "RUNNING"
        && diff::template_changed(&now, &diff::clean(previous));
    let since = super::change_time(&written);
    let id = spec::get_str(&written, &["metadata", "id"]).map(str::to_owned);
    let (_, obs) = super::wait_state(
        cfg,
        client,
        rec,
        WaitFor {
            addr,
            target: &target,
            expect: judge::expectation(Some(&before), &target, new_job),
            deployment_id: id.clone(),
            since: since.clone(),
        },
    )
    .await?;
    if target == "RUNNING" && !cfg.settle.is_zero() {
        super::settle_running(on, rec, &obs, id.as_deref(), since.as_deref()).await?;
    }
    if let Some(j) = &obs.job_id {
        rec.output("jobId", j);
    }
    rec.output("state", &obs.state);
    Ok(format!(
        "deployment {addr} is {} again with the previous spec",
        obs.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revert_patch_undoes_the_change() {
        let previous: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/vvp/deployment-running.json"
        ))
        .unwrap();
        let mut now = previous.clone();
        now["spec"]["template"]["spec"]["parallelism"] = json!(8);
        now["spec"]["template"]["spec"]["flinkConfiguration"]["new.key"] = json!("x");
        now["status"] = json!({"state": "FAILED"});
        now["metadata"]["resourceVersion"] = json!(13);
        let patch = revert_body(&now, &previous, SyncingMode::Patch).unwrap();
        assert_eq!(
            patch,
            json!({"spec": {"template": {"spec": {"parallelism": 1, "flinkConfiguration": {"new.key": null}}}}})
        );
        let mut x = diff::clean(&now);
        diff::merge_patch(&mut x, &patch);
        assert_eq!(x, diff::clean(&previous));
        assert_eq!(revert_body(&previous, &previous, SyncingMode::Patch), None);
        let put = revert_body(&now, &previous, SyncingMode::Put).unwrap();
        assert!(put.get("status").is_none());
        assert_eq!(put["spec"]["template"]["spec"]["parallelism"], 1);
    }
}

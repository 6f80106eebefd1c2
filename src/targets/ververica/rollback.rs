//! `rollbackOnFailure`: after a failed or timed-out deploy, put back the spec that was deployed
//! before (captured by the plan) by replacing the deployment with it, check that the platform
//! stored it, and wait for it. The run still fails, since the new version did not deploy; the
//! error says how the rollback went.

use serde_json::Value;

use super::judge::{self, Observation};
use super::{diff, spec, On, SyncingMode, WaitFor};
use crate::error::{Error, Result};
use crate::report::Recorder;
use crate::rollback::Outcome;

/// What to send to get from `now` back to `previous`: the whole previous spec, to replace the
/// deployment with (`None` when the two are already the same). A replace (PUT, "create or
/// replace the deployment") says in the API description what it does; a merge patch would need
/// `null` to take away what the change added, and the description does not allow `null`.
pub fn revert_body(now: &Value, previous: &Value) -> Option<Value> {
    let mut prev = diff::clean(previous);
    if diff::same(&diff::clean(now), &prev) {
        return None;
    }
    // A platform that stored a null literally showed it to the plan; in a replace, a field left
    // out means the same, and stays within the description.
    drop_nulls(&mut prev);
    Some(prev)
}

fn drop_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        m.values_mut().for_each(drop_nulls);
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
    let written = match revert_body(&now, previous) {
        Some(body) => {
            let removed = judge::removed_fields(&now, previous);
            rec.log("replacing the deployment with the previous spec (PUT)");
            super::write(on, rec, true, SyncingMode::Put, &body, &removed).await?
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
    let expect = judge::expectation(Some(&before), &target, new_job);
    let ran_before = expect.ran_before.clone();
    let (_, obs) = super::wait_state(
        cfg,
        client,
        rec,
        WaitFor {
            addr,
            target: &target,
            expect,
            deployment_id: id.clone(),
            since: since.clone(),
        },
    )
    .await?;
    if target == "RUNNING" && !cfg.settle.is_zero() {
        let (id, since, before) = (id.as_deref(), since.as_deref(), ran_before.as_deref());
        super::settle_running(on, rec, &obs, id, since, before).await?;
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
    fn the_rollback_replaces_the_deployment_with_the_previous_spec() {
        let previous: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/vvp/deployment-running.json"
        ))
        .unwrap();
        let mut now = previous.clone();
        now["spec"]["template"]["spec"]["parallelism"] = json!(8);
        now["spec"]["template"]["spec"]["flinkConfiguration"]["new.key"] = json!("x");
        now["status"] = json!({"state": "FAILED"});
        now["metadata"]["resourceVersion"] = json!(13);
        let put = revert_body(&now, &previous).unwrap();
        assert_eq!(put, diff::clean(&previous));
        assert!(put.get("status").is_none());
        assert_eq!(put["spec"]["template"]["spec"]["parallelism"], 1);
        assert!(
            !put.to_string().contains("null"),
            "nothing is deleted with null: {put}"
        );
        let mut stored_null = previous.clone();
        stored_null["spec"]["template"]["spec"]["artifact"]["mainArgs"] = Value::Null;
        let put = revert_body(&now, &stored_null).unwrap();
        assert!(put["spec"]["template"]["spec"]["artifact"]
            .get("mainArgs")
            .is_none());
        // Only platform-owned fields differ: nothing to send.
        let mut same = previous.clone();
        same["status"] = json!({"state": "FAILED"});
        assert_eq!(revert_body(&same, &previous), None);
    }
}

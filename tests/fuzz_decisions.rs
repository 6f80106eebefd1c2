//! Property-based fuzzing of the pure state decisions: what a platform answers is outside text,
//! so any JSON must be judged without a panic, and an answer that carries a terminal failure must
//! never be taken for success. Bounded here; FLINK_DEPLOY_LONG=1 (scripts/test --long) runs many
//! more cases.

use flink_deploy::targets::flink::judge as fl;
use flink_deploy::targets::hdinsight::judge as hdi;
use flink_deploy::targets::ververica::judge as vvp;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn cases(normal: u32) -> u32 {
    if std::env::var("FLINK_DEPLOY_LONG").is_ok_and(|v| v == "1") {
        normal * 50
    } else {
        normal
    }
}

/// State words the platforms use, in their cases and some they do not, plus noise.
fn state_word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "RUNNING",
            "FAILED",
            "FINISHED",
            "CANCELLED",
            "CANCELED",
            "CANCELLING",
            "SUSPENDED",
            "TRANSITIONING",
            "UNKNOWN",
            "COMPLETED",
            "STARTED",
            "IN_PROGRESS",
            "SUCCESS",
            "STOPPED",
            "FAILING",
            "RESTARTING",
            "INITIALIZING",
            "CREATED",
            "RECONCILING",
            "DEPLOY-FAILED",
            "running",
            "failed",
            "Failed",
            "",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z_\\-]{0,12}",
        any::<String>(),
    ]
}

/// Any JSON value, with strings biased towards state words so the rules are reached.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        state_word().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// Field names the decisions read, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "status",
            "state",
            "spec",
            "running",
            "jobId",
            "failure",
            "message",
            "reason",
            "items",
            "metadata",
            "createdAt",
            "name",
            "id",
            "savepointLocation",
            "jobs",
            "jid",
            "tasks",
            "total",
            "failed",
            "start-time",
            "latest",
            "savepoint",
            "restored",
            "external_path",
            "counts",
            "completed",
            "history",
            "is_savepoint",
            "operation",
            "location",
            "failure-cause",
            "stack-trace",
            "exceptionHistory",
            "entries",
            "properties",
            "action",
            "actionResult",
            "jobOutput",
            "runId",
            "value",
            "jobName",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,8}",
    ]
}

/// A value in `slot` that is either the given shape or anything at all.
fn or_any(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop_oneof![3 => v, 1 => any_json()]
}

fn state_json() -> impl Strategy<Value = Value> {
    or_any(state_word().prop_map(Value::String))
}

/// A Ververica Platform deployment: status.state, status.running.jobId, spec.state.
fn vvp_deployment() -> impl Strategy<Value = Value> {
    (state_json(), or_any("[a-f0-9]{1,4}".prop_map(Value::String)), state_json(), any_json()).prop_map(
        |(state, job, desired, extra)| json!({"status": {"state": state, "running": {"jobId": job}}, "spec": {"state": desired}, "extra": extra}),
    )
}

fn flink_job() -> impl Strategy<Value = Value> {
    (
        state_json(),
        or_any(prop::collection::btree_map(
            prop::sample::select(vec!["running", "finished", "failed", "initializing", "total", "canceled"]).prop_map(str::to_owned),
            -3i64..6,
            0..6,
        )
        .prop_map(|m| json!(m))),
        "[a-f0-9]{1,4}",
        prop::sample::select(vec!["job", "other"]),
        any::<i64>(),
    )
        .prop_map(|(state, tasks, jid, name, start)| json!({"jid": jid, "name": name, "state": state, "tasks": tasks, "start-time": start}))
}

fn hdi_job() -> impl Strategy<Value = Value> {
    (state_json(), state_json(), or_any(prop::sample::select(vec!["NEW", "UPDATE", "STATELESS_UPDATE", "STOP", "START", "SAVEPOINT", "CANCEL", "DELETE", "new"]).prop_map(|s| json!(s))), any_json(), prop::option::of("[a-c]{1,2}"))
        .prop_map(|(status, result, action, output, run)| {
            json!({"name": "orders", "properties": {"jobType": "FlinkJob", "jobName": "orders", "status": status, "actionResult": result, "action": action, "jobOutput": output, "runId": run}})
        })
}

fn is_failed_word(s: &str) -> bool {
    s.eq_ignore_ascii_case("FAILED")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(500), failure_persistence: None, ..ProptestConfig::default() })]

    /// A FAILED deployment is never the state the run waited for (unless FAILED was the target,
    /// which no action asks for), and never a settled job.
    #[test]
    fn vvp_failed_is_never_reached_nor_holding(
        now in vvp_deployment(),
        before in prop::option::of(vvp_deployment()),
        target in prop::sample::select(vec!["RUNNING", "SUSPENDED", "CANCELLED"]),
        new_job in any::<bool>(),
        job in prop::option::of("[a-f0-9]{1,4}"),
    ) {
        let obs = vvp::Observation::of(&now);
        let before = before.as_ref().map(vvp::Observation::of);
        let expect = vvp::expectation(before.as_ref(), target, new_job);
        let verdict = vvp::decide(&obs, &expect);
        let _ = obs.describe();
        if obs.state == "FAILED" {
            prop_assert_ne!(&verdict, &vvp::Verdict::Reached);
        }
        if target == "RUNNING" && obs.state == "FINISHED" {
            prop_assert_ne!(&verdict, &vvp::Verdict::Reached);
        }
        if verdict == vvp::Verdict::Reached {
            prop_assert_eq!(&obs.state, target);
        }
        let settle = vvp::settle(&obs, job.as_deref());
        if matches!(obs.state.as_str(), "FAILED" | "FINISHED") || obs.desired.as_deref().is_some_and(|d| d != "RUNNING") {
            prop_assert!(matches!(settle, vvp::Settle::Failed(_)), "{:?} for {:?}", settle, obs);
        }
        if settle == vvp::Settle::Holding {
            prop_assert_eq!(obs.state.as_str(), "RUNNING");
        }
    }

    #[test]
    fn vvp_savepoint_failed_is_never_completed(state in state_json(), loc in any_json(), failure in any_json()) {
        let sp = json!({"status": {"state": state, "failure": failure}, "spec": {"savepointLocation": loc}});
        let v = vvp::savepoint(&sp);
        if state.as_str() == Some("FAILED") {
            prop_assert!(matches!(v, vvp::SavepointVerdict::Failed(_)));
        }
        if matches!(v, vvp::SavepointVerdict::Completed { .. }) {
            prop_assert_eq!(state.as_str(), Some("COMPLETED"));
        }
    }

    #[test]
    fn vvp_helpers_take_any_json(v in any_json(), since in prop::option::of(any::<String>()), max in 0usize..5) {
        let _ = vvp::Observation::of(&v);
        let _ = vvp::savepoint(&v);
        let _ = vvp::failure_text(Some(&v));
        prop_assert!(vvp::failure_events(&v, since.as_deref(), max).len() <= max);
        let _ = vvp::job_failure(&v, since.as_deref());
        let _ = vvp::job_failure(&json!({"items": [v.clone()]}), since.as_deref());
        let _ = vvp::root_cause(&v, &json!({"items": [v.clone()]}), since.as_deref());
        let _ = vvp::root_cause(&json!({"items": [v.clone()]}), &v, since.as_deref());
    }

    /// A Flink job that ended, is failing, has a failed task or any exception is never up.
    #[test]
    fn flink_failure_is_never_running(jobs in prop::collection::vec(flink_job(), 0..4), exceptions in or_any(prop::collection::vec(any_json(), 0..3).prop_map(|e| json!({"exceptionHistory": {"entries": e}})))) {
        let overview = json!({"jobs": jobs});
        let list = fl::jobs_from_overview(&overview).unwrap();
        for j in &list {
            let h = fl::assess(j, &exceptions);
            let _ = fl::describe(j);
            let failed_tasks = j.tasks.get("failed").copied().unwrap_or(0);
            if fl::is_terminal(&j.state) || matches!(j.state.as_str(), "FAILING" | "RESTARTING" | "CANCELLING" | "SUSPENDED")
                || fl::exception_count(&exceptions) > 0 || failed_tasks > 0 {
                prop_assert!(matches!(h, fl::Health::Failed(_)), "{:?} judged {:?}", j, h);
            }
            if h == fl::Health::Running {
                prop_assert_eq!(j.state.as_str(), "RUNNING");
            }
        }
        for name in ["job", "other"] {
            for j in fl::active_named(&list, name) {
                prop_assert!(!fl::is_terminal(&j.state));
            }
        }
    }

    #[test]
    fn flink_savepoint_status_failed_is_never_completed(id in state_json(), op in any_json(), loc in prop::option::of("[a-z:/]{1,12}")) {
        let mut op = op;
        if let (Some(l), Value::Object(m)) = (&loc, &mut op) {
            m.insert("location".into(), json!(l));
        }
        let v = json!({"status": {"id": id}, "operation": op});
        match fl::trigger_status(&v) {
            Ok(fl::Trigger::Completed(l)) => {
                prop_assert_eq!(id.as_str(), Some("COMPLETED"));
                prop_assert_eq!(op.get("location").and_then(Value::as_str), Some(l.as_str()));
            }
            Ok(fl::Trigger::InProgress) => prop_assert_eq!(id.as_str(), Some("IN_PROGRESS")),
            Ok(fl::Trigger::Failed(_)) | Err(_) => {}
        }
    }

    #[test]
    fn flink_helpers_take_any_json(v in any_json(), history in prop::collection::vec((flink_job(), any_json()), 0..4), deploy in any::<bool>()) {
        let _ = fl::jobs_from_overview(&v);
        let _ = fl::state_facts(&v);
        let _ = fl::savepoints_in_history(&v);
        let _ = fl::jars_from_list(&v);
        let _ = fl::uploaded_jar_id(&v);
        let _ = fl::root_causes(&v, 3);
        let _ = fl::root_cause(&v);
        let _ = fl::max_parallelism(&v);
        let _ = fl::default_savepoint_dir(&v);
        let _ = fl::cache_ttl(&v);
        let _ = fl::rest_error(v.to_string().as_bytes());
        let jobs: Vec<(fl::JobSummary, Value)> = history
            .into_iter()
            .filter_map(|(j, cps)| fl::jobs_from_overview(&json!({"jobs": [j]})).ok()?.pop().map(|s| (s, cps)))
            .collect();
        let purpose = if deploy { fl::Purpose::Deploy } else { fl::Purpose::Resume };
        if let fl::Restore::Savepoint { job_id, .. } = fl::restore_point(&jobs, purpose) {
            prop_assert!(jobs.iter().any(|(j, _)| j.id == job_id));
        }
    }

    /// HDInsight: a FAILED action result is never done; after an action that starts the job, a
    /// job status that means "down" is never done either.
    #[test]
    fn hdinsight_failure_is_never_done(now in prop::option::of(hdi_job()), before in prop::option::of(hdi_job()), action in prop::sample::select(JOBS.to_vec())) {
        let parse = |v: &Value| serde_json::from_value::<hdi::ClusterJob>(v.clone());
        let now = now.as_ref().map(parse).transpose();
        let before = before.as_ref().map(parse).transpose();
        // A list entry the service could not have sent (a number as status) is refused by the
        // deserializer, and the list read reports that; nothing to judge then.
        let (Ok(now), Ok(before)) = (now, before) else { return Ok(()) };
        let v = hdi::judge(action, before.as_ref(), now.as_ref());
        if let Some(j) = &now {
            if is_failed_word(j.action_result()) {
                prop_assert!(!matches!(v, hdi::Verdict::Done), "{:?} judged {:?}", j, v);
            }
            if action.starts_job() && hdi::status_is_down(j.status()) {
                prop_assert!(!matches!(v, hdi::Verdict::Done), "{:?} judged {:?}", j, v);
            }
            if hdi::status_is_down(j.status()) {
                prop_assert!(hdi::settled(Some(j)).is_err());
            }
        } else if action != hdi::JobAction::Delete {
            prop_assert!(!matches!(v, hdi::Verdict::Done));
        }
        let _ = hdi::already_done(action, now.as_ref());
    }

    #[test]
    fn hdinsight_job_list_takes_any_json(v in any_json(), s in any::<String>()) {
        if let Ok(list) = serde_json::from_value::<hdi::ClusterJobList>(v) {
            for j in &list.value {
                let _ = j.job_name();
                let _ = j.jar();
                let _ = hdi::JobDefinition::of(j);
                for a in JOBS {
                    let _ = hdi::judge(a, None, Some(j));
                }
            }
        }
        let _ = hdi::parse_savepoints(&s);
        let _ = hdi::status_is_down(&s);
        let _ = hdi::same_origin_url("https://management.azure.com", &s);
    }
}

const JOBS: [hdi::JobAction; 9] = hdi::JobAction::ALL;

/// The properties above must be able to fail: each hand-made terminal failure is refused.
#[test]
fn the_properties_see_known_failures() {
    let obs =
        vvp::Observation::of(&json!({"status": {"state": "FAILED"}, "spec": {"state": "RUNNING"}}));
    let e = vvp::expectation(None, "RUNNING", true);
    assert!(matches!(vvp::decide(&obs, &e), vvp::Verdict::Failed(_)));
    let list = fl::jobs_from_overview(&json!({"jobs": [{"jid": "a", "name": "j", "state": "RUNNING", "tasks": {"running": 1, "total": 1}}]})).unwrap();
    assert_eq!(fl::assess(&list[0], &json!({})), fl::Health::Running);
    assert!(matches!(
        fl::assess(&list[0], &json!({"exceptionHistory": {"entries": [{}]}})),
        fl::Health::Failed(_)
    ));
    let j: hdi::ClusterJob = serde_json::from_value(json!({"properties": {"jobName": "o", "action": "UPDATE", "actionResult": "SUCCESS", "status": "FAILED"}})).unwrap();
    assert!(matches!(
        hdi::judge(hdi::JobAction::Update, None, Some(&j)),
        hdi::Verdict::Failed(_)
    ));
}

//! Many deployments in one step: `specFile` names several files, each one deployment.
//!
//! The set is read with the configuration: the files are listed (folders, globs, lists; read
//! only) and the target is configured once per file ([`expand`]). The run signs in, reads Key
//! Vault and plans the upload once for all of them; then every deployment is planned (read
//! only, up to `maxParallel` at once) before anything is written, so one bad file fails the step
//! with nothing changed anywhere. Then they are applied, up to `maxParallel` at once, sharing
//! the HTTP client, the sign-in and the jar's URI, by the failure policy of [`policy`].
//!
//! Each deployment reports through a recorder of its own ([`Recorder::member`]): its lines are
//! shown as one block when it ends, its state changes at once as one line; it gets its own JUnit
//! suite, a row in the summary's table, and an entry in the `deployments` output.

pub mod files;
pub mod policy;

use std::cell::Cell;
use std::path::{Path, PathBuf};

use futures::StreamExt;

use crate::config::{Action, JobInputs, RawInputs, Shared};
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;
use crate::report::{MemberResult, Recorder};
use crate::run::Env;
use crate::targets::{Plan, Registration, Target, Undo};

pub use policy::Policy;

/// One deployment of a set: its spec file and the target configured to read it.
#[derive(Debug)]
pub struct Member {
    pub file: PathBuf,
    /// The file as the log names it (relative to the working directory when under it).
    pub label: String,
    pub target: Box<dyn Target>,
}

#[derive(Debug)]
pub struct SetConfig {
    pub policy: Policy,
    pub members: Vec<Member>,
}

/// The files `specFile` names when it may name several: `None` for one plain path (read as
/// before), else the files, listed.
pub fn spec_files(raw: &RawInputs, working_dir: &Path) -> Result<Option<Vec<PathBuf>>> {
    let Some(value) = raw.get(i::SPEC_FILE) else {
        return Ok(None);
    };
    if !files::is_many(value) && !working_dir.join(value).is_dir() {
        return Ok(None);
    }
    files::resolve(value, working_dir).map(Some)
}

/// Inputs that address one deployment cannot serve several.
fn check_many(raw: &RawInputs, target: &str, action: Action, n: usize) -> Result<()> {
    if !i::SPEC_FILE_TARGETS.contains(&target) {
        return Err(Error::input(
            i::SPEC_FILE,
            format!("names {n} files, but target `{target}` reads no spec file"),
        )
        .with_hint(format!(
            "several spec files work with target {}",
            i::SPEC_FILE_TARGETS.join(" or ")
        )));
    }
    for input in [i::DEPLOYMENT_NAME, i::DEPLOYMENT_ID] {
        if raw.get(input).is_some() {
            return Err(Error::input(
                input,
                format!("must be empty when specFile names several files ({n})"),
            )
            .with_hint("each spec file names its deployment in metadata.name"));
        }
    }
    if !matches!(action, Action::Deploy | Action::Validate) {
        return Err(Error::input(
            i::SPEC_FILE,
            format!(
                "names {n} files; action `{}` works on one deployment",
                action.as_str()
            ),
        )
        .with_hint("several spec files work with actions deploy and validate"));
    }
    Ok(())
}

/// Configure the target once per spec file. No I/O beyond what listed the files.
pub fn expand(
    raw: &RawInputs,
    reg: &Registration,
    shared: &Shared<'_>,
    files: Vec<PathBuf>,
    policy: Policy,
) -> Result<SetConfig> {
    check_many(raw, reg.name, shared.run.action, files.len())?;
    let mut members = Vec::with_capacity(files.len());
    for file in files {
        let job = JobInputs {
            spec_file: Some(file.clone()),
            ..shared.job.clone()
        };
        let target = (reg.configure)(
            raw,
            &Shared {
                job: &job,
                ..*shared
            },
        )?;
        let label = file
            .strip_prefix(&shared.vars.working_dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        members.push(Member {
            file,
            label,
            target,
        });
    }
    Ok(SetConfig { policy, members })
}

/// A deployment planned and ready to apply.
pub struct Planned {
    label: String,
    file: String,
    rec: Recorder,
    plan: Box<dyn Plan>,
}

/// A deployment's place in the set, its recorder, and its plan or why it has none.
type PlanOutcome = (usize, Recorder, Result<Box<dyn Plan>>);

/// Every deployment of the set, planned.
pub struct SetPlan {
    members: Vec<Planned>,
}

impl SetPlan {
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} deployments, one per spec file:",
            self.members.len()
        )];
        for m in &self.members {
            lines.push(format!("{} ({}):", who(&m.rec, &m.label), m.label));
            lines.extend(m.plan.describe().into_iter().map(|l| format!("  {l}")));
        }
        lines
    }

    /// `validate`: the plans are the whole run.
    pub fn validated(self, rec: &mut Recorder) {
        for m in self.members {
            rec.add_member(m.rec.into_member(&m.file, MemberResult::Succeeded, None));
        }
    }
}

/// What a deployment is called in the log: what its target named (`deployment `x` in
/// namespace `y``), else its file.
fn who(rec: &Recorder, label: &str) -> String {
    rec.subject_text().unwrap_or(label).to_owned()
}

/// Plan every deployment, up to `maxParallel` at once; any failure, or two files naming the
/// same deployment, fails the step before anything is written.
pub async fn plan(set: &SetConfig, env: &Env<'_>, rec: &mut Recorder) -> Result<SetPlan> {
    let recs: Vec<Recorder> = set.members.iter().map(|m| rec.member(&m.label)).collect();
    let planned: Vec<PlanOutcome> = futures::stream::iter(set.members.iter().zip(recs).enumerate())
        .map(|(n, (m, mut r))| async move {
            r.begin("plan");
            let p = m.target.plan(&mut env.context(&mut r)).await;
            (n, r, p)
        })
        .buffer_unordered(set.policy.max_parallel)
        .collect()
        .await;
    let mut planned = planned;
    planned.sort_by_key(|(n, _, _)| *n);
    let mut failures = vec![];
    let mut ok = vec![];
    for (n, r, p) in planned {
        let m = &set.members[n];
        match p {
            Ok(plan) => ok.push(Planned {
                label: m.label.clone(),
                file: m.file.display().to_string(),
                rec: r,
                plan,
            }),
            Err(e) => {
                let who = format!("`{}`", m.label);
                rec.add_member(r.into_member(
                    &m.file.display().to_string(),
                    MemberResult::Failed(e.message.clone()),
                    Some(&e),
                ));
                failures.push((who, e));
            }
        }
    }
    if failures.is_empty() {
        if let Some(e) = same_deployment(&ok) {
            failures.push(("the set".into(), e));
        }
    }
    if failures.is_empty() {
        return Ok(SetPlan { members: ok });
    }
    let total = set.members.len();
    for m in ok {
        let why = "not started: the plan of the set failed; nothing was changed".to_owned();
        rec.add_member(
            m.rec
                .into_member(&m.file, MemberResult::NotStarted(why), None),
        );
    }
    let mut e = policy::failed(total, &failures, 0);
    e.message = format!("the plan failed, nothing was changed: {}", e.message);
    Err(e)
}

/// Two files that name the same deployment would overwrite each other.
fn same_deployment(ok: &[Planned]) -> Option<Error> {
    for (n, a) in ok.iter().enumerate() {
        let Some(sa) = a.rec.subject_text() else {
            continue;
        };
        if let Some(b) = ok[n + 1..]
            .iter()
            .find(|b| b.rec.subject_text() == Some(sa))
        {
            return Some(
                Error::input(
                    i::SPEC_FILE,
                    format!("`{}` and `{}` both name {sa}", a.label, b.label),
                )
                .with_hint("each spec file of a set deploys its own deployment: give each a metadata.name of its own"),
            );
        }
    }
    None
}

/// How one deployment's apply ended.
struct Applied {
    label: String,
    file: String,
    rec: Recorder,
    result: std::result::Result<Option<Box<dyn Undo>>, Error>,
}

/// Apply every deployment, up to `maxParallel` at once, by the failure policy.
pub async fn apply(plan: SetPlan, policy: Policy, env: &Env<'_>, rec: &mut Recorder) -> Result<()> {
    let total = plan.members.len();
    let failed = Cell::new(0usize);
    let first_failed: std::cell::RefCell<Option<String>> = Default::default();
    let mut failures: Vec<(String, Error)> = vec![];
    let mut succeeded: Vec<Applied> = vec![];
    let mut not_started = 0;
    // Held back until the end only when they may still be put back.
    let may_put_back = policy.rollback_on_failure && policy.scope == policy::Scope::All;
    let mut runs = futures::stream::iter(plan.members)
        .map(|m| {
            let start = policy.may_start(failed.get());
            let why = first_failed.borrow().clone().unwrap_or_default();
            async move {
                if !start {
                    return Err((m, policy.not_started(&why)));
                }
                Ok(apply_one(m, env).await)
            }
        })
        .buffer_unordered(policy.max_parallel);
    while let Some(done) = runs.next().await {
        match done {
            Err((m, why)) => {
                not_started += 1;
                rec.add_member(
                    m.rec
                        .into_member(&m.file, MemberResult::NotStarted(why), None),
                );
            }
            Ok(a) => match a.result {
                Err(e) => {
                    let who = who(&a.rec, &a.label);
                    failed.set(failed.get() + 1);
                    first_failed.borrow_mut().get_or_insert_with(|| who.clone());
                    rec.add_member(a.rec.into_member(
                        &a.file,
                        MemberResult::Failed(e.message.clone()),
                        Some(&e),
                    ));
                    failures.push((who, e));
                }
                Ok(_) if may_put_back => succeeded.push(a),
                Ok(_) => rec.add_member(a.rec.into_member(&a.file, MemberResult::Succeeded, None)),
            },
        }
    }
    drop(runs);
    if policy.put_back_the_rest(failures.len()) {
        put_back(succeeded, policy, env, rec).await;
    } else {
        for a in succeeded {
            rec.add_member(a.rec.into_member(&a.file, MemberResult::Succeeded, None));
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(policy::failed(total, &failures, not_started))
}

async fn apply_one(m: Planned, env: &Env<'_>) -> Applied {
    let Planned {
        label,
        file,
        mut rec,
        plan,
    } = m;
    let undo = plan.undo();
    rec.applying();
    let r = plan.apply(&mut env.context(&mut rec)).await;
    Applied {
        label,
        file,
        rec,
        result: r.map(|()| undo),
    }
}

/// `rollbackScope: all`: put back every deployment that succeeded and changed something.
async fn put_back(succeeded: Vec<Applied>, policy: Policy, env: &Env<'_>, rec: &mut Recorder) {
    let done: Vec<(Applied, crate::rollback::Outcome)> = futures::stream::iter(succeeded)
        .map(|mut a| async move {
            let undo = match &mut a.result {
                Ok(u) => u.take(),
                Err(_) => None,
            };
            let outcome = match undo {
                Some(u) => {
                    let o = u.undo(&mut env.context(&mut a.rec)).await;
                    a.rec.timeline("rollback ended");
                    o
                }
                None => crate::rollback::Outcome::Skipped(
                    "it changed nothing this run, or its target cannot put it back".into(),
                ),
            };
            (a, outcome)
        })
        .buffer_unordered(policy.max_parallel)
        .collect()
        .await;
    for (a, outcome) in done {
        use crate::rollback::Outcome;
        let (result, err) = match outcome {
            Outcome::Done(t) => (
                MemberResult::PutBack(format!(
                    "another deployment failed (rollbackScope: all); {t}"
                )),
                None,
            ),
            Outcome::Skipped(why) => (
                MemberResult::PutBack(format!(
                    "another deployment failed (rollbackScope: all); not rolled back: {why}"
                )),
                None,
            ),
            Outcome::Failed(e) => (
                MemberResult::Failed(format!(
                    "another deployment failed (rollbackScope: all) and the rollback failed: {}",
                    e.message
                )),
                Some(e),
            ),
        };
        rec.add_member(a.rec.into_member(&a.file, result, err.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::pipeline::env::AgentEnv;

    fn cfg(dir: &Path, pairs: &[(&str, &str)]) -> Result<Config> {
        let spec = format!("{}/d/*.yml", dir.display());
        let env = AgentEnv::from_pairs(
            [
                ("vvpUrl", "https://vvp.example"),
                ("specFile", spec.as_str()),
            ]
            .iter()
            .chain(pairs)
            .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string())),
        );
        Config::from_raw(&RawInputs::from_env(env))
    }

    fn specs(names: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("d")).unwrap();
        for n in names {
            let body = format!("metadata:\n  name: {n}\n");
            std::fs::write(d.path().join(format!("d/{n}.yml")), body).unwrap();
        }
        d
    }

    #[test]
    fn several_files_give_one_target_each_reading_its_file() {
        let d = specs(&["a", "b", "c"]);
        let c = cfg(d.path(), &[("maxParallel", "2"), ("onFailure", "stop")]).unwrap();
        let set = c.set.expect("a set");
        assert_eq!(set.members.len(), 3);
        assert_eq!(set.policy.max_parallel, 2);
        assert_eq!(set.policy.on_failure, policy::OnFailure::Stop);
        for (m, n) in set.members.iter().zip(["a", "b", "c"]) {
            let t = m
                .target
                .as_any()
                .downcast_ref::<crate::targets::ververica::Ververica>();
            let file = t.and_then(|t| t.job.spec_file.clone()).unwrap();
            assert!(file.ends_with(format!("d/{n}.yml")), "{}", file.display());
            assert_eq!(m.file, file);
        }
    }

    #[test]
    fn a_pattern_matching_one_file_is_one_deployment_as_before() {
        let d = specs(&["only"]);
        let c = cfg(d.path(), &[]).unwrap();
        assert!(c.set.is_none());
        assert!(c.job.spec_file.unwrap().ends_with("d/only.yml"));
    }

    #[test]
    fn inputs_that_address_one_deployment_are_refused_with_several_files() {
        let d = specs(&["a", "b"]);
        let refused = [
            (
                vec![("deploymentName", "x")],
                "`deploymentName`: must be empty when specFile names several files (2)",
            ),
            (
                vec![("deploymentId", "6232cc84-7aa3-4524-b3a8-36cab7203c47")],
                "`deploymentId`: must be empty",
            ),
            (
                vec![("action", "suspend")],
                "action `suspend` works on one deployment",
            ),
            (
                vec![("target", "flink"), ("flinkUrl", "http://127.0.0.1:8081")],
                "target `flink` reads no spec file",
            ),
            (
                vec![("rollbackScope", "all")],
                "`rollbackScope`: is `all`, but rollbackOnFailure is not set",
            ),
            (vec![("maxParallel", "0")], "`maxParallel`"),
        ];
        for (pairs, says) in refused {
            let e = cfg(d.path(), &pairs).expect_err(says);
            assert!(e.message.contains(says), "{says}: {e}");
        }
        assert!(cfg(
            d.path(),
            &[("rollbackScope", "all"), ("rollbackOnFailure", "true")]
        )
        .is_ok());
    }
}

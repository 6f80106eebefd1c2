//! flink-deploy: an Azure Pipelines task that deploys Apache Flink jobs to Ververica Platform,
//! HDInsight on AKS and Apache Flink session clusters, waits until they really run, and reports
//! back to the pipeline.

pub mod artifact;
pub mod azure;
pub mod cancel;
pub mod cli;
pub mod config;
pub mod error;
pub mod fsread;
pub mod health;
pub mod http;
pub mod kube;
pub mod pipeline;
pub mod report;
pub mod rollback;
pub mod run;
pub mod secret;
pub mod set;
pub mod spec;
pub mod targets;
pub mod wait;

use pipeline::env::AgentEnv;
use pipeline::vso::{Escaping, Vso};
use report::Exit;

/// The whole task: read the environment, mask secrets, validate, run, report.
pub fn main_with_env(env: AgentEnv, vso_out: Option<Vso>) -> Exit {
    let esc = Escaping {
        percents: !env
            .variable("DECODE_PERCENTS")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false")),
    };
    let vso = vso_out.unwrap_or_else(|| Vso::stdout(esc, env.flag("System.Debug")));
    for s in env.secret_variable_values() {
        vso.mask_known_secret(s);
    }
    run_inputs(config::RawInputs::from_env(env), vso)
}

/// Everything after the inputs are read, whichever way they came (the agent's environment or a
/// command line, see [`cli`]): mask, validate, run, report.
pub fn run_inputs(raw: config::RawInputs, vso: Vso) -> Exit {
    // A constant, so it may come before the masking: the first line of the run.
    if let Some(n) = targets::notice(&raw) {
        vso.info(n);
    }
    // Mask first: nothing below may print a secret the agent has not been told about.
    for s in raw.secrets() {
        vso.set_secret(&s);
    }
    let cfg = match config::Config::from_raw(&raw) {
        Ok(c) => c,
        Err(e) => return report::conclude(&vso, Err(e), 0),
    };
    for s in cfg.secrets() {
        vso.set_secret(&s);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report::conclude(
                &vso,
                Err(error::Error::new(
                    error::ErrorKind::Io,
                    format!("cannot start the runtime: {e}"),
                )),
                0,
            )
        }
    };
    let exit = rt.block_on(run::run(cfg, vso));
    // A cancelled run can leave a jar being hashed on a blocking thread; the reports are
    // written, so there is nothing left to wait for.
    rt.shutdown_background();
    exit
}

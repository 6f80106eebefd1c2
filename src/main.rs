use std::process::ExitCode;

fn main() -> ExitCode {
    // Diagnostics go to stderr and only when asked for; stdout belongs to the agent protocol
    // (or, on a command line, to the run's log and `--json` document).
    if let Ok(filter) = std::env::var("FLINK_DEPLOY_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    flink_deploy::cancel::stop_with_parent();
    let env = flink_deploy::pipeline::env::AgentEnv::from_process();
    flink_deploy::cli::main(std::env::args_os().skip(1).collect(), env).code()
}

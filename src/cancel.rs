//! Stop requests from the agent. On cancel or timeout the agent sends SIGINT (Ctrl+C on Windows)
//! to the task's process, then SIGTERM (Ctrl+Break) 7.5 s later, and kills it 2.5 s after that.
//! The launcher passes the signals on; the run stops at its next await point and still writes
//! its reports in that time.

/// The signals that ask the task to stop, caught from the moment [`Signals::listen`] returns.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
    #[cfg(windows)]
    ctrl_break: tokio::signal::windows::CtrlBreak,
}

impl Signals {
    /// Catch the stop signals from now on. Inside a Tokio runtime only. Once caught, a signal no
    /// longer ends the process by itself, for the rest of its life.
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Self {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
                ctrl_break: tokio::signal::windows::ctrl_break()?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        {
            Ok(Self {})
        }
    }

    /// Wait for the next stop request; returns the signal's name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.interrupt.recv() => "SIGINT",
                Some(()) = self.terminate.recv() => "SIGTERM",
                else => std::future::pending().await,
            }
        }
        #[cfg(windows)]
        {
            tokio::select! {
                Some(()) = self.ctrl_c.recv() => "Ctrl+C",
                Some(()) = self.ctrl_break.recv() => "Ctrl+Break",
                else => std::future::pending().await,
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            std::future::pending().await
        }
    }

    /// After the first request the run winds down and writes its reports; a second one (the
    /// agent's SIGTERM when that takes too long) ends the process at once with `status`.
    pub fn exit_on_next(mut self, status: u8) {
        tokio::spawn(async move {
            // Ctrl+C in a terminal reaches the launcher and this process alike, and the launcher
            // passes its own on: a second interrupt is the same request, not an escalation.
            while matches!(self.recv().await, "SIGINT" | "Ctrl+C") {}
            std::process::exit(i32::from(status));
        });
    }
}

/// On Linux, ask the kernel for SIGTERM when the parent (the launcher) dies. The agent's last
/// resort on cancel kills only the launcher; without this the binary would go on deploying
/// with nobody to report to. SIGTERM then takes the same path as a cancel.
pub fn stop_with_parent() {
    #[cfg(target_os = "linux")]
    {
        let parent = std::os::unix::process::parent_id();
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
        let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) };
        // The parent may have gone between our start and the call; then no signal would come.
        if set == 0 && std::os::unix::process::parent_id() != parent {
            std::process::exit(i32::from(crate::report::Exit::Canceled.status()));
        }
    }
}

//! One error type for the whole task: what failed, on which object, and how to fix it.
//!
//! Errors carry a kind (which decides the exit code), a message that names the input, deployment,
//! namespace or URL, an optional hint where the fix is known, and detail lines (server messages,
//! events, exceptions) that go to the log and the JUnit failure text.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad task input; nothing was changed.
    Input,
    /// The platform answered with an error.
    Platform,
    /// The platform could not be reached.
    Network,
    /// The desired state was not reached in time.
    Timeout,
    /// The job or deployment came up and failed.
    Deployment,
    /// Local files.
    Io,
    /// The agent asked the task to stop (the run was cancelled or timed out).
    Canceled,
}

#[derive(Clone, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    pub details: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            details: vec![],
        }
    }

    /// A bad value of `input`; `message` says what is wrong with it.
    pub fn input(input: &str, message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Input, format!("input `{input}`: {message}"))
    }

    pub fn platform(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Platform, message)
    }

    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    pub fn deployment(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Deployment, message)
    }

    pub fn io(path: &std::path::Path, err: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Io, format!("{}: {err}", path.display()))
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.details.push(detail.into());
        self
    }

    pub fn with_details(mut self, details: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(details);
        self
    }

    /// Prefix the message with context, e.g. the step that was running.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }

    /// The one-line text for `task.logissue`: message plus hint.
    pub fn headline(&self) -> String {
        match &self.hint {
            Some(h) => format!("{} (hint: {h})", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        for d in &self.details {
            write!(f, "\n  {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

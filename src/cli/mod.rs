//! The same binary from a shell, an orchestrator or another CI.

pub mod human;

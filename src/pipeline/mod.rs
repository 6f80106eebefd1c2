//! The Azure Pipelines agent protocol: what the agent hands the task (environment) and what the
//! task hands back (logging commands, JUnit, summary). Nothing here knows any deployment target.

pub mod env;
pub mod forms;
pub mod inputs;
pub mod junit;
pub mod summary;
pub mod vso;

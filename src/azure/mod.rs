//! Azure: sign-in from the AzureRM service connection, Key Vault secrets and Blob upload.

pub mod auth;
pub mod connection;

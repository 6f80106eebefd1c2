//! Azure: sign-in from the AzureRM service connection, Key Vault secrets and Blob upload.

pub mod auth;
pub mod blob;
pub mod cert;
pub mod connection;
pub mod fault;
pub mod keyvault;
pub mod settings;
pub mod transport;

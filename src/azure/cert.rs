//! Certificate sign-in (service connection `authenticationType: spnCertificate`).
//!
//! Entra ID accepts a JWT client assertion signed with the certificate's private key
//! (RFC 7523; header `alg: RS256` and `x5t`, the base64url SHA-1 thumbprint of the certificate).
//! The service connection hands over one PEM with the certificate and its unencrypted key. The
//! SDK's `ClientCertificateCredential` wants PKCS#12 and OpenSSL; signing the assertion here with
//! aws-lc-rs (already in the build for TLS) avoids both, and plugs into the SDK's own
//! `ClientAssertionCredential`, which asks for a fresh assertion for every token.

use aws_lc_rs::digest;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Lifetime of one assertion; Entra only needs it for the single token request it accompanies.
const LIFETIME_SECS: i64 = 600;

pub struct CertificateAssertion {
    key: KeyPair,
    thumbprint: String,
    client_id: String,
    audience: String,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("x5t", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// `audience` is the token endpoint, `https://<authority>/<tenant>/oauth2/v2.0/token`.
    /// Errors are plain sentences for the caller to attach to the input.
    pub fn from_pem(pem: &str, client_id: &str, audience: &str) -> Result<Self, String> {
        let bytes = pem.as_bytes();
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err("the private key is encrypted; the service connection needs the PEM with an unencrypted key".into());
        }
        let key_der = PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "the PEM has no private key; it must hold the certificate and its private key"
                    .to_owned()
            }
            e => format!("the private key in the PEM cannot be read ({e})"),
        })?;
        let key =
            match &key_der {
                PrivateKeyDer::Pkcs8(k) => KeyPair::from_pkcs8(k.secret_pkcs8_der()),
                PrivateKeyDer::Pkcs1(k) => KeyPair::from_der(k.secret_pkcs1_der()),
                _ => return Err(
                    "the private key is not an RSA key; Entra ID certificate credentials use RSA"
                        .into(),
                ),
            }
            .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
        let public = key.public_key().as_ref().to_vec();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a certificate in the PEM cannot be read ({e})"))?;
        if certs.is_empty() {
            return Err(
                "the PEM has no certificate; it must hold the certificate and its private key"
                    .into(),
            );
        }
        // The certificate's SubjectPublicKeyInfo embeds the key's RSAPublicKey DER verbatim, so
        // a byte search finds the certificate that belongs to the key, wherever the chain puts it.
        let cert = certs
            .iter()
            .find(|c| contains(c.as_ref(), &public))
            .ok_or("no certificate in the PEM matches its private key")?;
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        Ok(Self {
            key,
            thumbprint: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// The base64url SHA-1 thumbprint Entra uses to find the registered certificate.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A signed assertion valid from `now` (Unix seconds) for [`LIFETIME_SECS`].
    pub fn sign(&self, now: i64, jti: &str) -> Result<String, String> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": jti,
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing the client assertion failed".to_owned())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(
        &self,
        _options: Option<azure_core::http::ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let jti = azure_core::Uuid::new_v4().to_string();
        self.sign(now, &jti).map_err(|m| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, m)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A throw-away certificate and key from the openssl command line, so the thumbprint is
    /// checked against an independent implementation.
    fn make_pem(dir: &std::path::Path, key_format: &str) -> (String, String) {
        let key = dir.join("k.pem");
        let cert = dir.join("c.pem");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=flink-deploy test client"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl is installed");
        assert!(ok.status.success(), "{ok:?}");
        let mut key_pem = std::fs::read_to_string(&key).unwrap();
        if key_format == "pkcs1" {
            let out = Command::new("openssl")
                .args(["rsa", "-traditional", "-in"])
                .arg(&key)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            key_pem = String::from_utf8(out.stdout).unwrap();
            assert!(key_pem.contains("BEGIN RSA PRIVATE KEY"));
        }
        let fp = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        let hex: String = String::from_utf8(fp.stdout)
            .unwrap()
            .split('=')
            .nth(1)
            .unwrap()
            .trim()
            .replace(':', "");
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let cert_pem = std::fs::read_to_string(&cert).unwrap();
        (format!("{cert_pem}{key_pem}"), URL_SAFE_NO_PAD.encode(raw))
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertion_is_signed_with_the_key_and_names_the_certificate() {
        for format in ["pkcs8", "pkcs1"] {
            let dir = tempfile::tempdir().unwrap();
            let (pem, x5t) = make_pem(dir.path(), format);
            let aud = "https://login.example/tenant-1/oauth2/v2.0/token";
            let a = CertificateAssertion::from_pem(&pem, "client-1", aud).unwrap();
            assert_eq!(a.thumbprint(), x5t, "{format}");
            let jwt = a.sign(1_700_000_000, "jti-1").unwrap();
            let parts: Vec<&str> = jwt.split('.').collect();
            assert_eq!(parts.len(), 3);
            let h = decode(parts[0]);
            assert_eq!(h["alg"], "RS256");
            assert_eq!(h["x5t"], x5t.as_str());
            let c = decode(parts[1]);
            assert_eq!(c["aud"], aud);
            assert_eq!(c["iss"], "client-1");
            assert_eq!(c["sub"], "client-1");
            assert_eq!(c["nbf"], 1_700_000_000);
            assert_eq!(c["exp"], 1_700_000_600);
            let public = a.key.public_key().as_ref().to_vec();
            let msg = format!("{}.{}", parts[0], parts[1]);
            let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public)
                .verify(msg.as_bytes(), &sig)
                .expect("signature verifies with the certificate's key");
            let mut tampered = msg.into_bytes();
            tampered[5] ^= 1;
            assert!(signature::UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                &public
            )
            .verify(&tampered, &sig)
            .is_err());
        }
    }

    #[test]
    fn bad_pems_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, _) = make_pem(dir.path(), "pkcs8");
        let cert_only: String = pem
            .split_inclusive('\n')
            .take_while(|l| !l.contains("PRIVATE KEY"))
            .collect();
        let e = CertificateAssertion::from_pem(&cert_only, "c", "a").unwrap_err();
        assert!(e.contains("no private key"), "{e}");
        let key_only = &pem[pem.find("-----BEGIN PRIVATE KEY").unwrap()..];
        let e = CertificateAssertion::from_pem(key_only, "c", "a").unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let other = tempfile::tempdir().unwrap();
        let (pem2, _) = make_pem(other.path(), "pkcs8");
        let mixed = format!(
            "{cert_only}{}",
            &pem2[pem2.find("-----BEGIN PRIVATE KEY").unwrap()..]
        );
        let e = CertificateAssertion::from_pem(&mixed, "c", "a").unwrap_err();
        assert!(e.contains("matches"), "{e}");
        let e = CertificateAssertion::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "c",
            "a",
        )
        .unwrap_err();
        assert!(e.contains("encrypted"), "{e}");
    }
}

//! What an Azure SDK error says, in the terms users act on: HTTP status, the service's error code
//! and message, and the request id to quote to support.
//!
//! SDK errors nest (a credential error wraps the token endpoint's HTTP error; the retry policy
//! wraps the last attempt), so the whole chain is searched for the HTTP response.

use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::RawResponse;

/// The parts of a failed Azure call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    pub status: Option<u16>,
    /// The service's error code, e.g. `AuthorizationPermissionMismatch`, `Forbidden`, `AADSTS7000215`.
    pub code: Option<String>,
    /// A more specific code: Key Vault's `innererror.code`, e.g. `ForbiddenByRbac`.
    pub inner_code: Option<String>,
    /// The service's own message (first paragraph), or the transport's description.
    pub message: String,
    pub request_id: Option<String>,
    /// Entra's correlation id, which its support asks for next to the request id.
    pub correlation_id: Option<String>,
    /// True when no response came back (connection, DNS, TLS, timeout).
    pub network: bool,
    /// The server's TLS certificate was not trusted.
    pub untrusted: bool,
    /// The response body, for callers that need more than the message.
    pub body: Vec<u8>,
}

impl Fault {
    pub fn from_sdk(err: &azure_core::Error) -> Fault {
        let mut f = Fault {
            message: innermost_message(err),
            network: matches!(err.kind(), ErrorKind::Io | ErrorKind::Connection)
                || chain(err).any(|e| e.is::<super::transport::TransportFailure>()),
            untrusted: chain(err).any(|e| {
                e.downcast_ref::<super::transport::TransportFailure>()
                    .is_some_and(|t| t.untrusted)
            }),
            ..Default::default()
        };
        if let Some((status, code, raw)) = find_http(err) {
            f.status = Some(u16::from(status));
            f.code = code.clone();
            f.network = false;
            if let Some(raw) = raw {
                f.absorb(raw);
            }
        }
        f
    }

    fn absorb(&mut self, raw: &RawResponse) {
        let h = raw.headers();
        let header = |n: &'static str| {
            h.get_optional_str(&HeaderName::from_static(n))
                .map(str::to_owned)
        };
        // Azure services send x-ms-request-id; Azure DevOps (the OIDC endpoint) x-vss-e2eid.
        self.request_id = header("x-ms-request-id")
            .or_else(|| header("x-ms-correlation-request-id"))
            .or_else(|| header("x-vss-e2eid"));
        if self.code.is_none() {
            self.code = header("x-ms-error-code");
        }
        let body: &[u8] = raw.body().as_ref();
        self.body = body.to_vec();
        let parsed = parse_body(body);
        if let Some(m) = parsed.message {
            self.message = m;
        }
        // The SDK falls back to the status or Entra's numeric codes; the body's code is better.
        let weak = self
            .code
            .as_deref()
            .is_none_or(|c| c.chars().all(|ch| ch.is_ascii_digit() || ch == ','));
        if parsed.code.is_some() && weak {
            self.code = parsed.code;
        }
        self.inner_code = parsed.inner_code;
        self.correlation_id = parsed.correlation_id;
    }

    /// The fix for an untrusted certificate, the same for every Azure service.
    /// Also the fix for a proxy that refused the tunnel, which is about the agent's settings too.
    pub fn trust_hint(&self) -> Option<&'static str> {
        if self.untrusted {
            return Some(
                "the agent does not trust the server's TLS certificate: if a TLS-inspecting proxy is in the way, point Agent.CAInfo (the agent's --sslcacert) at its CA bundle",
            );
        }
        let refused = self.network && self.message.contains("proxy authorization required");
        refused.then_some(crate::http::PROXY_HINT)
    }

    /// `code: message (HTTP status, request id …)`, the way every Azure error is quoted.
    pub fn quote(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.code {
            s.push_str(c);
            if let Some(i) = &self.inner_code {
                s.push_str(&format!("/{i}"));
            }
            s.push_str(": ");
        }
        s.push_str(&self.message);
        let mut meta = vec![];
        if let Some(st) = self.status {
            meta.push(format!("HTTP {st}"));
        }
        if let Some(r) = &self.request_id {
            meta.push(format!("request id {r}"));
        }
        if let Some(c) = self
            .correlation_id
            .as_ref()
            .filter(|c| Some(*c) != self.request_id.as_ref())
        {
            meta.push(format!("correlation id {c}"));
        }
        if !meta.is_empty() {
            s.push_str(&format!(" ({})", meta.join(", ")));
        }
        s
    }
}

fn chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

type Http<'a> = (
    azure_core::http::StatusCode,
    &'a Option<String>,
    Option<&'a RawResponse>,
);

fn find_http(err: &azure_core::Error) -> Option<Http<'_>> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut found = None;
    while let Some(e) = cur {
        if let Some(az) = e.downcast_ref::<azure_core::Error>() {
            if let ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } = az.kind()
            {
                let candidate = (*status, error_code, raw_response.as_deref());
                // Prefer the level that still carries the response body.
                if found.is_none() || candidate.2.is_some() {
                    found = Some(candidate);
                }
                if candidate.2.is_some() {
                    break;
                }
            }
        }
        cur = e.source();
    }
    found
}

/// The deepest non-empty message: the outer levels only add "retry policy expired" and the like.
fn innermost_message(err: &azure_core::Error) -> String {
    let mut msg = err.to_string();
    let mut cur = std::error::Error::source(err);
    while let Some(e) = cur {
        let t = e.to_string();
        if !t.trim().is_empty() {
            msg = t;
        }
        cur = e.source();
    }
    first_paragraph(&msg)
}

fn first_paragraph(s: &str) -> String {
    let s = s.trim();
    let cut = s
        .find("\r\n\r\n")
        .or_else(|| s.find("\n\n"))
        .unwrap_or(s.len());
    s[..cut]
        .replace("\r\n", " ")
        .replace('\n', " ")
        .trim()
        .to_owned()
}

#[derive(Default)]
struct Parsed {
    code: Option<String>,
    inner_code: Option<String>,
    message: Option<String>,
    correlation_id: Option<String>,
}

/// Azure error bodies: `{"error":{"code","message","innererror":{"code"}}}` (Key Vault, ARM),
/// Entra's `{"error","error_description","correlation_id"}`, and Storage's XML
/// `<Error><Code/><Message/></Error>`.
fn parse_body(body: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let s =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        if let Some(e) = v.get("error").filter(|e| e.is_object()) {
            p.code = s(e, "code");
            p.message = s(e, "message").map(|m| first_paragraph(&m));
            p.inner_code = e
                .get("innererror")
                .or_else(|| e.get("innerError"))
                .and_then(|i| s(i, "code"));
        } else if let Some(d) = s(&v, "error_description") {
            // Entra: the AADSTS number is the useful code; the description repeats it.
            p.code = d
                .split(':')
                .next()
                .filter(|c| c.starts_with("AADSTS"))
                .map(str::to_owned)
                .or_else(|| s(&v, "error"));
            p.message = Some(first_paragraph(
                d.split_once(": ")
                    .filter(|(c, _)| c.starts_with("AADSTS"))
                    .map(|(_, m)| m)
                    .unwrap_or(&d),
            ));
            p.correlation_id = s(&v, "correlation_id");
        } else if let Some(m) = s(&v, "message") {
            p.message = Some(first_paragraph(&m));
        }
        return p;
    }
    let text = String::from_utf8_lossy(body);
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let close = format!("</{t}>");
        let a = text.find(&open)? + open.len();
        let b = text[a..].find(&close)? + a;
        Some(text[a..b].trim().to_owned())
    };
    p.code = tag("Code");
    // Storage appends "RequestId:…" and "Time:…" lines; the request id is quoted separately.
    p.message = tag("Message").map(|m| m.lines().next().unwrap_or("").trim().to_owned());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::{headers::Headers, StatusCode};

    fn http_err(
        status: StatusCode,
        code: Option<&str>,
        headers: &[(&'static str, &str)],
        body: &str,
    ) -> azure_core::Error {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(HeaderName::from_static(k), v.to_string());
        }
        let raw = RawResponse::from_bytes(status, h, body.as_bytes().to_vec());
        azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: code.map(str::to_owned),
                raw_response: Some(Box::new(raw)),
            },
            "outer",
        )
    }

    #[test]
    fn key_vault_rbac_denial() {
        let body = r#"{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=x\r\n","innererror":{"code":"ForbiddenByRbac"}}}"#;
        let e = http_err(
            StatusCode::Forbidden,
            Some("Forbidden"),
            &[("x-ms-request-id", "rid-1")],
            body,
        );
        let f = Fault::from_sdk(&e.with_context("retry policy expired"));
        assert_eq!(f.status, Some(403));
        assert_eq!(f.code.as_deref(), Some("Forbidden"));
        assert_eq!(f.inner_code.as_deref(), Some("ForbiddenByRbac"));
        assert_eq!(f.request_id.as_deref(), Some("rid-1"));
        assert!(
            f.message.starts_with("Caller is not authorized"),
            "{}",
            f.message
        );
        assert!(
            f.quote()
                .contains("Forbidden/ForbiddenByRbac: Caller is not authorized"),
            "{}",
            f.quote()
        );
        assert!(
            f.quote().ends_with("(HTTP 403, request id rid-1)"),
            "{}",
            f.quote()
        );
    }

    #[test]
    fn entra_error_inside_a_credential_error() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: t","error_codes":[7000215],"correlation_id":"corr-9"}"#;
        let inner = http_err(StatusCode::Unauthorized, Some("7000215"), &[], body);
        let outer = azure_core::Error::with_error(
            ErrorKind::Credential,
            inner,
            "ClientSecretCredential authentication failed.",
        );
        let f = Fault::from_sdk(&outer);
        assert_eq!(f.status, Some(401));
        assert_eq!(f.code.as_deref(), Some("AADSTS7000215"));
        assert_eq!(f.request_id, None);
        assert!(
            f.quote().ends_with("(HTTP 401, correlation id corr-9)"),
            "{}",
            f.quote()
        );
        assert!(
            f.message.starts_with("Invalid client secret provided"),
            "{}",
            f.message
        );
    }

    #[test]
    fn storage_xml_error_and_header_code() {
        let body = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this operation using this permission.\nRequestId:abc\nTime:2024</Message></Error>";
        let e = http_err(
            StatusCode::Forbidden,
            None,
            &[("x-ms-request-id", "abc")],
            body,
        );
        let f = Fault::from_sdk(&e);
        assert_eq!(f.code.as_deref(), Some("AuthorizationPermissionMismatch"));
        assert_eq!(
            f.message,
            "This request is not authorized to perform this operation using this permission."
        );
        let head = http_err(StatusCode::NotFound, Some("BlobNotFound"), &[], "");
        assert_eq!(Fault::from_sdk(&head).code.as_deref(), Some("BlobNotFound"));
    }

    #[test]
    fn transport_errors_are_network_faults() {
        let e = azure_core::Error::with_message(
            ErrorKind::Connection,
            "GET https://h/: connection failed reaching h without a proxy",
        );
        let f = Fault::from_sdk(&e);
        assert!(f.network);
        assert_eq!(f.status, None);
        assert!(f.quote().contains("without a proxy"));
    }
}

//! The Azure SDK's HTTP transport, backed by the task's own client.
//!
//! The SDK would otherwise build a default `reqwest` client that knows nothing of the agent's CA
//! file (`Agent.CAInfo`) or proxy (`Agent.ProxyUrl`, `Agent.ProxyBypassList`). Routing every SDK
//! request through [`crate::http::Http`]'s client applies both, and lets network errors say which
//! host failed and whether a proxy was in the way. Query strings (SAS tokens) never appear in
//! these messages.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, ExponentialRetryOptions, HttpClient, Request, RetryOptions,
    Transport,
};

use futures::StreamExt;

use crate::http::{display_url, Deadline, Http, MAX_BODY};

/// The instance metadata service lives on a link-local address that no proxy can reach.
const IMDS_HOST: &str = "169.254.169.254";

#[derive(Clone, Debug)]
pub struct AzureTransport {
    client: reqwest::Client,
    direct: reqwest::Client,
    proxy: Option<String>,
    timeout: Option<Duration>,
    /// The run's phase deadline, shared with [`Http`].
    deadline: Deadline,
    max_body: u64,
}

impl AzureTransport {
    pub fn new(http: &Http) -> crate::error::Result<Self> {
        let direct = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Ok(Self {
            client: http.client()?.clone(),
            direct,
            proxy: http.proxy().map(str::to_owned),
            timeout: None,
            deadline: http.deadline().clone(),
            max_body: MAX_BODY,
        })
    }

    /// Give up on any one request after `t` (the SDK's retry policy may then try again).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Client options for an SDK client or credential: this transport and a bounded retry.
    pub fn options(&self, retry: Retry) -> ClientOptions {
        ClientOptions {
            transport: Some(Transport::new(Arc::new(self.clone()))),
            retry: retry.options(),
            ..Default::default()
        }
    }

    fn host_and_route(&self, request: &Request) -> (String, String) {
        let url = request.url();
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        };
        let via = match (&self.proxy, url.host_str() == Some(IMDS_HOST)) {
            (Some(p), false) => format!("through proxy {p}"),
            _ => "without a proxy".to_owned(),
        };
        (host, via)
    }

    fn timed_out(&self, request: &Request, t: Duration, cut_by: Option<&str>) -> azure_core::Error {
        let (host, via) = self.host_and_route(request);
        let within = match cut_by {
            Some(what) => format!(": {what} is used up"),
            None => format!(" within {}s", t.as_secs_f32()),
        };
        let message = format!(
            "{} {}: no answer from {host} {via}{within}",
            request.method(),
            display_url(request.url().as_str()),
        );
        // Io, so the SDK's retry policy counts it as a transport error and retries within its
        // budget; but not when the run's deadline cut it, since no time is left for a retry.
        let kind = if cut_by.is_some() {
            ErrorKind::Other
        } else {
            ErrorKind::Io
        };
        azure_core::Error::new(
            kind,
            TransportFailure {
                message,
                untrusted: false,
            },
        )
    }

    /// Azure's services answer where they are asked; a redirect is not followed (it could turn
    /// a write into a read, or carry the token to another host) and is not retried.
    fn redirected(&self, request: &Request, answer: &AsyncRawResponse) -> azure_core::Error {
        let to = answer
            .headers()
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "location",
            ))
            .map(display_url)
            .unwrap_or_else(|| "(no Location)".into());
        azure_core::Error::new(
            ErrorKind::Other,
            TransportFailure {
                message: format!(
                    "{} {} was redirected (HTTP {}) to {to}; the task does not follow redirects of Azure services",
                    request.method(),
                    display_url(request.url().as_str()),
                    u16::from(answer.status())
                ),
                untrusted: false,
            },
        )
    }

    /// A failure the SDK must not retry: the answer is larger than the task reads.
    fn too_large(&self, request: &Request, seen: u64) -> azure_core::Error {
        let (host, via) = self.host_and_route(request);
        azure_core::Error::new(
            ErrorKind::Other,
            TransportFailure {
                message: format!(
                    "{} {}: the answer from {host} {via} is larger than {}, the most the task reads from an Azure service; it stopped reading after {}",
                    request.method(),
                    display_url(request.url().as_str()),
                    crate::fsread::bytes(self.max_body),
                    crate::fsread::bytes(seen)
                ),
                untrusted: false,
            },
        )
    }

    /// The answer's body as a stream that ends in an error past [`AzureTransport::max_body`].
    fn capped(
        &self,
        request: &Request,
        answer: AsyncRawResponse,
    ) -> azure_core::Result<AsyncRawResponse> {
        let announced = answer
            .headers()
            .get_optional_str(&azure_core::http::headers::CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok());
        // A HEAD answer's Content-Length is the resource's size (a blob's), with no body.
        let has_body = request.method() != azure_core::http::Method::Head;
        if let Some(n) = announced.filter(|n| has_body && *n > self.max_body) {
            return Err(self.too_large(request, n));
        }
        let (status, headers, body) = answer.deconstruct();
        let limit = self.max_body;
        let this = self.clone();
        let request = request.clone();
        let stream = futures::stream::unfold(Some((body, 0u64)), move |state| {
            let (this, request) = (this.clone(), request.clone());
            async move {
                let (mut body, seen) = state?;
                match body.next().await? {
                    Ok(chunk) => {
                        let seen = seen + chunk.len() as u64;
                        if seen > limit {
                            Some((Err(this.too_large(&request, seen)), None))
                        } else {
                            Some((Ok(chunk), Some((body, seen))))
                        }
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        });
        Ok(AsyncRawResponse::new(status, headers, Box::pin(stream)))
    }

    fn describe(&self, request: &Request, err: azure_core::Error) -> azure_core::Error {
        let url = request.url();
        let (host, via) = self.host_and_route(request);
        let cause = root_cause(&err);
        // A certificate the agent does not trust will not become trusted on a retry.
        let untrusted = cause.as_deref().is_some_and(|c| c.contains("certificate"));
        let what = match err.kind() {
            _ if untrusted => "TLS certificate not trusted",
            ErrorKind::Connection => "connection failed",
            _ => "request failed",
        };
        let message = format!(
            "{} {}: {what} reaching {host} {via}{}",
            request.method(),
            display_url(url.as_str()),
            cause.map(|c| format!(" ({c})")).unwrap_or_default()
        );
        let kind = if untrusted {
            ErrorKind::Other
        } else {
            // Same kind, so the SDK's retry policy still treats it as a transport error.
            err.kind().clone()
        };
        azure_core::Error::new(kind, TransportFailure { message, untrusted })
    }
}

/// A request that got no response; [`super::fault::Fault`] recognises it in an SDK error chain.
#[derive(Debug)]
pub struct TransportFailure {
    pub message: String,
    pub untrusted: bool,
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportFailure {}

/// The innermost cause, which names the real problem (refused, DNS, certificate, timeout).
/// reqwest's own top-level text includes the full URL with its query, so it is skipped.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut last = None;
    let mut src = err.source();
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                last = Some("timed out".to_owned());
            }
        } else {
            last = Some(s.to_string());
        }
        src = s.source();
    }
    last
}

#[async_trait]
impl HttpClient for AzureTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let client = if request.url().host_str() == Some(IMDS_HOST) {
            &self.direct
        } else {
            &self.client
        };
        // The body of a JSON answer is read inside the same bound: a server that sends headers
        // and then stalls is as slow as one that never answers.
        let call = async {
            let answer = HttpClient::execute_request(client, request)
                .await
                .map_err(|e| self.describe(request, e))?;
            if matches!(u16::from(answer.status()), 301 | 302 | 303 | 307 | 308) {
                return Err(self.redirected(request, &answer));
            }
            let answer = self.capped(request, answer)?;
            self.complete_json(request, answer).await
        };
        // The tighter of the request's own limit and what is left of the run's phase.
        let (limit, cut_by) = match (self.timeout, self.deadline.left()) {
            (Some(t), Some((l, what))) if l < t => (Some(l), Some(what)),
            (None, Some((l, what))) => (Some(l), Some(what)),
            (t, _) => (t, None),
        };
        match limit {
            Some(t) if t.is_zero() => Err(self.timed_out(request, t, cut_by.as_deref())),
            Some(t) => match tokio::time::timeout(t, call).await {
                Ok(a) => a,
                Err(_) => Err(self.timed_out(request, t, cut_by.as_deref())),
            },
            None => call.await,
        }
    }
}

impl AzureTransport {
    /// Read a successful JSON answer in full and check that it parses. A body cut short (a reset
    /// connection, a proxy) then fails here as a transport error, which the SDK's retry policy
    /// repeats, instead of failing later in the SDK's deserializer, which it does not. Other
    /// answers (blob content) pass through as streams.
    async fn complete_json(
        &self,
        request: &Request,
        answer: AsyncRawResponse,
    ) -> azure_core::Result<AsyncRawResponse> {
        let json = crate::http::says_json(
            answer
                .headers()
                .get_optional_str(&azure_core::http::headers::CONTENT_TYPE),
        );
        if !json || !answer.status().is_success() {
            return Ok(answer);
        }
        let (status, headers, body) = answer.deconstruct();
        let bytes = body.collect().await.map_err(|e| match e.kind() {
            // Already ours (an answer past the size limit): as it is.
            ErrorKind::Other => e,
            _ => self.describe(request, e),
        })?;
        if crate::http::json_cut_short(&bytes) {
            let (host, via) = self.host_and_route(request);
            return Err(azure_core::Error::new(
                ErrorKind::Io,
                TransportFailure {
                    message: format!(
                        "{} {}: the answer from {host} {via} was cut short ({} bytes of JSON that does not parse)",
                        request.method(),
                        display_url(request.url().as_str()),
                        bytes.len()
                    ),
                    untrusted: false,
                },
            ));
        }
        Ok(AsyncRawResponse::from_bytes(status, headers, bytes))
    }
}

/// Retry budgets per kind of call. Every SDK request is retried on 408/429/5xx and transport
/// errors, honouring `Retry-After`, within these bounds.
#[derive(Clone, Copy, Debug)]
pub enum Retry {
    /// Sign-in, Key Vault and single Blob calls.
    Standard,
    /// One block of an upload: a few quick attempts, then the upload stops.
    Block,
}

impl Retry {
    pub fn options(self) -> RetryOptions {
        let (initial, max_retries, total, max_delay) = match self {
            Retry::Standard => (300, 4, 60, 10),
            Retry::Block => (500, 3, 30, 8),
        };
        RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(initial),
            max_retries,
            max_total_elapsed: azure_core::time::Duration::seconds(total),
            max_delay: azure_core::time::Duration::seconds(max_delay),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpSettings;

    fn http(proxy: Option<&str>) -> Http {
        Http::new(&HttpSettings {
            proxy_url: proxy.map(str::to_owned),
            ..Default::default()
        })
        .unwrap()
    }

    fn get(url: String) -> Request {
        Request::new(url.parse().unwrap(), azure_core::http::Method::Get)
    }

    #[tokio::test]
    async fn a_request_with_no_answer_times_out_naming_the_host() {
        // Accepts the connection and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = AzureTransport::new(&http(None))
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let req = Request::new(
            format!("http://127.0.0.1:{port}/tenant/oauth2/v2.0/token?x=SECRET")
                .parse()
                .unwrap(),
            azure_core::http::Method::Post,
        );
        let started = std::time::Instant::now();
        let e = t.execute_request(&req).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let m = e.to_string();
        assert!(
            m.contains(&format!(
                "no answer from 127.0.0.1:{port} without a proxy within 0.3s"
            )),
            "{m}"
        );
        assert!(!m.contains("SECRET"), "{m}");
        assert!(matches!(e.kind(), ErrorKind::Io));
        drop(listener);
    }

    /// Serve `answer` to every connection on a loopback port.
    fn serve(answer: &'static str) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(answer.as_bytes());
            }
        });
        port
    }

    #[tokio::test]
    async fn a_json_answer_cut_short_is_a_transport_error_the_sdk_retries() {
        let port = serve("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\nconnection: close\r\n\r\n{\"value\":\"ha");
        let t = AzureTransport::new(&http(None)).unwrap();
        let get = |port: u16| {
            Request::new(
                format!("http://127.0.0.1:{port}/secrets/a?api-version=1")
                    .parse()
                    .unwrap(),
                azure_core::http::Method::Get,
            )
        };
        let e = t.execute_request(&get(port)).await.unwrap_err();
        fails_as(
            &e,
            ErrorKind::Io,
            "was cut short (12 bytes of JSON that does not parse)",
        );

        let port = serve("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\nconnection: close\r\n\r\n{\"value\":\"a\"}");
        let ok = t.execute_request(&get(port)).await.unwrap();
        let body = ok.into_body().collect().await.unwrap();
        assert_eq!(&body[..], br#"{"value":"a"}"#);
    }

    /// The error is of `kind` (whether the SDK retries it) and says `text`.
    fn fails_as(e: &azure_core::Error, kind: ErrorKind, text: &str) {
        assert_eq!(
            std::mem::discriminant(e.kind()),
            std::mem::discriminant(&kind),
            "{e:?}"
        );
        assert!(e.to_string().contains(text), "{e}");
    }

    #[tokio::test]
    async fn an_answer_past_the_limit_is_an_error_the_sdk_does_not_retry() {
        // Announced too long: refused before reading.
        let port = serve("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 99999999999\r\nconnection: close\r\n\r\n{");
        let t = AzureTransport::new(&http(None)).unwrap();
        let req = get(format!("http://127.0.0.1:{port}/secrets?api-version=1"));
        let e = t.execute_request(&req).await.unwrap_err();
        fails_as(
            &e,
            ErrorKind::Other,
            "is larger than 32 MiB, the most the task reads from an Azure service",
        );
        // A HEAD answer announces the blob's size and carries no body: not refused.
        let port = serve("HTTP/1.1 200 OK\r\ncontent-type: application/java-archive\r\ncontent-length: 314572800\r\nconnection: close\r\n\r\n");
        let mut head = get(format!("http://127.0.0.1:{port}/c/b.jar"));
        head.set_method(azure_core::http::Method::Head);
        let ok = t.execute_request(&head).await.unwrap();
        assert_eq!(u16::from(ok.status()), 200);
        // Endless and chunked: cut while it streams.
        let mut small = t.clone();
        small.max_body = 1024;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            if let Some(mut c) = listener.incoming().flatten().next() {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
                while c.write_all(chunk.as_bytes()).is_ok() {}
            }
        });
        let req = get(format!("http://127.0.0.1:{port}/c/b.jar"));
        let answer = small.execute_request(&req).await.unwrap();
        let e = answer.into_body().collect().await.unwrap_err();
        assert!(e.to_string().contains("is larger than 1 KiB"), "{e}");
    }

    #[tokio::test]
    async fn the_runs_deadline_cuts_a_request_and_is_not_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let h = http(None);
        h.deadline().set(
            std::time::Instant::now() + Duration::from_millis(300),
            "the plan's limit (timeoutSeconds: 1s)",
        );
        let t = AzureTransport::new(&h)
            .unwrap()
            .with_timeout(Duration::from_secs(30));
        let req = get(format!("http://127.0.0.1:{port}/secrets?api-version=1"));
        let started = std::time::Instant::now();
        let e = t.execute_request(&req).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        fails_as(
            &e,
            ErrorKind::Other,
            "the plan's limit (timeoutSeconds: 1s) is used up",
        );
        drop(listener);
    }

    #[tokio::test]
    async fn network_errors_name_host_and_proxy_but_not_the_query() {
        // Nothing listens on port 1 of loopback.
        let t = AzureTransport::new(&http(None)).unwrap();
        let req = Request::new(
            "http://127.0.0.1:1/c/b.jar?sv=1&sig=SECRET"
                .parse()
                .unwrap(),
            azure_core::http::Method::Get,
        );
        let e = t.execute_request(&req).await.unwrap_err();
        let m = e.to_string();
        assert!(m.contains("127.0.0.1:1 without a proxy"), "{m}");
        assert!(m.contains("http://127.0.0.1:1/c/b.jar?…"), "{m}");
        assert!(!m.contains("SECRET"), "{m}");
        assert!(matches!(e.kind(), ErrorKind::Connection | ErrorKind::Io));

        let t = AzureTransport::new(&http(Some("http://127.0.0.1:1"))).unwrap();
        let e = t.execute_request(&req).await.unwrap_err();
        assert!(
            e.to_string().contains("through proxy http://127.0.0.1:1/"),
            "{e}"
        );
    }
}

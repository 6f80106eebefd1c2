//! The one HTTP client: TLS trust (the agent's CA file), proxy (the agent's proxy settings or
//! `HTTPS_PROXY`/`NO_PROXY`), bounded retries with backoff and jitter, and URLs shown without
//! query strings or credentials in every message.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;

use crate::config::HttpSettings;
use crate::error::{Error, Result};

/// When and how often a request is tried again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    pub fn retryable_status(status: u16) -> bool {
        matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
    }

    /// Exponential backoff with full jitter, or the server's Retry-After when it gave one.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay.max(Duration::from_secs(60)));
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        let jitter = fastrand::f64() * 0.5 + 0.5;
        exp.mul_f64(jitter)
    }
}

/// Parse `Retry-After`: seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A URL as it may be printed: no user info, no query (SAS tokens live there), no fragment.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            // In wasbs:// and abfs:// URIs the user part is the container, not a credential.
            if matches!(u.scheme(), "http" | "https") {
                let _ = u.set_username("");
            }
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?…");
            }
            s
        }
        Err(_) => url.split('?').next().unwrap_or("").to_owned(),
    }
}

#[derive(Clone, Debug)]
pub enum Body {
    Empty,
    Json(serde_json::Value),
    Bytes {
        content_type: String,
        data: Vec<u8>,
    },
    /// A file sent as one multipart field; re-read from disk on each attempt.
    MultipartFile {
        field: String,
        path: PathBuf,
        file_name: String,
        content_type: String,
    },
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Body,
    pub timeout: Option<Duration>,
    /// Retry non-idempotent requests (POST) only where a repeat is harmless.
    pub retry: bool,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let retry = !matches!(method, Method::POST | Method::PATCH);
        Self {
            method,
            url: url.into(),
            headers: vec![],
            body: Body::Empty,
            timeout: None,
            retry,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(t) => self.header(reqwest::header::AUTHORIZATION, format!("Bearer {t}")),
            None => self,
        }
    }

    pub fn json(mut self, v: serde_json::Value) -> Self {
        self.body = Body::Json(v);
        self
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    pub fn retry(mut self, on: bool) -> Self {
        self.retry = on;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: String,
    pub attempts: u32,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::platform(format!(
                "{} returned a response that is not the expected JSON ({e})",
                display_url(&self.url)
            ))
            .with_detail(format!(
                "body: {}",
                crate::config::checks::shorten(&self.text())
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The server's own message: VVP `message`, Flink `errors[]`, ARM/Azure `error.message`
    /// (+ code), or the start of the body.
    pub fn server_message(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) {
            if let Some(e) = v.get("error") {
                let code = e.get("code").and_then(|c| c.as_str());
                let msg = e.get("message").and_then(|c| c.as_str()).or(e.as_str());
                if let Some(m) = msg {
                    return match code {
                        Some(c) => format!("{c}: {m}"),
                        None => m.to_owned(),
                    };
                }
            }
            if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
                return m.to_owned();
            }
            if let Some(errs) = v.get("errors").and_then(|e| e.as_array()) {
                let msgs: Vec<String> = errs
                    .iter()
                    .map(|e| {
                        e.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| e.to_string())
                    })
                    .map(|m| m.lines().next().unwrap_or("").to_owned())
                    .collect();
                if !msgs.is_empty() {
                    return msgs.join("; ");
                }
            }
        }
        let t = self.text();
        let t = t.trim();
        if t.is_empty() {
            format!("HTTP {} with an empty body", self.status)
        } else {
            crate::config::checks::shorten(t)
        }
    }

    /// A request id to quote in errors (Azure services and ARM set one of these).
    pub fn request_id(&self) -> Option<&str> {
        [
            "x-ms-request-id",
            "x-ms-correlation-request-id",
            "x-request-id",
        ]
        .iter()
        .find_map(|h| self.header(h))
    }

    /// A generic error for an unexpected status: method, URL, status, server message.
    pub fn error(&self, what: &str) -> Error {
        let mut e = Error::platform(format!(
            "{what}: {} answered HTTP {}: {}",
            display_url(&self.url),
            self.status,
            self.server_message()
        ));
        if let Some(id) = self.request_id() {
            e = e.with_detail(format!("request id: {id}"));
        }
        e
    }
}

pub struct Http {
    /// Built on first use: loading the system's trust store costs several milliseconds, which a
    /// run that never reaches the network (bad input, an offline `validate`) need not pay.
    client: std::sync::OnceLock<std::result::Result<reqwest::Client, String>>,
    setup: ClientSetup,
    pub policy: RetryPolicy,
    proxy: Option<String>,
}

/// Everything the client is built from, checked when the run starts.
#[derive(Clone)]
struct ClientSetup {
    roots: Vec<reqwest::Certificate>,
    /// The agent's proxy, the hosts that bypass it, and its credentials.
    proxy: Option<(url::Url, Vec<regex::Regex>)>,
    proxy_auth: Option<(String, crate::secret::Secret)>,
    /// A client certificate and key (a Kubernetes cluster's client credential).
    identity: Option<reqwest::Identity>,
    /// Skip certificate checks (a Kubernetes service connection that accepts untrusted certificates).
    accept_invalid_certs: bool,
}

/// What a client for one server adds to the agent's settings: that server's CA (a Kubernetes
/// cluster's `certificate-authority-data`), a client certificate, or no certificate checks.
#[derive(Default)]
pub struct ServerTls {
    /// PEM certificates trusted besides the system's and the agent's.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate followed by its private key.
    pub identity_pem: Option<crate::secret::Secret>,
    pub accept_invalid_certs: bool,
}

impl ClientSetup {
    fn build(&self) -> std::result::Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("flink-deploy/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120));
        for c in &self.roots {
            b = b.add_root_certificate(c.clone());
        }
        if let Some(id) = &self.identity {
            b = b.identity(id.clone());
        }
        if self.accept_invalid_certs {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some((target, bypass)) = &self.proxy {
            let (target, bypass) = (target.clone(), bypass.clone());
            let mut proxy = reqwest::Proxy::custom(move |u| {
                let host = u.host_str().unwrap_or("");
                let s = u.as_str();
                if bypass.iter().any(|r| r.is_match(host) || r.is_match(s)) {
                    None
                } else {
                    Some(target.clone())
                }
            });
            if let Some((user, password)) = &self.proxy_auth {
                proxy = proxy.basic_auth(user, password.expose());
            }
            b = b.proxy(proxy);
        }
        b.build().map_err(|e| e.to_string())
    }
}

fn env_proxy() -> Option<String> {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// The agent's proxy turned a request (or the tunnel for it) down, most often for credentials.
pub fn proxy_refused(method: &reqwest::Method, url: &str, proxy: Option<&str>) -> Error {
    Error::network(format!(
        "{method} {}: the proxy {} refused the request (HTTP 407 or a refused tunnel)",
        display_url(url),
        proxy.unwrap_or("(from HTTPS_PROXY)")
    ))
    .with_hint(PROXY_HINT)
}

pub const PROXY_HINT: &str = "if the proxy needs credentials, give the agent's proxy user name and password (Agent.ProxyUsername, Agent.ProxyPassword: the agent's proxy settings); otherwise ask for the host to be allowed through it";

/// A successful answer that says it is JSON but does not parse.
fn truncated_json(status: u16, headers: &HeaderMap, body: &[u8]) -> bool {
    (200..300).contains(&status)
        && says_json(headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()))
        && json_cut_short(body)
}

/// Whether a `Content-Type` announces JSON.
pub(crate) fn says_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// A body that is not empty and does not parse as JSON: cut on the way.
pub(crate) fn json_cut_short(body: &[u8]) -> bool {
    !body.iter().all(u8::is_ascii_whitespace)
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
}

impl Http {
    pub fn new(settings: &HttpSettings) -> Result<Http> {
        let mut roots = vec![];
        if let Some(ca) = &settings.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                Error::io(ca, e).context("cannot read the agent's CA file (Agent.CAInfo)")
            })?;
            roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::io(ca, e).context("the agent's CA file (Agent.CAInfo) is not PEM")
            })?;
        }
        let mut proxy_shown = None;
        let mut proxy = None;
        if let Some(p) = &settings.proxy_url {
            let bypass: Vec<regex::Regex> = settings
                .proxy_bypass
                .iter()
                .filter_map(|r| regex::Regex::new(&format!("(?i){r}")).ok())
                .collect();
            let target = url::Url::parse(p).map_err(|e| {
                Error::new(
                    crate::error::ErrorKind::Input,
                    format!("Agent.ProxyUrl `{}` is not a URL ({e})", display_url(p)),
                )
            })?;
            proxy_shown = Some(display_url(target.as_str()));
            proxy = Some((target, bypass));
        } else if let Some(p) = env_proxy() {
            // reqwest reads HTTPS_PROXY/NO_PROXY itself; remember it for error messages.
            proxy_shown = Some(display_url(&p));
        }
        Ok(Http {
            client: std::sync::OnceLock::new(),
            setup: ClientSetup {
                roots,
                proxy,
                proxy_auth: settings.proxy_auth.clone(),
                identity: None,
                accept_invalid_certs: false,
            },
            policy: RetryPolicy::default(),
            proxy: proxy_shown,
        })
    }

    /// A client for one server with the agent's CA, proxy and retry policy, and what `tls` adds.
    /// Errors say what is wrong with the certificate or key, never their content.
    pub fn for_server(&self, tls: &ServerTls) -> std::result::Result<Http, String> {
        let mut setup = self.setup.clone();
        if let Some(pem) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| "the certificate authority is not PEM".to_owned())?;
            if certs.is_empty() {
                return Err("the certificate authority holds no certificate".into());
            }
            setup.roots.extend(certs);
        }
        if let Some(id) = &tls.identity_pem {
            setup.identity = Some(
                reqwest::Identity::from_pem(id.expose().as_bytes())
                    .map_err(|_| "the client certificate or its key is not PEM".to_owned())?,
            );
        }
        setup.accept_invalid_certs = tls.accept_invalid_certs;
        Ok(Http {
            client: std::sync::OnceLock::new(),
            setup,
            policy: self.policy.clone(),
            proxy: self.proxy.clone(),
        })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The configured client (CA file, proxy), for SDKs that bring their own request pipeline.
    pub fn client(&self) -> Result<&reqwest::Client> {
        self.client
            .get_or_init(|| self.setup.build())
            .as_ref()
            .map_err(|e| Error::network(format!("cannot create the HTTP client: {e}")))
    }

    async fn build(&self, req: &Request) -> Result<reqwest::RequestBuilder> {
        let mut rb = self.client()?.request(req.method.clone(), &req.url);
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let v = HeaderValue::from_str(v)
                .map_err(|_| Error::platform(format!("invalid header value for {k}")))?;
            headers.insert(k.clone(), v);
        }
        rb = rb.headers(headers);
        if let Some(t) = req.timeout {
            rb = rb.timeout(t);
        }
        rb = match &req.body {
            Body::Empty => rb,
            Body::Json(v) => rb
                .header(CONTENT_TYPE, "application/json")
                .body(v.to_string()),
            Body::Bytes { content_type, data } => rb
                .header(CONTENT_TYPE, content_type.as_str())
                .body(data.clone()),
            Body::MultipartFile {
                field,
                path,
                file_name,
                content_type,
            } => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| Error::io(path, e))?;
                let len = file.metadata().await.map_err(|e| Error::io(path, e))?.len();
                let stream = tokio_util_stream(file);
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::wrap_stream(stream),
                    len,
                )
                .file_name(file_name.clone())
                .mime_str(content_type)
                .map_err(|e| Error::platform(format!("bad content type: {e}")))?;
                rb.multipart(reqwest::multipart::Form::new().part(field.clone(), part))
            }
        };
        Ok(rb)
    }

    fn network_error(&self, req: &Request, e: &reqwest::Error, attempts: u32) -> Error {
        let host = url::Url::parse(&req.url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_default();
        let via = match &self.proxy {
            Some(p) => format!("through proxy {p}"),
            None => "without a proxy".to_owned(),
        };
        let what = if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "connection failed".to_owned()
        } else {
            "request failed".to_owned()
        };
        let mut chain = vec![];
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            chain.push(s.to_string());
            src = s.source();
        }
        if chain
            .iter()
            .any(|c| c.contains("proxy authorization required"))
        {
            return proxy_refused(&req.method, &req.url, self.proxy());
        }
        let mut err = Error::network(format!(
            "{} {}: {what} reaching {host} {via} after {attempts} attempt(s)",
            req.method,
            display_url(&req.url)
        ));
        if let Some(last) = chain.last() {
            err = err.with_detail(format!("cause: {last}"));
        }
        if e.is_connect() {
            err = err.with_hint(format!(
                "check that {host} is reachable from the agent (URL, firewall, proxy settings)"
            ));
        }
        err
    }

    /// Send with retries. Returns the final response whatever its status, so callers can map
    /// 401/403/404/409 with their own context; fails only when no response came back.
    pub async fn send(&self, req: Request) -> Result<Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rb = self.build(&req).await?;
            let may_retry = req.retry && attempt < self.policy.max_attempts;
            match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 407 {
                        return Err(proxy_refused(&req.method, &req.url, self.proxy()));
                    }
                    // An earlier attempt of this DELETE may have done it before its answer was
                    // lost: the thing being gone now is what was asked for.
                    let status =
                        if req.method == reqwest::Method::DELETE && attempt > 1 && status == 404 {
                            204
                        } else {
                            status
                        };
                    let headers = resp.headers().clone();
                    let url = req.url.clone();
                    let body = match resp.bytes().await {
                        Ok(b) => b.to_vec(),
                        Err(e) => {
                            if may_retry {
                                tokio::time::sleep(self.policy.delay(attempt, None)).await;
                                continue;
                            }
                            return Err(self.network_error(&req, &e, attempt));
                        }
                    };
                    // A 2xx whose JSON is cut short was cut on the way (a proxy, a reset
                    // connection); asking again is safe when the request may be repeated.
                    if may_retry && truncated_json(status, &headers, &body) {
                        tracing::debug!(
                            status,
                            attempt,
                            "unreadable JSON from {}",
                            display_url(&url)
                        );
                        tokio::time::sleep(self.policy.delay(attempt, None)).await;
                        continue;
                    }
                    if RetryPolicy::retryable_status(status) && may_retry {
                        let ra = headers
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_retry_after);
                        tracing::debug!(status, attempt, "retrying {}", display_url(&url));
                        tokio::time::sleep(self.policy.delay(attempt, ra)).await;
                        continue;
                    }
                    return Ok(Response {
                        status,
                        headers,
                        body,
                        url,
                        attempts: attempt,
                    });
                }
                Err(e) => {
                    // A request that never connected is safe to repeat even when not idempotent.
                    let safe = req.retry || e.is_connect();
                    if safe && attempt < self.policy.max_attempts {
                        tokio::time::sleep(self.policy.delay(attempt, None)).await;
                        continue;
                    }
                    return Err(self.network_error(&req, &e, attempt));
                }
            }
        }
    }
}

/// Stream a file in 64 KiB chunks without reading it into memory.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_and_credentials() {
        assert_eq!(
            display_url("https://u:p@acct.blob.core.windows.net/c/b.jar?sv=1&sig=secret"),
            "https://acct.blob.core.windows.net/c/b.jar?…"
        );
        assert_eq!(
            display_url("http://127.0.0.1:8081/jobs"),
            "http://127.0.0.1:8081/jobs"
        );
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..10 {
            let d = p.delay(attempt, None);
            assert!(d <= p.max_delay, "{d:?}");
        }
        assert!(p.delay(1, None) <= Duration::from_millis(250));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn only_a_successful_json_answer_that_does_not_parse_is_truncated() {
        let json = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            h
        };
        let j = json("application/json; charset=utf-8");
        assert!(truncated_json(200, &j, br#"{"value":[{"id":"/subscr"#));
        assert!(!truncated_json(200, &j, br#"{"value":[]}"#));
        assert!(!truncated_json(202, &j, b""), "an empty 202 is an answer");
        assert!(
            !truncated_json(500, &j, b"{"),
            "errors are judged by status"
        );
        assert!(!truncated_json(200, &json("text/plain"), b"{"));
        assert!(!truncated_json(200, &HeaderMap::new(), b"{"));
    }

    /// Answers the connections in turn: `None` closes the first without a word.
    fn serve(answers: Vec<Option<&'static str>>) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for (mut c, answer) in listener.incoming().flatten().zip(answers) {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                if let Some(a) = answer {
                    let _ = c.write_all(a.as_bytes());
                }
            }
        });
        port
    }

    fn quick() -> Http {
        Http::new(&HttpSettings::default())
            .unwrap()
            .with_policy(RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
            })
    }

    const NOT_FOUND: &str =
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_delete_whose_first_answer_was_lost_and_then_finds_nothing_is_done() {
        let port = serve(vec![None, Some(NOT_FOUND)]);
        let url = format!("http://127.0.0.1:{port}/jobs/1");
        let r = quick()
            .send(Request::new(Method::DELETE, &url))
            .await
            .unwrap();
        assert_eq!((r.status, r.attempts), (204, 2));

        // A first answer of 404 is a 404, and a GET is never rewritten.
        let port = serve(vec![Some(NOT_FOUND)]);
        let url = format!("http://127.0.0.1:{port}/jobs/1");
        let r = quick()
            .send(Request::new(Method::DELETE, &url))
            .await
            .unwrap();
        assert_eq!(r.status, 404);
        let port = serve(vec![None, Some(NOT_FOUND)]);
        let url = format!("http://127.0.0.1:{port}/jobs/1");
        let r = quick().send(Request::new(Method::GET, &url)).await.unwrap();
        assert_eq!(r.status, 404);
    }

    #[test]
    fn a_client_for_one_server_keeps_the_agents_proxy_and_refuses_what_is_not_pem() {
        let agent = Http::new(&HttpSettings {
            proxy_url: Some("http://proxy.example:3128".into()),
            ..HttpSettings::default()
        })
        .unwrap();
        let plain = agent.for_server(&ServerTls::default()).unwrap();
        assert_eq!(plain.proxy(), agent.proxy());
        assert!(plain.client().is_ok());
        let ca = ServerTls {
            ca_pem: Some(b"not a certificate".to_vec()),
            ..ServerTls::default()
        };
        let refused = |tls: &ServerTls| agent.for_server(tls).err().expect("refused");
        assert!(refused(&ca).contains("certificate authority"));
        let id = ServerTls {
            identity_pem: Some(crate::secret::Secret::new(
                "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n",
            )),
            ..ServerTls::default()
        };
        let e = refused(&id);
        assert!(
            e.contains("client certificate") && !e.contains("bm9wZQ"),
            "{e}"
        );
    }

    #[test]
    fn server_messages_of_each_platform() {
        let r = |body: &str| Response {
            status: 400,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            url: "http://x/".into(),
            attempts: 1,
        };
        assert_eq!(
            r(r#"{"message":"no such target"}"#).server_message(),
            "no such target"
        );
        assert_eq!(
            r(r#"{"errors":["bad jar\n at x"]}"#).server_message(),
            "bad jar"
        );
        assert_eq!(
            r(r#"{"error":{"code":"Forbidden","message":"nope"}}"#).server_message(),
            "Forbidden: nope"
        );
        assert_eq!(r("").server_message(), "HTTP 400 with an empty body");
    }
}

//! The one HTTP client: TLS trust (the agent's CA file), proxy (the agent's proxy settings or
//! `HTTPS_PROXY`/`NO_PROXY`), bounded retries with backoff and jitter, and URLs shown without
//! query strings or credentials in every message.
//!
//! A hostile or broken server cannot hold the run: every answer is read up to a size limit
//! ([`MAX_BODY`], or the request's own), every attempt and every retry loop ends with the
//! phase's [`Deadline`] and, outside the waits, within the run's `timeoutSeconds`, and
//! redirects are followed only where nothing can be lost: a read (GET/HEAD) to the same origin.
//! A redirected write fails, naming where it was sent (a POST followed as a GET would read as
//! accepted while nothing was written); a read sent to another host fails too, since the
//! credentials stay with the host the task was given.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use reqwest::Method;

use crate::config::HttpSettings;
use crate::error::{Error, ErrorKind, Result};

/// The most the task reads of one answer unless the request says otherwise. The largest
/// answers it asks for (a job's exceptions with stack traces, a namespace's events) are a few
/// MiB; an answer past this is not one the API gives.
pub const MAX_BODY: u64 = 32 * 1024 * 1024;

/// Redirects followed for one read (same origin only).
const MAX_REDIRECTS: u32 = 5;

/// Per-attempt limit when a request names none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// When the current phase of the run must be over, shared by everything that makes requests
/// in it (this client, the Azure SDK transport). The run sets it: the plan's end, then the
/// run's budget. `what` names the limit in errors, e.g. "the plan's limit (timeoutSeconds 10s)".
#[derive(Clone, Debug, Default)]
pub struct Deadline(Arc<Mutex<Option<(Instant, String)>>>);

impl Deadline {
    pub fn set(&self, at: Instant, what: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, what.into()));
    }

    /// The time left and what limits it; `None` when no deadline is set.
    pub fn left(&self) -> Option<(Duration, String)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(at, what)| (at.saturating_duration_since(Instant::now()), what.clone()))
    }
}

/// The tighter of two limits: what is left of each, with its name.
fn tighter(
    a: Option<(Duration, String)>,
    b: Option<(Duration, String)>,
) -> Option<(Duration, String)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

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

/// Percent-encode every byte but RFC 3986's unreserved ones (letters, digits, `-._~`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A name as one segment of a URL path: percent-encoded, so that it can never add a segment,
/// a query or a fragment (`../deployments/x` stays one segment, `vvp-jobs?x=1` keeps its `?x=1`).
/// `.` and `..` are refused, since URL parsers resolve them even encoded (`%2E%2E`), and so is
/// the empty name, which would address the collection instead.
pub fn segment(name: &str) -> Result<String> {
    if matches!(name, "" | "." | "..") {
        return Err(Error::platform(format!(
            "`{name}` cannot be used as a name in a URL path"
        )));
    }
    Ok(percent_encode(name))
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
    /// The most of the answer that is read; see [`MAX_BODY`].
    pub max_body: u64,
    /// An upload or a call that runs the job's `main`: its attempts have their own (longer)
    /// timeout instead of the run's `timeoutSeconds`; the phase's deadline still holds.
    pub slow: bool,
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
            max_body: MAX_BODY,
            slow: false,
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

    /// Read at most `limit` bytes of the answer.
    pub fn max_body(mut self, limit: u64) -> Self {
        self.max_body = limit;
        self
    }

    /// See [`Request::slow`](struct.Request.html#structfield.slow).
    pub fn slow(mut self) -> Self {
        self.slow = true;
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
    deadline: Deadline,
    /// The most one request may take with its retries (the run's `timeoutSeconds`).
    call_limit: Option<Duration>,
    /// How many requests are out to each host at once.
    hosts: Hosts,
}

/// Requests out at once to one host, at most. A set of a hundred deployments polls one
/// platform; beyond this its requests queue here instead of at the server.
pub const MAX_PER_HOST: usize = 16;

/// One bound per host, shared by every client made from the run's (`for_server`).
#[derive(Clone, Default)]
struct Hosts(
    std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>>,
    >,
);

impl Hosts {
    async fn permit(&self, url: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let host = url::Url::parse(url).ok()?.host_str()?.to_owned();
        let sem = {
            let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(host)
                .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_PER_HOST)))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }
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
            .timeout(DEFAULT_TIMEOUT)
            // Redirects are judged by `Http::send` (and answered as errors in the Azure SDK's
            // pipeline): followed blindly, a POST answered with 302 becomes a GET that "succeeds".
            .redirect(reqwest::redirect::Policy::none());
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

/// A CA bundle of the whole public web is about 200 KiB.
const CA_FILE_LIMIT: u64 = 4 * 1024 * 1024;

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
            let pem = crate::fsread::read_regular(ca, CA_FILE_LIMIT).map_err(|e| {
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
            deadline: Deadline::default(),
            call_limit: None,
            hosts: Hosts::default(),
        })
    }

    /// One request, with its retries, never takes longer than `limit` (except `slow` ones).
    pub fn with_call_limit(mut self, limit: Duration) -> Self {
        self.call_limit = Some(limit);
        self
    }

    /// The deadline every request made through this client (or its SDK transport) keeps.
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
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
            deadline: self.deadline.clone(),
            call_limit: self.call_limit,
            hosts: self.hosts.clone(),
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

    async fn build(
        &self,
        req: &Request,
        attempt_timeout: Duration,
    ) -> Result<reqwest::RequestBuilder> {
        let mut rb = self.client()?.request(req.method.clone(), &req.url);
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let v = HeaderValue::from_str(v)
                .map_err(|_| Error::platform(format!("invalid header value for {k}")))?;
            headers.insert(k.clone(), v);
        }
        rb = rb.headers(headers);
        rb = rb.timeout(attempt_timeout);
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
                let (file, meta) =
                    crate::fsread::open_regular(path).map_err(|e| Error::io(path, e))?;
                let len = meta.len();
                let stream = tokio_util_stream(tokio::fs::File::from_std(file));
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
        let host = host_of(&req.url);
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

    /// What is left for this request: the phase's deadline, and (for all but slow requests)
    /// the run's `timeoutSeconds` counted from the request's start.
    fn left(&self, req: &Request, started: Instant) -> Option<(Duration, String)> {
        let call = match (self.call_limit, req.slow) {
            (Some(l), false) => Some((
                l.saturating_sub(started.elapsed()),
                format!(
                    "the run's timeoutSeconds ({}s) for one request with its retries",
                    l.as_secs()
                ),
            )),
            _ => None,
        };
        tighter(self.deadline.left(), call)
    }

    /// Send with retries. Returns the final response whatever its status, so callers can map
    /// 401/403/404/409 with their own context; fails only when no response came back, when the
    /// answer is larger than the request allows, or on a redirect that is not followed.
    pub async fn send(&self, mut req: Request) -> Result<Response> {
        let started = Instant::now();
        let mut attempt = 0;
        let mut hops = 0;
        loop {
            attempt += 1;
            let own = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
            let left = self.left(&req, started);
            let (limit, cut_by) = match &left {
                Some((l, what)) if *l < own => (*l, Some(what.clone())),
                _ => (own, None),
            };
            if limit.is_zero() {
                return Err(self.out_of_time(&req, attempt - 1, cut_by.unwrap_or_default()));
            }
            let rb = self.build(&req, limit).await?;
            let may_retry = req.retry && attempt < self.policy.max_attempts;
            let waited = Instant::now();
            let Ok(permit) = tokio::time::timeout(limit, self.hosts.permit(&req.url)).await else {
                return Err(self.out_of_time(&req, attempt - 1, cut_by.unwrap_or_default()));
            };
            // The wait for a turn comes off this attempt's time.
            let rb = rb.timeout(
                limit
                    .saturating_sub(waited.elapsed())
                    .max(Duration::from_millis(1)),
            );
            let outcome = match rb.send().await {
                Ok(resp) => self.answer(&req, resp, attempt, may_retry).await,
                Err(e) => {
                    // A request that never connected is safe to repeat even when not idempotent.
                    let safe = req.retry || e.is_connect();
                    if let (true, Some(what)) = (e.is_timeout(), cut_by) {
                        // Cut by the deadline, not by the request's own timeout: no time is
                        // left for another attempt.
                        Step::Fail(self.out_of_time(&req, attempt, what))
                    } else if safe && attempt < self.policy.max_attempts {
                        Step::Again(None, Err(self.network_error(&req, &e, attempt)))
                    } else {
                        Step::Fail(self.network_error(&req, &e, attempt))
                    }
                }
            };
            // A retry's pause leaves the turn to others.
            drop(permit);
            match outcome {
                Step::Done(r) => return Ok(r),
                Step::Fail(e) => return Err(e),
                Step::Follow(next) => {
                    hops += 1;
                    if hops > MAX_REDIRECTS {
                        return Err(Error::platform(format!(
                            "{} {}: more than {MAX_REDIRECTS} redirects",
                            req.method,
                            display_url(&req.url)
                        )));
                    }
                    req.url = next;
                    attempt -= 1;
                }
                Step::Again(retry_after, last) => {
                    let delay = self.policy.delay(attempt, retry_after);
                    // No sleep past the end: the last answer (or error) is the outcome.
                    if let Some((l, what)) = self.left(&req, started) {
                        if delay >= l {
                            return last.map_err(|e| {
                                e.with_detail(format!(
                                    "no time was left to try again: {what} is used up"
                                ))
                            });
                        }
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Judge one answer: done, try again, follow a redirect, or fail.
    async fn answer(
        &self,
        req: &Request,
        resp: reqwest::Response,
        attempt: u32,
        may_retry: bool,
    ) -> Step {
        let status = resp.status().as_u16();
        if status == 407 {
            return Step::Fail(proxy_refused(&req.method, &req.url, self.proxy()));
        }
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            return match redirect(req, status, resp.headers()) {
                Ok(next) => Step::Follow(next),
                Err(e) => Step::Fail(e),
            };
        }
        // An earlier attempt of this DELETE may have done it before its answer was lost: the
        // thing being gone now is what was asked for.
        let status = if req.method == reqwest::Method::DELETE && attempt > 1 && status == 404 {
            204
        } else {
            status
        };
        let headers = resp.headers().clone();
        let body = match read_capped(resp, req.max_body).await {
            Ok(b) => b,
            Err(BodyError::TooLarge(seen)) => {
                return Step::Fail(too_large(req, status, seen));
            }
            Err(BodyError::Net(e)) if may_retry => {
                return Step::Again(None, Err(self.network_error(req, &e, attempt)))
            }
            Err(BodyError::Net(e)) => return Step::Fail(self.network_error(req, &e, attempt)),
        };
        let answer = Response {
            status,
            headers,
            body,
            url: req.url.clone(),
            attempts: attempt,
        };
        // A 2xx whose JSON is cut short was cut on the way (a proxy, a reset connection);
        // asking again is safe when the request may be repeated.
        if may_retry && truncated_json(status, &answer.headers, &answer.body) {
            tracing::debug!(
                status,
                attempt,
                "unreadable JSON from {}",
                display_url(&req.url)
            );
            return Step::Again(None, Ok(answer));
        }
        if RetryPolicy::retryable_status(status) && may_retry {
            let ra = answer
                .header(RETRY_AFTER.as_str())
                .and_then(parse_retry_after);
            tracing::debug!(status, attempt, "retrying {}", display_url(&req.url));
            return Step::Again(ra, Ok(answer));
        }
        Step::Done(answer)
    }

    /// The request ran out of the time it had.
    fn out_of_time(&self, req: &Request, attempts: u32, what: String) -> Error {
        let host = host_of(&req.url);
        let tried = match attempts {
            0 => "before it could be sent".to_owned(),
            1 => "after 1 attempt".to_owned(),
            n => format!("after {n} attempts"),
        };
        Error::timeout(format!(
            "{} {}: no usable answer from {host} {tried}: {what} is used up",
            req.method,
            display_url(&req.url)
        ))
        .with_hint(format!(
            "check that {host} answers (it may be overloaded or hung); raise timeoutSeconds if it is only slow"
        ))
    }
}

/// `host:port` of a URL, for messages.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_default()
}

/// What one attempt came to.
enum Step {
    Done(Response),
    Fail(Error),
    /// Try again, after the server's `Retry-After` if it gave one; the outcome so far is what
    /// the caller gets if no time is left for another attempt.
    Again(Option<Duration>, Result<Response>),
    /// A read redirected within its origin: the next URL.
    Follow(String),
}

enum BodyError {
    Net(reqwest::Error),
    /// More than the limit; how much was seen (or announced by `Content-Length`).
    TooLarge(u64),
}

/// Read an answer's body, at most `limit` bytes: an endless body must not grow the process.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
) -> std::result::Result<Vec<u8>, BodyError> {
    let announced = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced.filter(|n| *n > limit) {
        return Err(BodyError::TooLarge(n));
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Net)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(req: &Request, status: u16, seen: u64) -> Error {
    Error::platform(format!(
        "{} {}: the answer (HTTP {status}) is larger than {}, the most the task reads from this API; it stopped reading after {}",
        req.method,
        display_url(&req.url),
        crate::fsread::bytes(req.max_body),
        crate::fsread::bytes(seen)
    ))
    .with_hint("something other than the platform may be answering at this URL (a proxy, a gateway); check the URL in the task's inputs")
}

/// Where a redirect leads, when it may be followed: a read, to the same origin (scheme, host
/// and port), so the credentials it carries stay where the task was told to send them. Any
/// other redirect is an error that says where the request was sent.
fn redirect(req: &Request, status: u16, headers: &HeaderMap) -> Result<String> {
    let here = url::Url::parse(&req.url).map_err(|e| Error::platform(e.to_string()))?;
    let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
        return Err(Error::platform(format!(
            "{} {} answered HTTP {status} (a redirect) without a Location",
            req.method,
            display_url(&req.url)
        )));
    };
    let next = here.join(location).map_err(|e| {
        Error::platform(format!(
            "{} {} answered HTTP {status} with an unusable Location ({e})",
            req.method,
            display_url(&req.url)
        ))
    })?;
    let read = matches!(req.method, reqwest::Method::GET | reqwest::Method::HEAD);
    let same_origin = next.origin() == here.origin();
    if read && same_origin {
        return Ok(next.to_string());
    }
    let (what, why) = if !read {
        (
            "nothing was written",
            "the task does not follow a redirected write (followed as a GET, it would read as accepted)",
        )
    } else {
        (
            "the answer was not read",
            "the task sends its credentials only to the host it was given, so it does not follow a redirect to another origin",
        )
    };
    Err(Error::new(
        ErrorKind::Platform,
        format!(
            "{} {} was redirected (HTTP {status}) to {}: {what}",
            req.method,
            display_url(&req.url),
            display_url(next.as_str())
        ),
    )
    .with_detail(why)
    .with_hint(format!(
        "give the task the address the platform answers at (the URL input or service connection); the server sends requests to {}",
        display_url(next.origin().ascii_serialization().as_str())
    )))
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
    async fn requests_to_one_host_take_turns_beyond_the_bound_other_hosts_do_not_wait() {
        let hosts = Hosts::default();
        let mut held = vec![];
        for _ in 0..MAX_PER_HOST {
            held.push(hosts.permit("http://vvp.example/api/v1/x").await.unwrap());
        }
        let short = Duration::from_millis(50);
        let next = tokio::time::timeout(short, hosts.permit("http://vvp.example/y")).await;
        assert!(
            next.is_err(),
            "request {} to one host waits",
            MAX_PER_HOST + 1
        );
        let other = tokio::time::timeout(short, hosts.permit("http://blob.example/z")).await;
        assert!(
            other.is_ok_and(|p| p.is_some()),
            "another host does not wait"
        );
        held.pop();
        let turn = tokio::time::timeout(short, hosts.permit("http://vvp.example/y")).await;
        assert!(
            turn.is_ok_and(|p| p.is_some()),
            "a finished request frees a turn"
        );
    }

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

    /// Reads a request, then writes `head` and calls `body` with the connection, for each
    /// connection in turn; remembers each request's first line and `Authorization` header.
    fn serve_with(
        head: impl Into<String>,
        body: fn(&mut std::net::TcpStream),
    ) -> (u16, std::sync::Arc<Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(Mutex::new(vec![]));
        let log = seen.clone();
        let head: String = head.into();
        std::thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                let mut buf = [0u8; 8192];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let auth = req
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .unwrap_or("")
                    .to_owned();
                let first = req.lines().next().unwrap_or("").to_owned();
                log.lock()
                    .unwrap()
                    .push(format!("{first} {auth}").trim().to_owned());
                let _ = c.write_all(head.as_bytes());
                body(&mut c);
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_limit_and_says_which() {
        use std::io::Write;
        // Chunked, with no end: it would grow the process for as long as it is read.
        let (port, _) = serve_with(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
            |c| {
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
                while c.write_all(chunk.as_bytes()).is_ok() {}
            },
        );
        let url = format!("http://127.0.0.1:{port}/api/v1/namespaces/default/deployments");
        let e = quick()
            .send(Request::get(&url).max_body(1024 * 1024))
            .await
            .unwrap_err();
        assert!(
            e.message
                .contains("is larger than 1 MiB, the most the task reads from this API"),
            "{e}"
        );
        // A length announced past the limit is refused before reading.
        let (port, _) = serve_with(
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n",
            |_| {},
        );
        let url = format!("http://127.0.0.1:{port}/x");
        let e = quick().send(Request::get(&url)).await.unwrap_err();
        assert!(e.message.contains("larger than 32 MiB"), "{e}");
        assert!(
            e.message
                .contains("stopped reading after 99999999999 bytes"),
            "{e}"
        );
    }

    fn redirect(status: &str, location: &str) -> String {
        format!("HTTP/1.1 {status}\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n")
    }

    #[tokio::test]
    async fn a_redirected_write_fails_naming_where_it_was_sent() {
        for status in [
            "301 Moved Permanently",
            "302 Found",
            "303 See Other",
            "307 Temporary Redirect",
            "308 Permanent Redirect",
        ] {
            let (port, seen) = serve_with(
                redirect(status, "http://elsewhere.example/api/v1/x?sig=1"),
                |_| {},
            );
            let url = format!("http://127.0.0.1:{port}/api/v1/namespaces/default/deployments");
            let e = quick()
                .send(Request::new(Method::POST, &url).json(serde_json::json!({})))
                .await
                .unwrap_err();
            assert!(e.message.contains("was redirected (HTTP "), "{e}");
            assert!(
                e.message
                    .contains("to http://elsewhere.example/api/v1/x?…: nothing was written"),
                "{e}"
            );
            assert_eq!(seen.lock().unwrap().len(), 1, "sent once, not followed");
        }
    }

    #[tokio::test]
    async fn a_read_follows_its_own_origin_only() {
        // Same origin: followed, with its credentials.
        let (port, seen) = serve_with(redirect("302 Found", "/moved"), |_| {});
        let url = format!("http://127.0.0.1:{port}/start");
        // The second connection gets the same 302 again; the hops are counted.
        let e = quick()
            .send(Request::get(&url).bearer(Some("tok")))
            .await
            .unwrap_err();
        assert!(e.message.contains("more than 5 redirects"), "{e}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0], "GET /start HTTP/1.1 authorization: Bearer tok");
        assert_eq!(seen[1], "GET /moved HTTP/1.1 authorization: Bearer tok");

        // Another origin: not followed, and nothing there blames the token.
        let (other, other_seen) = serve_with(
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n",
            |_| {},
        );
        let to = format!("http://localhost:{other}/login");
        let (port, _) = serve_with(redirect("302 Found", &to), |_| {});
        let url = format!("http://127.0.0.1:{port}/api/v1/namespaces/default");
        let e = quick()
            .send(Request::get(&url).bearer(Some("tok")))
            .await
            .unwrap_err();
        assert!(
            e.message.contains(&format!(
                "to http://localhost:{other}/login: the answer was not read"
            )),
            "{e}"
        );
        assert!(
            other_seen.lock().unwrap().is_empty(),
            "the other host got nothing"
        );
    }

    #[tokio::test]
    async fn a_stalled_server_is_given_up_on_at_the_deadline() {
        // Accepts and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let http = Http::new(&HttpSettings::default()).unwrap();
        http.deadline().set(
            Instant::now() + Duration::from_millis(400),
            "the plan's limit (timeoutSeconds: 1s)",
        );
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{port}/api/v1/namespaces/default/deployments/x");
        let e = http
            .send(Request::get(&url).timeout(Duration::from_secs(30)))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(
            e.message
                .contains("after 1 attempt: the plan's limit (timeoutSeconds: 1s) is used up"),
            "{e}"
        );
        drop(listener);

        // A server that asks to be asked again in 30 s: the last answer is the outcome.
        let (port, seen) = serve_with(
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 30\r\ncontent-length: 2\r\n\r\n{}",
            |_| {},
        );
        let http = Http::new(&HttpSettings::default())
            .unwrap()
            .with_call_limit(Duration::from_secs(1));
        let started = Instant::now();
        let r = http
            .send(Request::get(format!("http://127.0.0.1:{port}/x")))
            .await
            .unwrap();
        assert_eq!(r.status, 503);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn names_become_one_path_segment() {
        assert_eq!(segment("vvp-jobs").unwrap(), "vvp-jobs");
        assert_eq!(
            segment("../deployments/exist").unwrap(),
            "..%2Fdeployments%2Fexist"
        );
        assert_eq!(segment("vvp-jobs?x=1#f").unwrap(), "vvp-jobs%3Fx%3D1%23f");
        assert_eq!(segment("a b%c").unwrap(), "a%20b%25c");
        for bad in ["", ".", ".."] {
            assert!(segment(bad).is_err(), "{bad}");
        }
        // What the URL parser makes of it: still one segment under the collection.
        let u = url::Url::parse(&format!(
            "http://h/api/v1/namespaces/default/deployment-targets/{}",
            segment("../deployments/exist").unwrap()
        ))
        .unwrap();
        assert_eq!(u.path_segments().unwrap().count(), 6);
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

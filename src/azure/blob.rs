//! The job jar to Blob Storage.
//!
//! Plan (read-only): hash the file, work out the blob URL and the jar URI the target needs, and
//! ask the service whether the blob already has the same MD5. Apply: stage fixed-size blocks in
//! parallel, each read from disk when a worker is free (memory stays at `PARALLEL` blocks), each
//! with its own `Content-MD5` and a bounded retry, then commit the block list once, with the
//! blob's `Content-MD5`. Until that commit nothing is visible, so an interrupted upload never
//! leaves a partial blob; block ids depend only on the file's MD5, the block size and the index,
//! so a re-run finds the blocks already staged and sends only the rest.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{RequestContent, Url};
use azure_core::Bytes;
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders, BlockBlobClientCommitBlockListOptions,
    BlockBlobClientStageBlockOptions, BlockListType, BlockLookupList,
};
use azure_storage_blob::{BlobClient, BlobClientOptions};
use md5::{Digest, Md5};

use super::fault::Fault;
use super::transport::{AzureTransport, Retry};
use crate::config::BlobConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::inputs as i;
use crate::secret::Secret;

/// Blocks in flight at once. With [`MIN_BLOCK`] this bounds the upload's buffers to 32 MiB.
pub const PARALLEL: usize = 8;
/// Smallest block; larger files get larger blocks so they stay under the 50,000-block limit.
pub const MIN_BLOCK: u64 = 4 * 1024 * 1024;
const MAX_BLOCKS: u64 = 50_000;

/// `<prefix>/<file name>`, the layout Ververica Platform's Universal Blob Storage uses.
pub fn blob_name(prefix: &str, file_name: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        file_name.to_owned()
    } else {
        format!("{p}/{file_name}")
    }
}

/// The blob's URL under the Blob service `endpoint`, every path segment percent-encoded.
pub fn blob_url(endpoint: &str, container: &str, name: &str) -> Result<Url> {
    let mut u = Url::parse(endpoint)
        .map_err(|e| Error::input(i::BLOB_ENDPOINT, format!("`{endpoint}` is not a URL ({e})")))?;
    {
        let mut segs = u.path_segments_mut().map_err(|_| {
            Error::input(i::BLOB_ENDPOINT, format!("`{endpoint}` cannot hold a path"))
        })?;
        segs.pop_if_empty().push(container);
        for s in name.split('/') {
            segs.push(s);
        }
    }
    Ok(u)
}

/// How a platform names a blob it reads a jar from; each target declares its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JarUriScheme {
    /// `wasbs://container@account.blob.<suffix>/name` (Hadoop's Azure Blob file system, e.g.
    /// Ververica Platform's Universal Blob Storage).
    Wasbs,
    /// `abfs://container@account.dfs.<suffix>/name` (ADLS Gen2, e.g. HDInsight on AKS).
    Abfs,
    /// The blob's https URL.
    Https,
}

/// The URI the target reads the jar from.
pub fn jar_uri(
    scheme: JarUriScheme,
    account: &str,
    container: &str,
    name: &str,
    suffix: &str,
    url: &Url,
) -> String {
    match scheme {
        JarUriScheme::Wasbs => format!("wasbs://{container}@{account}.blob.{suffix}/{name}"),
        JarUriScheme::Abfs => format!("abfs://{container}@{account}.dfs.{suffix}/{name}"),
        JarUriScheme::Https => url.to_string(),
    }
}

/// Block size and count for a file of `size` bytes.
pub fn block_layout(size: u64) -> (u64, u64) {
    let mib = 1024 * 1024;
    let needed = size.div_ceil(MAX_BLOCKS).div_ceil(mib) * mib;
    let block = needed.max(MIN_BLOCK);
    (block, size.div_ceil(block))
}

/// A block id (before base64). All ids of a blob must have the same length; this one is fixed
/// and names the content, so staged blocks of an interrupted run are found again.
pub fn block_id(md5: &[u8; 16], block_size: u64, index: u64) -> Vec<u8> {
    let hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
    format!("fd1-{hex}-{block_size:010}-{index:06}").into_bytes()
}

pub fn content_type(file_name: &str) -> &'static str {
    if file_name.to_ascii_lowercase().ends_with(".jar") {
        "application/java-archive"
    } else {
        "application/octet-stream"
    }
}

/// What is at the blob URL now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    Missing,
    /// Same length and MD5: nothing to upload.
    Same,
    Different,
    /// The blob could not be checked (e.g. a SAS without read permission); upload anyway.
    Unknown(String),
}

pub fn compare(length: Option<u64>, md5: Option<&[u8]>, size: u64, ours: &[u8; 16]) -> Existing {
    match (length, md5) {
        (Some(l), Some(m)) if l == size && m == ours.as_slice() => Existing::Same,
        _ => Existing::Different,
    }
}

/// MD5 of a file, read in 1 MiB pieces.
pub fn md5_file(path: &Path) -> std::io::Result<[u8; 16]> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

pub fn hex(md5: &[u8]) -> String {
    md5.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the upload authenticates.
#[derive(Clone)]
pub enum BlobAuth {
    Sas(Secret),
    Identity(Arc<dyn TokenCredential>),
}

/// Everything the apply needs, decided by the plan.
#[derive(Clone)]
pub struct UploadPlan {
    pub file: PathBuf,
    pub size: u64,
    pub md5: [u8; 16],
    /// Without a query string: safe to print.
    pub url: Url,
    pub jar_uri: String,
    pub account: String,
    pub container: String,
    pub blob_name: String,
    pub existing: Existing,
    pub connection: Option<String>,
    pub subscription: Option<String>,
    auth: BlobAuth,
}

impl UploadPlan {
    /// One line for the plan.
    pub fn describe(&self) -> String {
        let what = match &self.existing {
            Existing::Same => "already holds this file (same MD5): upload skipped".to_owned(),
            Existing::Missing => "will be uploaded".to_owned(),
            Existing::Different => {
                "will be replaced (the blob there has different content)".to_owned()
            }
            Existing::Unknown(why) => format!("will be uploaded ({why})"),
        };
        format!(
            "{} ({} bytes, MD5 {}) -> {} {what}; jarUri {}",
            self.file.display(),
            self.size,
            hex(&self.md5),
            self.url,
            self.jar_uri
        )
    }
}

pub struct PlanRequest<'a> {
    pub cfg: &'a BlobConfig,
    pub scheme: JarUriScheme,
    pub file: &'a Path,
    pub storage_suffix: &'a str,
    pub connection: Option<&'a str>,
    pub subscription: Option<&'a str>,
}

fn client(
    plan_url: &Url,
    auth: &BlobAuth,
    transport: &AzureTransport,
    retry: Retry,
) -> Result<BlobClient> {
    let (url, cred) = match auth {
        BlobAuth::Sas(s) => {
            let mut u = plan_url.clone();
            u.set_query(Some(s.expose()));
            (u, None)
        }
        BlobAuth::Identity(c) => (plan_url.clone(), Some(c.clone())),
    };
    let options = BlobClientOptions {
        client_options: transport.options(retry),
        ..Default::default()
    };
    BlobClient::new(url, cred, Some(options)).map_err(|e| {
        Error::input(
            i::BLOB_ENDPOINT,
            format!("`{plan_url}`: {}", Fault::from_sdk(&e).message),
        )
        .with_hint("sign-in with the service connection needs an https blob endpoint; a plain http endpoint (a local emulator) needs storageSasToken")
    })
}

/// Plan the upload: hash, URLs, and whether the blob is already there.
pub async fn plan(
    req: PlanRequest<'_>,
    auth: BlobAuth,
    transport: &AzureTransport,
) -> Result<UploadPlan> {
    let cfg = req.cfg;
    let file = req.file.to_owned();
    let size = std::fs::metadata(&file)
        .map_err(|e| Error::io(&file, e))?
        .len();
    let f2 = file.clone();
    let md5 = tokio::task::spawn_blocking(move || md5_file(&f2))
        .await
        .map_err(|e| Error::io(&file, e))?
        .map_err(|e| Error::io(&file, e))?;
    let name = blob_name(&cfg.prefix, &crate::artifact::file_name(&file));
    let url = blob_url(&cfg.endpoint, &cfg.container, &name)?;
    if matches!(auth, BlobAuth::Identity(_)) && url.scheme() != "https" {
        return Err(Error::input(
            i::BLOB_ENDPOINT,
            format!(
                "`{}` is plain http; signing in with the service connection needs https",
                cfg.endpoint
            ),
        )
        .with_hint("use an https endpoint, or give storageSasToken for a local emulator"));
    }
    let jar_uri = jar_uri(
        req.scheme,
        &cfg.account,
        &cfg.container,
        &name,
        req.storage_suffix,
        &url,
    );
    let mut p = UploadPlan {
        file,
        size,
        md5,
        url,
        jar_uri,
        account: cfg.account.clone(),
        container: cfg.container.clone(),
        blob_name: name,
        existing: Existing::Missing,
        connection: req.connection.map(str::to_owned),
        subscription: req.subscription.map(str::to_owned),
        auth,
    };
    let c = client(&p.url, &p.auth, transport, Retry::Standard)?;
    p.existing = match c.get_properties(None).await {
        Ok(r) => compare(
            r.content_length().ok().flatten(),
            r.content_md5().ok().flatten().as_deref(),
            size,
            &md5,
        ),
        Err(e) => {
            let f = Fault::from_sdk(&e);
            match (f.status, &p.auth) {
                (Some(404), _) if f.code.as_deref() == Some("ContainerNotFound") => {
                    return Err(storage_error(&p, "find the container", &f))
                }
                (Some(404), _) => Existing::Missing,
                (Some(403), BlobAuth::Sas(_))
                    if f.code.as_deref() == Some("AuthorizationPermissionMismatch") =>
                {
                    Existing::Unknown(
                        "the SAS cannot read the blob, so an identical blob cannot be detected"
                            .into(),
                    )
                }
                _ => return Err(storage_error(&p, "read the blob's properties", &f)),
            }
        }
    };
    Ok(p)
}

/// An error from Blob Storage, with the fix: the role for an identity, the permissions for a SAS.
pub fn storage_error(p: &UploadPlan, what: &str, f: &Fault) -> Error {
    let msg = format!(
        "Blob Storage could not {what} for `{}`: {}",
        p.url,
        f.quote()
    );
    if f.network {
        return Error::new(ErrorKind::Network, msg).with_hint(f.trust_hint().map(str::to_owned).unwrap_or_else(|| format!(
            "check that {} is reachable from the agent (storage firewall, private endpoint DNS, proxy settings)",
            p.url.host_str().unwrap_or("the storage account")
        )));
    }
    let scope = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{}/blobServices/default/containers/{}",
        match &p.subscription {
            Some(s) => format!("/subscriptions/{s}/resourceGroups/<resource group>"),
            None => "/subscriptions/<subscription>/resourceGroups/<resource group>".to_owned(),
        },
        p.account,
        p.container
    );
    let code = f.code.as_deref().unwrap_or("");
    let hint = match (f.status, &p.auth) {
        (Some(403), BlobAuth::Identity(_)) if code == "AuthorizationFailure" => format!(
            "the storage account `{}` refused the request (its firewall or a missing permission): allow the agent's network in the account's networking settings, and assign the role `Storage Blob Data Contributor` to the identity of service connection `{}` on scope {scope} (or the whole account)",
            p.account,
            p.connection.as_deref().unwrap_or("?")
        ),
        (Some(403), BlobAuth::Identity(_)) => format!(
            "assign the role `Storage Blob Data Contributor` to the identity of service connection `{}` on scope {scope} (or the whole account); role assignments take a few minutes to apply",
            p.connection.as_deref().unwrap_or("?")
        ),
        (Some(403), BlobAuth::Sas(_)) => "the SAS in storageSasToken is expired, signed with a rotated key, or lacks permissions: it needs read, create and write (sp=rcw) on the container".to_owned(),
        (Some(404), _) if code == "ContainerNotFound" => format!(
            "create the container `{}` in the storage account `{}`, or fix containerName",
            p.container, p.account
        ),
        _ => "see the service's message; quote the request id to Azure support if it persists".to_owned(),
    };
    Error::platform(msg).with_hint(hint)
}

/// What the apply did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub skipped: bool,
    pub blocks: u64,
    /// Blocks found already staged by an earlier, interrupted run.
    pub resumed: u64,
    pub bytes_sent: u64,
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &std::fs::File, buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = std::os::windows::fs::FileExt::seek_read(f, &mut buf[done..], offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
        offset += n as u64;
    }
    Ok(())
}

/// Upload per the plan. `progress(bytes_done, total)` is called as blocks complete.
pub async fn apply(
    p: &UploadPlan,
    transport: &AzureTransport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Uploaded> {
    if p.existing == Existing::Same {
        return Ok(Uploaded {
            skipped: true,
            blocks: 0,
            resumed: 0,
            bytes_sent: 0,
        });
    }
    let (block_size, count) = block_layout(p.size);
    let blob = client(&p.url, &p.auth, transport, Retry::Standard)?.block_blob_client();
    let blocks = Arc::new(client(&p.url, &p.auth, transport, Retry::Block)?.block_blob_client());

    // Blocks an earlier run staged; a blob that does not exist yet has none.
    let staged: std::collections::HashSet<Vec<u8>> =
        match blob.get_block_list(BlockListType::Uncommitted, None).await {
            Ok(r) => r
                .into_model()
                .ok()
                .and_then(|l| l.uncommitted_blocks)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|b| b.name)
                .collect(),
            Err(_) => Default::default(),
        };
    let ids: Vec<Vec<u8>> = (0..count)
        .map(|n| block_id(&p.md5, block_size, n))
        .collect();
    let todo: Vec<u64> = (0..count)
        .filter(|n| !staged.contains(&ids[*n as usize]))
        .collect();
    let resumed = count - todo.len() as u64;

    let file = Arc::new(std::fs::File::open(&p.file).map_err(|e| Error::io(&p.file, e))?);
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let todo = Arc::new(todo);
    let ids = Arc::new(ids);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL.min(todo.len().max(1)) {
        let (file, next, stop, todo, ids, tx, blocks) = (
            file.clone(),
            next.clone(),
            stop.clone(),
            todo.clone(),
            ids.clone(),
            tx.clone(),
            blocks.clone(),
        );
        let (size, path) = (p.size, p.file.clone());
        workers.spawn(async move {
            // One buffer per worker for the whole upload: allocating a block-sized buffer per
            // block leaves freed blocks scattered over the allocator's per-thread arenas, and the
            // process keeps them.
            let mut spare: Option<Vec<u8>> = None;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                if k >= todo.len() || stop.load(Ordering::Relaxed) {
                    return Ok::<(), (u64, BlockFailure)>(());
                }
                let n = todo[k];
                let offset = n * block_size;
                let len = block_size.min(size - offset);
                let f = file.clone();
                let mut buf = spare.take().unwrap_or_default();
                // Read and hash off the async threads.
                let read = tokio::task::spawn_blocking(move || {
                    buf.resize(len as usize, 0);
                    read_at(&f, &mut buf, offset)?;
                    let md5: [u8; 16] = Md5::digest(&buf).into();
                    Ok::<_, std::io::Error>((Bytes::from(buf), md5))
                })
                .await;
                let (data, md5) = match read {
                    Ok(Ok(x)) => x,
                    Ok(Err(e)) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err((n, BlockFailure::Io(Error::io(&path, e))));
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err((n, BlockFailure::Io(Error::io(&path, e))));
                    }
                };
                let options = BlockBlobClientStageBlockOptions {
                    transactional_content_md5: Some(md5.to_vec()),
                    ..Default::default()
                };
                let r = blocks
                    .stage_block(&ids[n as usize], len, data.clone().into(), Some(options))
                    .await;
                // The request is gone once the call returns, so this is the only reference left
                // and the buffer comes back without a copy.
                spare = data.try_into_mut().ok().map(Vec::from);
                if let Err(e) = r {
                    stop.store(true, Ordering::Relaxed);
                    return Err((n, BlockFailure::Azure(Fault::from_sdk(&e))));
                }
                let _ = tx.send(len);
            }
        });
    }
    drop(tx);

    let mut done = p.size - todo_bytes(&todo, block_size, p.size);
    let mut sent = 0;
    progress(done, p.size);
    while let Some(len) = rx.recv().await {
        done += len;
        sent += len;
        progress(done, p.size);
    }
    let mut first: Option<(u64, BlockFailure)> = None;
    while let Some(r) = workers.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(f)) => {
                if first.as_ref().is_none_or(|(n, _)| f.0 < *n) {
                    first = Some(f);
                }
            }
            Err(e) => {
                first.get_or_insert((
                    u64::MAX,
                    BlockFailure::Io(Error::platform(format!("an upload worker stopped: {e}"))),
                ));
            }
        }
    }
    if let Some((n, failure)) = first {
        let tail = "nothing was committed, so the blob is unchanged; run again to finish (staged blocks are kept for 7 days and are not sent again)";
        return Err(match failure {
            BlockFailure::Io(e) => e.context(format!("block {n} of {count}")).with_detail(tail),
            BlockFailure::Azure(f) => {
                let e = storage_error(p, &format!("upload block {} of {count}", n + 1), &f);
                e.with_detail(tail)
            }
        });
    }

    let list = BlockLookupList {
        latest: Some(ids.to_vec()),
        ..Default::default()
    };
    let body: RequestContent<BlockLookupList, azure_core::http::XmlFormat> =
        list.try_into().map_err(|e: azure_core::Error| {
            Error::platform(format!("cannot encode the block list: {e}"))
        })?;
    let options = BlockBlobClientCommitBlockListOptions {
        blob_content_md5: Some(p.md5.to_vec()),
        blob_content_type: Some(content_type(&p.blob_name).to_owned()),
        ..Default::default()
    };
    blob.commit_block_list(body, Some(options))
        .await
        .map_err(|e| storage_error(p, "commit the block list", &Fault::from_sdk(&e)))?;

    // Read back what the service stored, so a corrupt or partial blob is never reported as done.
    let props = client(&p.url, &p.auth, transport, Retry::Standard)?
        .get_properties(None)
        .await
        .map_err(|e| storage_error(p, "read back the uploaded blob", &Fault::from_sdk(&e)))?;
    let length = props.content_length().ok().flatten();
    let md5 = props.content_md5().ok().flatten();
    if compare(length, md5.as_deref(), p.size, &p.md5) != Existing::Same {
        return Err(Error::platform(format!(
            "the blob `{}` does not match the file after the upload: {} bytes, MD5 {} (expected {} bytes, MD5 {})",
            p.url,
            length.map(|l| l.to_string()).unwrap_or_else(|| "?".into()),
            md5.as_deref().map(hex).unwrap_or_else(|| "none".into()),
            p.size,
            hex(&p.md5)
        ))
        .with_hint("run the task again; if it persists, check for another pipeline writing the same blob"));
    }
    Ok(Uploaded {
        skipped: false,
        blocks: count,
        resumed,
        bytes_sent: sent,
    })
}

fn todo_bytes(todo: &[u64], block_size: u64, size: u64) -> u64 {
    todo.iter()
        .map(|n| block_size.min(size - n * block_size))
        .sum()
}

enum BlockFailure {
    Io(Error),
    Azure(Fault),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_urls_and_jar_uris() {
        assert_eq!(
            blob_name("artifacts/namespaces/default/", "job.jar"),
            "artifacts/namespaces/default/job.jar"
        );
        assert_eq!(blob_name("", "job.jar"), "job.jar");
        let u = blob_url(
            "https://acct.blob.core.windows.net",
            "jars",
            "a b/job#1.jar",
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://acct.blob.core.windows.net/jars/a%20b/job%231.jar"
        );
        let u = blob_url("http://127.0.0.1:10000/devstoreaccount1", "c", "x/j.jar").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/c/x/j.jar"
        );
        let name = "artifacts/namespaces/default/job.jar";
        assert_eq!(
            jar_uri(
                JarUriScheme::Wasbs,
                "acct",
                "jars",
                name,
                "core.windows.net",
                &u
            ),
            "wasbs://jars@acct.blob.core.windows.net/artifacts/namespaces/default/job.jar"
        );
        assert_eq!(
            jar_uri(
                JarUriScheme::Abfs,
                "acct",
                "jars",
                name,
                "core.chinacloudapi.cn",
                &u
            ),
            "abfs://jars@acct.dfs.core.chinacloudapi.cn/artifacts/namespaces/default/job.jar"
        );
        assert_eq!(
            jar_uri(JarUriScheme::Https, "a", "c", name, "s", &u),
            u.to_string()
        );
    }

    #[test]
    fn block_layout_stays_under_the_block_limit() {
        assert_eq!(block_layout(0), (MIN_BLOCK, 0));
        assert_eq!(block_layout(1), (MIN_BLOCK, 1));
        assert_eq!(block_layout(MIN_BLOCK), (MIN_BLOCK, 1));
        assert_eq!(block_layout(MIN_BLOCK + 1), (MIN_BLOCK, 2));
        assert_eq!(block_layout(300 * 1024 * 1024), (MIN_BLOCK, 75));
        let huge = 500 * 1024 * 1024 * 1024u64;
        let (b, n) = block_layout(huge);
        assert!(n <= MAX_BLOCKS, "{n}");
        assert_eq!(b % (1024 * 1024), 0);
        assert!(b * n >= huge);
    }

    #[test]
    fn block_ids_have_one_length_and_name_the_content() {
        let a = [0xabu8; 16];
        let ids: Vec<Vec<u8>> = [0, 9, 999_999]
            .iter()
            .map(|n| block_id(&a, MIN_BLOCK, *n))
            .collect();
        assert!(
            ids.iter().all(|i| i.len() == ids[0].len() && i.len() <= 64),
            "{ids:?}"
        );
        assert_ne!(
            block_id(&a, MIN_BLOCK, 1),
            block_id(&[0u8; 16], MIN_BLOCK, 1)
        );
        assert_ne!(block_id(&a, MIN_BLOCK, 1), block_id(&a, 2 * MIN_BLOCK, 1));
    }

    #[test]
    fn same_blob_needs_same_length_and_md5() {
        let m = [1u8; 16];
        assert_eq!(compare(Some(10), Some(&m), 10, &m), Existing::Same);
        assert_eq!(compare(Some(11), Some(&m), 10, &m), Existing::Different);
        assert_eq!(
            compare(Some(10), Some(&[2u8; 16]), 10, &m),
            Existing::Different
        );
        assert_eq!(compare(Some(10), None, 10, &m), Existing::Different);
    }

    fn plan_with(auth: BlobAuth) -> UploadPlan {
        UploadPlan {
            file: PathBuf::from("job.jar"),
            size: 1,
            md5: [0; 16],
            url: Url::parse("https://acct.blob.core.windows.net/jars/a/job.jar").unwrap(),
            jar_uri: String::new(),
            account: "acct".into(),
            container: "jars".into(),
            blob_name: "a/job.jar".into(),
            existing: Existing::Missing,
            connection: Some("conn-1".into()),
            subscription: Some("sub-1".into()),
            auth,
        }
    }

    #[test]
    fn storage_errors_name_the_role_scope_or_sas_permissions() {
        let denied = Fault {
            status: Some(403),
            code: Some("AuthorizationPermissionMismatch".into()),
            message:
                "This request is not authorized to perform this operation using this permission."
                    .into(),
            request_id: Some("rid-7".into()),
            ..Default::default()
        };
        struct NoCred;
        impl std::fmt::Debug for NoCred {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("NoCred")
            }
        }
        #[async_trait::async_trait]
        impl TokenCredential for NoCred {
            async fn get_token(
                &self,
                _: &[&str],
                _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
            ) -> azure_core::Result<azure_core::credentials::AccessToken> {
                unreachable!()
            }
        }
        let id = plan_with(BlobAuth::Identity(Arc::new(NoCred)));
        let e = storage_error(&id, "upload block 1 of 1", &denied);
        assert!(e.message.contains("Blob Storage could not upload block 1 of 1 for `https://acct.blob.core.windows.net/jars/a/job.jar`"), "{e}");
        assert!(
            e.message
                .contains("AuthorizationPermissionMismatch: This request is not authorized"),
            "{e}"
        );
        assert!(e.message.contains("request id rid-7"), "{e}");
        let h = e.hint.unwrap();
        assert!(
            h.contains("`Storage Blob Data Contributor`")
                && h.contains("service connection `conn-1`"),
            "{h}"
        );
        assert!(h.contains("/subscriptions/sub-1/resourceGroups/<resource group>/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default/containers/jars"), "{h}");

        let sas = plan_with(BlobAuth::Sas(Secret::new("sv=1&sig=x")));
        assert!(storage_error(&sas, "x", &denied)
            .hint
            .unwrap()
            .contains("sp=rcw"));
        let missing = Fault {
            status: Some(404),
            code: Some("ContainerNotFound".into()),
            ..Default::default()
        };
        assert!(storage_error(&sas, "x", &missing)
            .hint
            .unwrap()
            .contains("create the container `jars`"));
        let net = Fault {
            network: true,
            message:
                "connection failed reaching acct.blob.core.windows.net through proxy http://p/"
                    .into(),
            ..Default::default()
        };
        let e = storage_error(&sas, "x", &net);
        assert_eq!(e.kind, ErrorKind::Network);
        assert!(e.message.contains("through proxy"), "{e}");
    }

    #[test]
    fn md5_of_a_file_matches_the_known_digest() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        std::fs::write(&f, b"The quick brown fox jumps over the lazy dog").unwrap();
        assert_eq!(
            hex(&md5_file(&f).unwrap()),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(content_type("Job.JAR"), "application/java-archive");
    }
}

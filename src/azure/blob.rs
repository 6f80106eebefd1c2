//! The job jar to Blob Storage.
//!
//! Plan (read-only): open the jar, name the blob, ask the service what is there, and hash the
//! file when something needs its MD5 before the upload (the target names the content by it, or a
//! blob of the same size is there and may already be this file). Apply: stage fixed-size blocks
//! in parallel, each read from disk when a worker is free (memory stays at `PARALLEL` blocks),
//! then commit the block list once, with the blob's `Content-MD5`. Until that commit nothing is
//! visible, so an interrupted upload never leaves a partial blob; a re-run finds the blocks
//! already staged and sends only the rest.
//!
//! What makes the blob provably the file the plan saw, without downloading it:
//! - Every block is staged with its MD5 as `Content-MD5`. Blob Storage computes the MD5 of the
//!   bytes that arrived and refuses the block (400 `Md5Mismatch`) when they differ, so each
//!   staged block is, by the service's own computation, the bytes whose MD5 we sent.
//! - When the plan hashed the file, the MD5 sent with each block is the plan's, not one computed
//!   from the buffer being sent: the service's check then proves that the bytes sent are the
//!   bytes the plan hashed, and the blob's `Content-MD5` (the plan's whole-file MD5, which the
//!   target's jar URI names) is the MD5 of what was sent. A jar rewritten after the plan fails
//!   that check; a re-read of the refused block tells a changed file from bytes altered on the
//!   way.
//! - When the plan did not hash (nothing needed the MD5 up front), each block's MD5 is computed
//!   from the very buffer that is sent, and the whole-file MD5 from the same buffers in file
//!   order, so the blob's `Content-MD5` is the MD5 of the bytes sent.
//! - Either way the jar's stamp (size, times, inode) is compared with the plan's before the first
//!   block and after the last read, so a file changed while it was read is never committed.
//! - Block ids name the block's MD5, size and index. After the commit the committed block list
//!   is read back and must be exactly our ids, and the blob's length and `Content-MD5` ours. The
//!   `Content-MD5` property alone proves nothing (it is whatever the committer set); the block
//!   list names blocks whose bytes the service checked against those MD5s.
//! - "Same MD5, upload skipped" needs the same proof of the blob that is there: its length, its
//!   `Content-MD5` and its committed block list must all be what uploading this file would
//!   commit. A blob another tool wrote, or one whose property does not match its blocks, is
//!   uploaded again.

mod names;
mod source;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{RequestContent, Url};
use azure_core::Bytes;
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders, BlockBlobClientCommitBlockListOptions,
    BlockBlobClientCommitBlockListResultHeaders, BlockBlobClientStageBlockOptions, BlockListType,
    BlockLookupList,
};
use azure_storage_blob::{BlobClient, BlobClientOptions};
use md5::{Digest, Md5};
use tokio::time::Instant;

pub use names::{check_prefix, encode_path, JarUriScheme};
use source::{Digests, InOrder, ReadFailure, Source, Stop};

use super::fault::Fault;
use super::transport::{AzureTransport, Retry};
use crate::config::BlobConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::inputs as i;
use crate::secret::Secret;

/// Blocks in flight at once. With [`MIN_BLOCK`] this bounds the upload's buffers.
///
/// 8 × 4 MiB keeps the buffers at 32 MiB. Against Azurite, 4 × 8 MiB and 2 × 16 MiB (the same
/// memory, fewer requests) cut the emulator's CPU per upload by about a sixth but not the upload's
/// time, and 8 × 8 MiB took the peak RSS past 64 MiB for no gain (tests/bench/blob.py, 300 MiB).
pub const PARALLEL: usize = 8;
/// Smallest block; larger files get larger blocks so they stay under the 50,000-block limit.
pub const MIN_BLOCK: u64 = 4 * 1024 * 1024;
const MAX_BLOCKS: u64 = 50_000;

/// Block size and count for a file of `size` bytes.
pub fn block_layout(size: u64) -> (u64, u64) {
    let mib = 1024 * 1024;
    let needed = size.div_ceil(MAX_BLOCKS).div_ceil(mib) * mib;
    let block = needed.max(MIN_BLOCK);
    (block, size.div_ceil(block))
}

/// A block id (before base64). All ids of a blob must have the same length; this one names the
/// block's content (its MD5), its size and its place, so staged blocks of an interrupted run are
/// found again and a committed block list tells what the blob holds.
pub fn block_id(md5: &[u8; 16], block_size: u64, index: u64) -> Vec<u8> {
    format!("fd2-{}-{block_size:010}-{index:06}", hex(md5)).into_bytes()
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
    /// This very file, committed by an upload like this one: nothing to upload.
    Same,
    Different,
    /// The blob could not be checked (e.g. a SAS without read permission); upload anyway.
    Unknown(String),
}

/// A committed block: its id and size, as the service lists it.
pub type ListedBlock = (Vec<u8>, Option<i64>);

/// Is the blob that is there what uploading this file would commit? Its length, its
/// `Content-MD5` and its committed block list must all match.
pub fn compare(
    length: Option<u64>,
    md5: Option<&[u8]>,
    committed: &[ListedBlock],
    size: u64,
    ours: &Digests,
    block_size: u64,
) -> Existing {
    let same = length == Some(size)
        && md5 == Some(ours.whole.as_slice())
        && committed_as_expected(committed, ours, block_size, size);
    if same {
        Existing::Same
    } else {
        Existing::Different
    }
}

fn committed_as_expected(
    committed: &[ListedBlock],
    ours: &Digests,
    block_size: u64,
    size: u64,
) -> bool {
    committed.len() == ours.blocks.len()
        && committed.iter().enumerate().all(|(n, (id, len))| {
            let n = n as u64;
            *id == block_id(&ours.blocks[n as usize], block_size, n)
                && *len == Some(block_size.min(size - n * block_size) as i64)
        })
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
    /// The file's MD5 when the plan hashed it; otherwise the upload hashes what it sends and
    /// returns the MD5 in [`Uploaded::md5`].
    pub md5: Option<[u8; 16]>,
    /// Without a query string: safe to print.
    pub url: Url,
    pub jar_uri: String,
    pub account: String,
    pub container: String,
    pub blob_name: String,
    pub existing: Existing,
    pub connection: Option<String>,
    pub subscription: Option<String>,
    source: Arc<Source>,
    block_size: u64,
    digests: Option<Arc<Digests>>,
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
            self.md5
                .map(|m| hex(&m))
                .unwrap_or_else(|| "computed while uploading".into()),
            self.url,
            self.jar_uri
        )
    }
}

pub struct PlanRequest<'a> {
    pub cfg: &'a BlobConfig,
    /// How the target reads the jar.
    pub scheme: JarUriScheme,
    /// The caller needs the file's MD5 from the plan (it names the content before the upload).
    pub md5_in_plan: bool,
    pub file: &'a Path,
    pub storage_suffix: &'a str,
    pub connection: Option<&'a str>,
    pub subscription: Option<&'a str>,
    /// Reading the jar and every request of the plan end by then.
    pub deadline: Instant,
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

/// The name the blob gets: the jar's file name, which must be Unicode text.
fn upload_name(file: &Path) -> Result<String> {
    match file.file_name().map(|n| n.to_str()) {
        Some(Some(n)) => Ok(n.to_owned()),
        _ => Err(Error::input(
            i::ARTIFACT_PATH,
            format!(
                "the file name of `{}` is not valid Unicode, and a blob name must be",
                file.display()
            ),
        )
        .with_hint("rename the jar")),
    }
}

/// `what` must end by `deadline`; past it, the error says which step ran out of time.
async fn by<T>(
    deadline: Instant,
    what: &str,
    url: &Url,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout_at(deadline, f).await {
        Ok(r) => r,
        Err(_) => Err(Error::timeout(format!(
            "Blob Storage: {what} for `{url}` did not finish within the run's time limit"
        ))
        .with_hint("raise timeoutSeconds, or check the agent's network to the storage account")),
    }
}

/// Plan the upload: names, what is there, and the file's MD5 when something needs it.
pub async fn plan(
    req: PlanRequest<'_>,
    auth: BlobAuth,
    transport: &AzureTransport,
) -> Result<UploadPlan> {
    let cfg = req.cfg;
    let file_name = upload_name(req.file)?;
    let loc = names::locate(&names::Names {
        endpoint: &cfg.endpoint,
        account: &cfg.account,
        container: &cfg.container,
        prefix: &cfg.prefix,
        file_name: &file_name,
        suffix: req.storage_suffix,
        scheme: req.scheme,
    })?;
    if matches!(auth, BlobAuth::Identity(_)) && loc.url.scheme() != "https" {
        return Err(Error::input(
            i::BLOB_ENDPOINT,
            format!(
                "`{}` is plain http; signing in with the service connection needs https",
                cfg.endpoint
            ),
        )
        .with_hint("use an https endpoint, or give storageSasToken for a local emulator"));
    }
    let source = Arc::new(Source::open(req.file)?);
    let size = source.size();
    let (block_size, _) = block_layout(size);
    let mut p = UploadPlan {
        file: req.file.to_owned(),
        size,
        md5: None,
        url: loc.url,
        jar_uri: loc.jar_uri,
        account: cfg.account.clone(),
        container: cfg.container.clone(),
        blob_name: loc.blob_name,
        existing: Existing::Missing,
        connection: req.connection.map(str::to_owned),
        subscription: req.subscription.map(str::to_owned),
        source,
        block_size,
        digests: None,
        auth,
    };
    let c = client(&p.url, &p.auth, transport, Retry::Standard)?;
    // A blob of another size cannot be this file; one of the same size has to be compared.
    let mut same_size: Option<Option<Vec<u8>>> = None;
    let props = by(
        req.deadline,
        "reading the blob's properties",
        &p.url,
        async { Ok(c.get_properties(None).await) },
    )
    .await?;
    p.existing = match props {
        Ok(r) => {
            if r.content_length().ok().flatten() == Some(size) {
                same_size = Some(r.content_md5().ok().flatten());
            }
            Existing::Different
        }
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
    if req.md5_in_plan || same_size.is_some() {
        let stop = Stop::default();
        let digests = source::blocking(
            &p.source,
            "hashing",
            req.deadline,
            &stop,
            move |src, stop, deadline| source::digest(src, block_size, stop, deadline),
        )
        .await?;
        p.md5 = Some(digests.whole);
        if let Some(stored_md5) = same_size {
            // Only a stored MD5 that matches is worth listing the blocks for.
            if stored_md5.as_deref() == Some(digests.whole.as_slice()) {
                let committed = by(
                    req.deadline,
                    "listing the committed blocks",
                    &p.url,
                    async { Ok(committed_blocks(&c.block_blob_client()).await) },
                )
                .await?;
                p.existing = match committed {
                    Ok(list) => compare(
                        Some(size),
                        stored_md5.as_deref(),
                        &list,
                        size,
                        &digests,
                        block_size,
                    ),
                    Err(_) => Existing::Different,
                };
            }
        }
        p.digests = Some(Arc::new(digests));
    }
    Ok(p)
}

async fn committed_blocks(
    c: &azure_storage_blob::BlockBlobClient,
) -> azure_core::Result<Vec<ListedBlock>> {
    let list = c
        .get_block_list(BlockListType::Committed, None)
        .await?
        .into_model()?;
    Ok(list
        .committed_blocks
        .unwrap_or_default()
        .into_iter()
        .map(|b| (b.name.unwrap_or_default(), b.size))
        .collect())
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
    /// The MD5 of the blob's content, as committed (or found, when skipped).
    pub md5: [u8; 16],
}

/// One block done: staged now, or found staged by an earlier run.
struct BlockDone {
    index: u64,
    md5: [u8; 16],
    len: u64,
    sent: bool,
}

enum BlockFailure {
    Io(Error),
    /// Blob Storage refused the block because its bytes do not have the MD5 sent with them.
    Mismatch,
    Azure(Fault),
}

const NOTHING_COMMITTED: &str = "nothing was committed, so the blob is unchanged; run again to finish (staged blocks are kept for 7 days and are not sent again)";

/// Upload per the plan, by `deadline`. `progress(bytes_done, total)` is called as blocks
/// complete.
pub async fn apply(
    p: &UploadPlan,
    transport: &AzureTransport,
    deadline: Instant,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Uploaded> {
    if p.existing == Existing::Same {
        return Ok(Uploaded {
            skipped: true,
            blocks: 0,
            resumed: 0,
            bytes_sent: 0,
            md5: p
                .md5
                .expect("a blob found the same was compared by its MD5"),
        });
    }
    // The jar must still be the file the plan saw.
    p.source.check_unchanged()?;
    let stop = Stop::default();
    let _stop_readers = stop.on_drop();
    match tokio::time::timeout_at(deadline, upload(p, transport, deadline, &stop, progress)).await
    {
        Ok(r) => r,
        Err(_) => Err(Error::timeout(format!(
            "the upload of `{}` to `{}` did not finish within the run's time limit",
            p.file.display(),
            p.url
        ))
        .with_detail("the blob is replaced only by the final commit of the block list; run again to finish (staged blocks are kept for 7 days and are not sent again)")
        .with_hint("raise timeoutSeconds, or check the agent's network to the storage account")),
    }
}

async fn upload(
    p: &UploadPlan,
    transport: &AzureTransport,
    deadline: Instant,
    stop: &Stop,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Uploaded> {
    let block_size = p.block_size;
    let count = p.size.div_ceil(block_size);
    let blob = client(&p.url, &p.auth, transport, Retry::Standard)?.block_blob_client();
    let staged = Arc::new(staged_blocks(&blob).await);
    let planned = p.digests.clone();
    // With the plan's MD5s the staged blocks are known without reading them; otherwise each
    // block is read and hashed, and only then found staged or sent.
    let todo: Vec<u64> = match &planned {
        Some(d) => (0..count)
            .filter(|&n| !staged.contains(&block_id(&d.blocks[n as usize], block_size, n)))
            .collect(),
        None => (0..count).collect(),
    };
    let mut md5s: Vec<Option<[u8; 16]>> = match &planned {
        Some(d) => d.blocks.iter().copied().map(Some).collect(),
        None => vec![None; count as usize],
    };
    let work = Work {
        source: p.source.clone(),
        blocks: Arc::new(client(&p.url, &p.auth, transport, Retry::Block)?.block_blob_client()),
        staged,
        planned: planned.clone(),
        in_order: Arc::new(InOrder::default()),
        next: Arc::new(AtomicU64::new(0)),
        todo: Arc::new(todo),
        stop: stop.clone(),
        size: p.size,
        block_size,
        deadline,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BlockDone>();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL.min(work.todo.len().max(1)) {
        workers.spawn(work.clone().run(tx.clone()));
    }
    drop(tx);

    let mut done = p.size
        - work
            .todo
            .iter()
            .map(|n| block_size.min(p.size - n * block_size))
            .sum::<u64>();
    let mut resumed = count - work.todo.len() as u64;
    let mut sent = 0;
    let mut finished = 0usize;
    progress(done, p.size);
    while let Some(b) = rx.recv().await {
        finished += 1;
        md5s[b.index as usize] = Some(b.md5);
        done += b.len;
        if b.sent {
            sent += b.len;
        } else {
            resumed += 1;
        }
        progress(done, p.size);
    }
    if let Some((n, failure)) = first_failure(workers).await {
        return Err(match failure {
            BlockFailure::Io(e) => e
                .context(format!("block {} of {count}", n + 1))
                .with_detail(NOTHING_COMMITTED),
            BlockFailure::Mismatch => mismatch(p, n, count, deadline).await,
            BlockFailure::Azure(f) => {
                storage_error(p, &format!("upload block {} of {count}", n + 1), &f)
                    .with_detail(NOTHING_COMMITTED)
            }
        });
    }
    if finished != work.todo.len() {
        // Not one worker failed, yet some block was left: never commit a list with a gap.
        return Err(Error::platform(format!(
            "the upload of `{}` stopped after {finished} of {} blocks without an error",
            p.file.display(),
            work.todo.len()
        ))
        .with_detail(NOTHING_COMMITTED));
    }
    // Every block is read: the file must not have changed while it was.
    p.source
        .check_unchanged()
        .map_err(|e| e.with_detail(NOTHING_COMMITTED))?;
    let ours = Digests {
        whole: match &planned {
            Some(d) => d.whole,
            None => work
                .in_order
                .finish(count)
                .expect("every block was hashed before it was staged"),
        },
        blocks: md5s
            .into_iter()
            .map(|m| m.expect("every block is staged"))
            .collect(),
    };
    commit_and_check(p, transport, &blob, &ours).await?;
    Ok(Uploaded {
        skipped: false,
        blocks: count,
        resumed,
        bytes_sent: sent,
        md5: ours.whole,
    })
}

/// Blocks an earlier run staged; a blob that does not exist yet has none.
async fn staged_blocks(blob: &azure_storage_blob::BlockBlobClient) -> HashSet<Vec<u8>> {
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
    }
}

/// What every upload worker shares: the next block to take, and what a block needs.
#[derive(Clone)]
struct Work {
    source: Arc<Source>,
    blocks: Arc<azure_storage_blob::BlockBlobClient>,
    staged: Arc<HashSet<Vec<u8>>>,
    planned: Option<Arc<Digests>>,
    in_order: Arc<InOrder>,
    next: Arc<AtomicU64>,
    todo: Arc<Vec<u64>>,
    stop: Stop,
    size: u64,
    block_size: u64,
    deadline: Instant,
}

impl Work {
    /// Take blocks until none is left or another worker failed.
    async fn run(
        self,
        tx: tokio::sync::mpsc::UnboundedSender<BlockDone>,
    ) -> std::result::Result<(), (u64, BlockFailure)> {
        // One buffer per worker for the whole upload: allocating a block-sized buffer per block
        // leaves freed blocks scattered over the allocator's per-thread arenas, and the process
        // keeps them.
        let mut spare: Option<Vec<u8>> = None;
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed) as usize;
            if k >= self.todo.len() || self.stop.is_set() {
                return Ok(());
            }
            let n = self.todo[k];
            let offset = n * self.block_size;
            let len = self.block_size.min(self.size - offset);
            let (buf, md5) = match self.read(n, offset, len, spare.take()).await {
                Ok(x) => x,
                Err(e) => {
                    self.stop.set();
                    return Err((n, BlockFailure::Io(e)));
                }
            };
            let id = block_id(&md5, self.block_size, n);
            if self.staged.contains(&id) {
                spare = Some(buf);
                let _ = tx.send(BlockDone {
                    index: n,
                    md5,
                    len,
                    sent: false,
                });
                continue;
            }
            let data = Bytes::from(buf);
            let options = BlockBlobClientStageBlockOptions {
                transactional_content_md5: Some(md5.to_vec()),
                ..Default::default()
            };
            let r = self
                .blocks
                .stage_block(&id, len, data.clone().into(), Some(options))
                .await;
            // The request is gone once the call returns, so this is the only reference left
            // and the buffer comes back without a copy.
            spare = data.try_into_mut().ok().map(Vec::from);
            if let Err(e) = r {
                self.stop.set();
                let f = Fault::from_sdk(&e);
                if f.status == Some(400) && f.code.as_deref() == Some("Md5Mismatch") {
                    return Err((n, BlockFailure::Mismatch));
                }
                return Err((n, BlockFailure::Azure(f)));
            }
            let _ = tx.send(BlockDone {
                index: n,
                md5,
                len,
                sent: true,
            });
        }
    }

    /// Read block `n` (and, without the plan's MD5s, hash it) off the async threads. The MD5 of
    /// the whole file is fed from the same buffer, in file order.
    async fn read(
        &self,
        n: u64,
        offset: u64,
        len: u64,
        spare: Option<Vec<u8>>,
    ) -> Result<(Vec<u8>, [u8; 16])> {
        let mut buf = spare.unwrap_or_default();
        let planned_md5 = self.planned.as_ref().map(|d| d.blocks[n as usize]);
        let in_order = self.in_order.clone();
        source::blocking(
            &self.source,
            "reading",
            self.deadline,
            &self.stop,
            move |s, stop, deadline| {
                if stop.is_set() {
                    return Err(ReadFailure::Stopped);
                }
                if std::time::Instant::now() >= deadline {
                    return Err(ReadFailure::Deadline);
                }
                buf.resize(len as usize, 0);
                s.read_at(&mut buf, offset)?;
                let md5 = match planned_md5 {
                    Some(m) => m,
                    None => {
                        let m: [u8; 16] = Md5::digest(&buf).into();
                        in_order.feed(n, &buf, stop)?;
                        m
                    }
                };
                Ok((buf, md5))
            },
        )
        .await
    }
}

/// The failure to report once every worker has ended. A worker stopped by another's failure
/// only echoes it: report the cause, and of several causes the first block's.
async fn first_failure(
    mut workers: tokio::task::JoinSet<std::result::Result<(), (u64, BlockFailure)>>,
) -> Option<(u64, BlockFailure)> {
    let echo = |f: &(u64, BlockFailure)| matches!(&f.1, BlockFailure::Io(e) if e.kind == ErrorKind::Canceled);
    let mut first: Option<(u64, BlockFailure)> = None;
    while let Some(r) = workers.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(f)) => {
                let better = match &first {
                    None => true,
                    Some(old) => match (echo(old), echo(&f)) {
                        (true, false) => true,
                        (false, true) => false,
                        _ => f.0 < old.0,
                    },
                };
                if better {
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
    first
}

/// Commit the block list with the file's MD5, then read back what the service stored: the
/// block list it committed (each block checked by the service against the MD5 its id names),
/// then the properties, whose ETag shows that the list read was of this commit.
async fn commit_and_check(
    p: &UploadPlan,
    transport: &AzureTransport,
    blob: &azure_storage_blob::BlockBlobClient,
    ours: &Digests,
) -> Result<()> {
    let block_size = p.block_size;
    let ids: Vec<Vec<u8>> = ours
        .blocks
        .iter()
        .enumerate()
        .map(|(n, m)| block_id(m, block_size, n as u64))
        .collect();
    let list = BlockLookupList {
        latest: Some(ids),
        ..Default::default()
    };
    let body: RequestContent<BlockLookupList, azure_core::http::XmlFormat> =
        list.try_into().map_err(|e: azure_core::Error| {
            Error::platform(format!("cannot encode the block list: {e}"))
        })?;
    let options = BlockBlobClientCommitBlockListOptions {
        blob_content_md5: Some(ours.whole.to_vec()),
        blob_content_type: Some(content_type(&p.blob_name).to_owned()),
        ..Default::default()
    };
    let committed = blob
        .commit_block_list(body, Some(options))
        .await
        .map_err(|e| storage_error(p, "commit the block list", &Fault::from_sdk(&e)))?;
    let etag = committed.etag().ok().flatten().map(|e| e.to_string());
    let listed = committed_blocks(blob).await.map_err(|e| {
        storage_error(
            p,
            "read back the committed block list",
            &Fault::from_sdk(&e),
        )
    })?;
    let props = client(&p.url, &p.auth, transport, Retry::Standard)?
        .get_properties(None)
        .await
        .map_err(|e| storage_error(p, "read back the uploaded blob", &Fault::from_sdk(&e)))?;
    let length = props.content_length().ok().flatten();
    let stored = props.content_md5().ok().flatten();
    let now = props.etag().ok().flatten().map(|e| e.to_string());
    if compare(length, stored.as_deref(), &listed, p.size, ours, block_size) != Existing::Same
        || now != etag
    {
        return Err(Error::platform(format!(
            "the blob `{}` does not hold what was uploaded: {} bytes in {} committed blocks, MD5 {} (expected {} bytes in {} blocks, MD5 {})",
            p.url,
            length.map(|l| l.to_string()).unwrap_or_else(|| "?".into()),
            listed.len(),
            stored.as_deref().map(hex).unwrap_or_else(|| "none".into()),
            p.size,
            ours.blocks.len(),
            hex(&ours.whole)
        ))
        .with_hint("another writer may have committed the same blob at the same time; run the task again"));
    }
    Ok(())
}

/// Blob Storage refused block `n` as not matching the plan's MD5: either the jar changed since
/// the plan hashed it, or the bytes were altered on the way. A re-read tells which.
async fn mismatch(p: &UploadPlan, n: u64, count: u64, deadline: Instant) -> Error {
    let block_size = p.block_size;
    let offset = n * block_size;
    let len = block_size.min(p.size - offset) as usize;
    let planned = p.digests.as_ref().map(|d| d.blocks[n as usize]);
    let stop = Stop::default();
    let now = source::blocking(&p.source, "reading", deadline, &stop, move |s, _, _| {
        let mut buf = vec![0u8; len];
        s.read_at(&mut buf, offset)?;
        Ok(<[u8; 16]>::from(Md5::digest(&buf)))
    })
    .await;
    match (now, planned) {
        (Ok(m), Some(want)) if m != want => p
            .source
            .changed("was written to")
            .with_detail(format!(
                "block {} of {count} (bytes {offset}..{}) no longer has the MD5 the plan computed; Blob Storage refused it",
                n + 1,
                offset + len as u64
            ))
            .with_detail(NOTHING_COMMITTED),
        _ => Error::network(format!(
            "Blob Storage received block {} of {count} of `{}` with other bytes than were sent (400 Md5Mismatch)",
            n + 1,
            p.file.display()
        ))
        .with_detail(NOTHING_COMMITTED)
        .with_hint("something on the way (a proxy, a broken network card) altered the data; run the task again, and check the agent's proxy if it persists"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_layout_stays_under_the_block_limit() {
        assert_eq!(block_layout(0), (MIN_BLOCK, 0));
        assert_eq!(block_layout(1), (MIN_BLOCK, 1));
        assert_eq!(block_layout(MIN_BLOCK), (MIN_BLOCK, 1));
        assert_eq!(block_layout(MIN_BLOCK + 1), (MIN_BLOCK, 2));
        let huge = 500 * 1024 * 1024 * 1024u64;
        let (b, n) = block_layout(huge);
        assert!(n <= MAX_BLOCKS, "{n}");
        assert_eq!(b % source::PIECE as u64, 0);
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
    fn the_same_blob_needs_length_md5_and_the_committed_blocks_of_this_file() {
        let bs = 4u64;
        let ours = Digests {
            whole: [1; 16],
            blocks: vec![[2; 16], [3; 16]],
        };
        let list = |blocks: &[[u8; 16]], last: i64| -> Vec<ListedBlock> {
            blocks
                .iter()
                .enumerate()
                .map(|(n, m)| {
                    (
                        block_id(m, bs, n as u64),
                        Some(if n == 1 { last } else { 4 }),
                    )
                })
                .collect()
        };
        let good = list(&ours.blocks, 2);
        assert_eq!(
            compare(Some(6), Some(&[1; 16]), &good, 6, &ours, bs),
            Existing::Same
        );
        // The Content-MD5 property says so, but the blocks are another file's.
        let other = list(&[[2; 16], [9; 16]], 2);
        assert_eq!(
            compare(Some(6), Some(&[1; 16]), &other, 6, &ours, bs),
            Existing::Different
        );
        // A blob some other tool committed in one piece.
        let one = vec![(b"AAAA".to_vec(), Some(6))];
        assert_eq!(
            compare(Some(6), Some(&[1; 16]), &one, 6, &ours, bs),
            Existing::Different
        );
        assert_eq!(
            compare(Some(6), Some(&[1; 16]), &good[..1], 6, &ours, bs),
            Existing::Different
        );
        assert_eq!(
            compare(
                Some(6),
                Some(&[1; 16]),
                &list(&ours.blocks, 3),
                6,
                &ours,
                bs
            ),
            Existing::Different
        );
        assert_eq!(
            compare(Some(7), Some(&[1; 16]), &good, 6, &ours, bs),
            Existing::Different
        );
        assert_eq!(
            compare(Some(6), Some(&[2; 16]), &good, 6, &ours, bs),
            Existing::Different
        );
        assert_eq!(
            compare(Some(6), None, &good, 6, &ours, bs),
            Existing::Different
        );
    }

    fn plan_with(auth: BlobAuth) -> UploadPlan {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("job.jar");
        std::fs::write(&file, b"x").unwrap();
        UploadPlan {
            source: Arc::new(Source::open(&file).unwrap()),
            block_size: MIN_BLOCK,
            digests: None,
            file,
            size: 1,
            md5: None,
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
    fn content_types() {
        assert_eq!(content_type("Job.JAR"), "application/java-archive");
        assert_eq!(content_type("job.zip"), "application/octet-stream");
    }
}

//! What is attached to an image, read-only: `triangulate` (where its signatures are),
//! `tree` (the image and everything attached to it) and `download signature` (its
//! signatures and payloads as JSON), as cosign has them.
//!
//! The image is pinned through the registry first, as everywhere in pinsign; then only
//! `GET`/`HEAD` requests follow, through [`crate::storage`] (referrers lists, signatures)
//! and the registry. Nothing is ever written.
//!
//! cosign's output is the model: `triangulate` prints one reference (`--type signature`,
//! the default, is `REG/REPO:sha256-<hex>.sig`, in `COSIGN_REPOSITORY` when set), `tree`
//! lists the `.sig`, `.att` and `.sbom` tags and the referrers by artifact type, and
//! `download signature` prints one JSON document per line: cosign's `SignedPayload` for a
//! simple-signing signature, the bundle itself for a Sigstore bundle.

use std::collections::BTreeSet;

use base64::Engine as _;
use clap::{Args, Subcommand};

use super::args::{self, AttachmentArgs, GlobalArgs, OutputFormat, VerifyMode};
use crate::output::{print_json, print_line};
use crate::reference::{Digest, ImageRef, Repository, Tag};
use crate::registry::{PinnedImage, ReferrersList, Registry, RegistryError, MAX_MANIFEST_BYTES};
use crate::signature::{BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION};
use crate::storage::{self, Found, FoundItem, ReferrersVia, Skipped, Via};
use crate::verification::Lookup;

/// cosign's annotation for a certificate chain on a `.sig` layer.
const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// cosign's annotation for an RFC 3161 timestamp on a `.sig` layer.
const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The manifest annotation cosign v3 puts on a bundle referrer: the statement's predicate.
const BUNDLE_PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// The most referrers `tree` fetches per list (each costs a manifest `GET`).
const MAX_REFERRERS: usize = 1000;

/// The image argument and the options every command here shares.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// The image: REG/REPO:TAG (pinned through the registry first) or REG/REPO@sha256:...
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Signatures live in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,

    #[command(flatten)]
    pub attachment: AttachmentArgs,
}

impl ImageArgs {
    fn parse(&self) -> anyhow::Result<(ImageRef, Option<Repository>)> {
        self.attachment.check()?;
        let image = ImageRef::parse(&self.image)?;
        let repo = Repository::parse_optional(self.signature_repo.as_deref())?;
        Ok((image, repo))
    }
}

/// What `triangulate --type` names (cosign's four, and the referrers tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachmentType {
    /// The `sha256-<hex>.sig` tag (cosign's simple signing).
    #[default]
    Signature,
    /// The `sha256-<hex>.att` tag (cosign's attestations).
    Attestation,
    /// The `sha256-<hex>.sbom` tag (cosign's deprecated SBOM attachments).
    Sbom,
    /// The image itself, by digest.
    Digest,
    /// The referrers tag index `sha256-<hex>` (OCI 1.1's fallback, where Sigstore bundles are
    /// listed on a registry without the referrers API).
    ReferrersTag,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  pinsign triangulate oci.example.org/team/app:1.4
  crane manifest \"$(pinsign triangulate oci.example.org/team/app:1.4)\"
  pinsign triangulate oci.example.org/team/app:1.4 --type referrers-tag -o json")]
pub struct TriangulateArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    /// Which attachment's reference to print.
    #[arg(long = "type", value_enum, default_value_t)]
    pub kind: AttachmentType,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  pinsign tree oci.example.org/team/app:1.4
  pinsign tree -r oci.example.org/team/app@sha256:... -o json")]
pub struct TreeArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    /// On an index, also show what is attached to every child manifest.
    #[arg(short = 'r', long)]
    pub recursive: bool,
}

/// `pinsign download ...`.
#[derive(Debug, Subcommand)]
pub enum DownloadCommand {
    /// Print an image's signatures with their payloads, one JSON document per line as
    /// cosign does (or one document with -o json).
    #[command(after_help = "Examples:
  pinsign download signature oci.example.org/team/app:1.4
  pinsign download signature oci.example.org/team/app:1.4 | jq -r .Payload | base64 -d
  pinsign download signature oci.example.org/team/app:1.4 --mode tag -o json")]
    Signature(DownloadSignatureArgs),
}

#[derive(Debug, Args)]
pub struct DownloadSignatureArgs {
    #[command(flatten)]
    pub image: ImageArgs,

    /// Where to look, as in verify: any (the .sig tag and the referrers), tag or referrers.
    #[arg(long, value_enum, default_value_t)]
    pub mode: VerifyMode,
}

/// Pin the image, with the error naming it.
async fn pin(registry: &Registry, image: &ImageRef) -> anyhow::Result<PinnedImage> {
    registry
        .within_deadline(image.original(), async {
            Ok(registry.resolve(image).await?)
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot resolve {}: {}",
                image.original(),
                super::describe(&e)
            )
        })
}

/// `sha256-<hex>.<suffix>`, cosign's attachment tag.
fn attachment_tag(digest: &Digest, suffix: &str) -> Tag {
    match suffix {
        "sig" => Tag::signature_of(digest),
        _ => Tag::parse(&format!("sha256-{}.{suffix}", digest.hex()))
            .unwrap_or_else(|_| Tag::signature_of(digest)),
    }
}

// ------------------------------------------------------------------ triangulate

/// One place signatures of an image can be (`triangulate -o json`).
#[derive(serde::Serialize)]
struct Place {
    /// `sig-tag`, `referrers-api` or `referrers-tag`.
    via: Via,
    reference: String,
    /// Whether something is there: the tag exists, or the API lists at least one referrer.
    exists: bool,
    /// For the referrers API: how many manifests it lists; `None` when the registry has no
    /// referrers API.
    #[serde(skip_serializing_if = "Option::is_none")]
    referrers: Option<usize>,
    /// For the referrers API: false when the registry has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<bool>,
}

#[derive(serde::Serialize)]
struct Triangulated {
    input: String,
    pinned: PinnedImage,
    digest: Digest,
    #[serde(rename = "type")]
    kind: AttachmentType,
    /// What cosign's `triangulate --type` prints.
    reference: String,
    /// `found` when `reference` exists in the registry, else `none`.
    status: &'static str,
    /// Every place a signature of this image can be, and whether it holds one.
    places: Vec<Place>,
}

pub async fn triangulate(args: TriangulateArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let (image, sig_repo) = args.image.parse()?;
    let registry = Registry::new(global.registry.options()?)?;
    let pinned = pin(&registry, &image).await?;
    let tag_repo = sig_repo
        .clone()
        .unwrap_or_else(|| pinned.repository().clone());
    let digest = pinned.digest();
    let tag = match args.kind {
        AttachmentType::Signature => Some(attachment_tag(digest, "sig")),
        AttachmentType::Attestation => Some(attachment_tag(digest, "att")),
        AttachmentType::Sbom => Some(attachment_tag(digest, "sbom")),
        AttachmentType::Digest => None,
        AttachmentType::ReferrersTag => Some(Tag::referrers_of(digest)),
    };
    let reference = match &tag {
        Some(tag) => format!("{tag_repo}:{tag}"),
        None => pinned.to_string(),
    };
    if args.image.output == OutputFormat::Text {
        // cosign prints the name without asking the registry whether it exists.
        return print_line(&reference);
    }
    let work = places(&registry, &pinned, &tag_repo);
    let places = look(&registry, &image, work).await?;
    let exists = match (args.kind, &tag) {
        (AttachmentType::Signature, _) => places[0].exists,
        (AttachmentType::ReferrersTag, _) => places[2].exists,
        (_, Some(tag)) => registry
            .head_manifest(&tag_repo, tag.as_str())
            .await?
            .is_some(),
        (_, None) => true,
    };
    print_json(&Triangulated {
        input: image.original().to_string(),
        digest: digest.clone(),
        pinned: pinned.clone(),
        kind: args.kind,
        reference,
        status: if exists { "found" } else { "none" },
        places,
    })
}

/// The `.sig` tag, the referrers API, the referrers tag index: where each is and whether it
/// holds anything (two `HEAD`s and one referrers `GET`).
async fn places(
    registry: &Registry,
    pinned: &PinnedImage,
    tag_repo: &Repository,
) -> anyhow::Result<Vec<Place>> {
    let digest = pinned.digest();
    let sig_tag = pinned.signature_tag();
    let sig = registry
        .head_manifest(tag_repo, sig_tag.as_str())
        .await?
        .is_some();
    let (available, count) = match registry.list_referrers(pinned.repository(), digest).await? {
        ReferrersList::Api(bytes) => (
            true,
            crate::bundle::parse_referrers_index(&bytes)
                .map(|i| i.entries().len())
                .unwrap_or(0),
        ),
        ReferrersList::NoApi { .. } => (false, 0),
    };
    let referrers_tag = Tag::referrers_of(digest);
    let listed = registry
        .head_manifest(tag_repo, referrers_tag.as_str())
        .await?
        .is_some();
    Ok(vec![
        Place {
            via: Via::SigTag,
            reference: format!("{tag_repo}:{sig_tag}"),
            exists: sig,
            referrers: None,
            available: None,
        },
        Place {
            via: Via::ReferrersApi,
            reference: format!("{pinned}"),
            exists: count > 0,
            referrers: available.then_some(count),
            available: Some(available),
        },
        Place {
            via: Via::ReferrersTag,
            reference: format!("{tag_repo}:{referrers_tag}"),
            exists: listed,
            referrers: None,
            available: None,
        },
    ])
}

// ------------------------------------------------------------------ tree

/// A layer of an attached manifest.
#[derive(Debug, Clone, serde::Serialize)]
struct LayerInfo {
    digest: String,
    media_type: String,
    size: u64,
}

/// One thing attached to an image.
#[derive(Debug, Clone, serde::Serialize)]
struct Attachment {
    /// `signatures`, `attestations`, `sboms` (cosign's tags) or `referrer`.
    kind: &'static str,
    /// `sig-tag` (also for `.att`/`.sbom` tags), `referrers-api` or `referrers-tag`.
    via: Via,
    /// `REG/REPO:sha256-<hex>.sig`, or `REG/REPO@sha256:<referrer>`.
    reference: String,
    /// For a referrer: its `artifactType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    /// For a bundle referrer: the predicate type cosign v3 notes on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    predicate_type: Option<String>,
    /// For a referrer found through the referrers tag: that index.
    #[serde(skip_serializing_if = "Option::is_none")]
    listed_in: Option<String>,
    layers: Vec<LayerInfo>,
    /// Why the manifest could not be read (then `layers` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// An image (or a child of an index) and what is attached to it.
#[derive(Debug, Clone, serde::Serialize)]
struct Node {
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    pinned: PinnedImage,
    digest: Digest,
    media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    /// `found` when anything is attached, else `none`.
    status: &'static str,
    attached: Vec<Attachment>,
    /// For an index: its manifests (with `-r`, each with what is attached to it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    manifests: Vec<Node>,
}

pub async fn tree(args: TreeArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let (image, sig_repo) = args.image.parse()?;
    let registry = Registry::new(global.registry.options()?)?;
    let pinned = pin(&registry, &image).await?;
    let work = tree_of(&registry, &pinned, sig_repo.as_ref(), args.recursive);
    let mut root = look(&registry, &image, work).await?;
    root.input = Some(image.original().to_string());
    tracing::info!("{} registry requests", registry.request_count());
    match args.image.output {
        OutputFormat::Json => print_json(&root),
        OutputFormat::Text => {
            let title = if image.original() == root.pinned.to_string() {
                format!("{}", root.pinned)
            } else {
                format!("{} (from {})", root.pinned, image.original())
            };
            print_line(&title)?;
            for line in tree_lines(&root, "") {
                print_line(&line)?;
            }
            Ok(())
        }
    }
}

async fn tree_of(
    registry: &Registry,
    pinned: &PinnedImage,
    sig_repo: Option<&Repository>,
    recursive: bool,
) -> anyhow::Result<Node> {
    let mut node = node_of(registry, pinned, sig_repo).await?;
    if pinned.is_index() {
        let children = registry.index_children(pinned).await?;
        // The platforms by child digest (the index was just read; the second read is cheap).
        let platforms: Vec<(String, String)> = match registry.get_index(pinned).await {
            Ok(index) => index
                .manifests
                .iter()
                .filter_map(|m| {
                    let p = m.platform.as_ref()?;
                    let name = match &p.variant {
                        Some(v) if !v.is_empty() => format!("{}/{}/{v}", p.os, p.architecture),
                        _ => format!("{}/{}", p.os, p.architecture),
                    };
                    Some((m.digest.clone(), name))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for child in children {
            let platform = platforms
                .iter()
                .find(|(d, _)| d == child.digest().as_str())
                .map(|(_, p)| p.clone());
            let mut sub = if recursive {
                node_of(registry, &child, sig_repo).await?
            } else {
                Node {
                    input: None,
                    digest: child.digest().clone(),
                    media_type: child.media_type().to_string(),
                    pinned: child.clone(),
                    platform: None,
                    status: "none",
                    attached: Vec::new(),
                    manifests: Vec::new(),
                }
            };
            sub.platform = platform;
            node.manifests.push(sub);
        }
    }
    Ok(node)
}

/// What is attached to one manifest: cosign's three tags, then the referrers (through the
/// API or the referrers tag, and the referrers tag too where the registry has the API; in
/// the signature repository too when one is given).
async fn node_of(
    registry: &Registry,
    pinned: &PinnedImage,
    sig_repo: Option<&Repository>,
) -> anyhow::Result<Node> {
    let image_repo = pinned.repository();
    let tag_repo = sig_repo.unwrap_or(image_repo);
    let digest = pinned.digest();
    let mut attached = Vec::new();
    for (suffix, kind) in [
        ("sig", "signatures"),
        ("att", "attestations"),
        ("sbom", "sboms"),
    ] {
        let tag = attachment_tag(digest, suffix);
        if let Some(manifest) = registry.get_manifest(tag_repo, tag.as_str()).await? {
            let (layers, error) = match manifest_layers(&manifest.bytes) {
                Ok(l) => (l, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            attached.push(Attachment {
                kind,
                via: Via::SigTag,
                reference: format!("{tag_repo}:{tag}"),
                artifact_type: None,
                predicate_type: None,
                listed_in: None,
                layers,
                error,
            });
        }
    }
    let mut repos = vec![image_repo];
    if tag_repo != image_repo {
        repos.push(tag_repo);
    }
    let mut seen = BTreeSet::new();
    for repo in repos {
        let first = list(registry, repo, digest, ReferrersVia::Auto).await?;
        let also_tag = matches!(&first, Ok(l) if l.via == Via::ReferrersApi);
        let mut listings = vec![first];
        if also_tag {
            listings.push(list(registry, repo, digest, ReferrersVia::Tag).await?);
        }
        for listing in listings {
            match listing {
                Ok(listing) => {
                    referrers_of(registry, repo, &listing, &mut seen, &mut attached).await?
                }
                Err(place_error) => attached.push(place_error),
            }
        }
    }
    Ok(Node {
        input: None,
        digest: digest.clone(),
        media_type: pinned.media_type().to_string(),
        pinned: pinned.clone(),
        platform: None,
        status: if attached.is_empty() { "none" } else { "found" },
        attached,
        manifests: Vec::new(),
    })
}

/// A referrers list, or (for a list that is there but unreadable) an entry saying so.
/// Registry failures are errors.
async fn list(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
    how: ReferrersVia,
) -> anyhow::Result<Result<storage::Listing, Attachment>> {
    match storage::list_referrers(registry, repo, digest, how).await {
        Ok(listing) => Ok(Ok(listing)),
        Err(e) if e.chain().any(|c| c.is::<RegistryError>()) => Err(e),
        Err(e) => Ok(Err(Attachment {
            kind: "referrer",
            via: if how == ReferrersVia::Tag {
                Via::ReferrersTag
            } else {
                Via::ReferrersApi
            },
            reference: format!("{repo}:{}", Tag::referrers_of(digest)),
            artifact_type: None,
            predicate_type: None,
            listed_in: None,
            layers: Vec::new(),
            error: Some(crate::error::one_line(&e)),
        })),
    }
}

async fn referrers_of(
    registry: &Registry,
    repo: &Repository,
    listing: &storage::Listing,
    seen: &mut BTreeSet<String>,
    attached: &mut Vec<Attachment>,
) -> anyhow::Result<()> {
    let entries = listing.index.as_ref().map(|i| i.entries()).unwrap_or(&[]);
    for entry in entries.iter().take(MAX_REFERRERS) {
        if !seen.insert(format!("{repo}@{}", entry.digest)) {
            continue;
        }
        let mut found = Attachment {
            kind: "referrer",
            via: listing.via,
            reference: format!("{repo}@{}", entry.digest),
            artifact_type: entry.artifact_type.clone(),
            predicate_type: entry.annotations.get(BUNDLE_PREDICATE_ANNOTATION).cloned(),
            listed_in: listing.index_ref().map(str::to_string),
            layers: Vec::new(),
            error: None,
        };
        match entry.sha256() {
            None => {
                found.error = Some(format!("listed with digest {:?}, not sha256", entry.digest))
            }
            Some(_) if entry.size > MAX_MANIFEST_BYTES as u64 => {
                found.error = Some(format!(
                    "listed as {} bytes, more than pinsign reads for a manifest; not fetched",
                    entry.size
                ))
            }
            Some(d) => match registry.get_manifest(repo, d.as_str()).await {
                Ok(Some(manifest)) => match manifest_layers(&manifest.bytes) {
                    Ok(layers) => {
                        found.layers = layers;
                        if found.predicate_type.is_none() {
                            found.predicate_type =
                                manifest_annotation(&manifest.bytes, BUNDLE_PREDICATE_ANNOTATION);
                        }
                    }
                    Err(e) => found.error = Some(e),
                },
                Ok(None) => found.error = Some(format!("listed, but {repo} does not have it")),
                Err(e @ RegistryError::DigestMismatch { .. }) => {
                    found.error = Some(format!("not read intact: {e}"))
                }
                Err(e) => return Err(e.into()),
            },
        }
        attached.push(found);
    }
    Ok(())
}

/// The `layers` of a manifest, read loosely (any manifest may be attached).
fn manifest_layers(bytes: &[u8]) -> Result<Vec<LayerInfo>, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let Some(layers) = doc.get("layers").and_then(|l| l.as_array()) else {
        return Ok(Vec::new());
    };
    Ok(layers
        .iter()
        .map(|l| LayerInfo {
            digest: l
                .get("digest")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            media_type: l
                .get("mediaType")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            size: l.get("size").and_then(|v| v.as_u64()).unwrap_or(0),
        })
        .collect())
}

fn manifest_annotation(bytes: &[u8], name: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    Some(doc.get("annotations")?.get(name)?.as_str()?.to_string())
}

/// The text tree under a node, each line prefixed with `indent`.
fn tree_lines(node: &Node, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let items = node.attached.len() + node.manifests.len();
    if items == 0 {
        lines.push(format!("{indent}└── nothing attached"));
        return lines;
    }
    let mut i = 0;
    let mut branch = |lines: &mut Vec<String>, text: String| -> String {
        i += 1;
        let last = i == items;
        lines.push(format!(
            "{indent}{} {text}",
            if last { "└──" } else { "├──" }
        ));
        format!("{indent}{}", if last { "    " } else { "│   " })
    };
    for a in &node.attached {
        let text = match (a.kind, a.via) {
            ("referrer", via) => {
                let what = a
                    .predicate_type
                    .as_deref()
                    .or(a.artifact_type.as_deref())
                    .unwrap_or("no artifact type");
                let how = match (via, &a.listed_in) {
                    (Via::ReferrersTag, Some(index)) => format!("referrers tag {index}"),
                    _ => via.describe().to_string(),
                };
                format!("{what} ({how}): {}", a.reference)
            }
            (kind, _) => format!("{kind} (.{} tag): {}", tag_suffix(kind), a.reference),
        };
        let inner = branch(&mut lines, text);
        if let Some(e) = &a.error {
            lines.push(format!("{inner}└── cannot read: {e}"));
        }
        for (j, l) in a.layers.iter().enumerate() {
            let mark = if j + 1 == a.layers.len() {
                "└──"
            } else {
                "├──"
            };
            lines.push(format!("{inner}{mark} {} {}", l.digest, l.media_type));
        }
    }
    for m in &node.manifests {
        let platform = m
            .platform
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let inner = branch(&mut lines, format!("manifest {}{platform}", m.pinned));
        if !m.attached.is_empty() || !m.manifests.is_empty() {
            lines.extend(tree_lines(m, &inner));
        }
    }
    lines
}

fn tag_suffix(kind: &str) -> &'static str {
    match kind {
        "attestations" => "att",
        "sboms" => "sbom",
        _ => "sig",
    }
}

// ------------------------------------------------------------------ download signature

/// One simple-signing signature as `cosign download signature` prints it: Go's
/// `cosign.SignedPayload` marshalled with its field names (`Payload` is base64, as Go
/// encodes a byte slice). `Cert` and `Chain` are PEM text here (Go prints the parsed
/// certificate struct), `Bundle` and `RFC3161Timestamp` the annotations' JSON.
#[derive(serde::Serialize)]
struct SignedPayload {
    #[serde(rename = "Base64Signature")]
    base64_signature: String,
    #[serde(rename = "Payload")]
    payload: String,
    #[serde(rename = "Cert")]
    cert: Option<String>,
    #[serde(rename = "Chain")]
    chain: Option<Vec<String>>,
    #[serde(rename = "Bundle")]
    bundle: Option<serde_json::Value>,
    #[serde(rename = "RFC3161Timestamp")]
    rfc3161_timestamp: Option<serde_json::Value>,
}

/// One signature in `download signature -o json`.
#[derive(serde::Serialize)]
struct Downloaded {
    /// `simplesigning` or `bundle`.
    format: storage::Format,
    via: Via,
    /// The manifest holding it.
    location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    listed_in: Option<String>,
    /// Simple signing: the payload text, exactly as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    /// Simple signing: the base64 signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
    /// A Sigstore bundle, as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle: Option<serde_json::Value>,
    /// The line the default output prints for it.
    #[serde(skip)]
    line: String,
}

#[derive(serde::Serialize)]
struct DownloadReport {
    input: String,
    pinned: PinnedImage,
    digest: Digest,
    /// `found`, or `none` (then exit 1, as cosign).
    status: &'static str,
    signatures: Vec<Downloaded>,
    /// What could not be read, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<Skipped>,
    /// Where pinsign looked.
    places: Vec<String>,
}

pub fn download(cmd: DownloadCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        DownloadCommand::Signature(args) => super::block_on(download_signature(args, global)),
    }
}

async fn download_signature(
    args: DownloadSignatureArgs,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let (image, _) = args.image.parse()?;
    let lookup = args::lookup(args.mode, args.image.signature_repo.as_deref())?;
    let registry = Registry::new(global.registry.options()?)?;
    let pinned = pin(&registry, &image).await?;
    let work = find(&registry, &pinned, &lookup);
    let (found, skipped, places) = registry
        .within_deadline(image.original(), work)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot download the signatures of {}: {}",
                image.original(),
                super::describe(&e)
            )
        })?;
    let mut skipped = skipped;
    let mut signatures = Vec::new();
    for f in found {
        match downloaded(f) {
            Ok(d) => signatures.push(d),
            Err(s) => skipped.push(s),
        }
    }
    let report = DownloadReport {
        input: image.original().to_string(),
        digest: pinned.digest().clone(),
        pinned,
        status: if signatures.is_empty() {
            "none"
        } else {
            "found"
        },
        signatures,
        skipped,
        places,
    };
    match args.image.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => {
            for s in &report.skipped {
                eprintln!("pinsign: warning: skipped {}: {}", s.location, s.reason);
            }
            for s in &report.signatures {
                print_line(&s.line)?;
            }
        }
    }
    if report.signatures.is_empty() {
        return Err(anyhow::anyhow!(
            "no signatures found for {} (looked in {})",
            report.pinned,
            report.places.join(" and ")
        ));
    }
    Ok(())
}

/// Every signature stored for `pinned`, where `lookup` says (as `verify` looks).
async fn find(
    registry: &Registry,
    pinned: &PinnedImage,
    lookup: &Lookup,
) -> anyhow::Result<(Vec<Found>, Vec<Skipped>, Vec<String>)> {
    let image_repo = pinned.repository();
    let (sig_repo, how) = match lookup {
        Lookup::Tag { repository } => (Some(repository.as_ref()), ReferrersVia::Tag),
        Lookup::Any { repository } => (Some(repository.as_ref()), ReferrersVia::Auto),
        Lookup::Referrers => (None, ReferrersVia::Api),
    };
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut places = Vec::new();
    if let Some(repository) = sig_repo {
        let repo = repository.unwrap_or(image_repo);
        places.push(format!("{repo}:{}", pinned.signature_tag()));
        match storage::fetch_from_tag(registry, pinned, repo).await {
            Ok(Some(layers)) => found.extend(layers),
            Ok(None) => {}
            Err(e) if e.chain().any(|c| c.is::<RegistryError>()) => return Err(e),
            Err(e) => skipped.push(Skipped {
                location: format!("{repo}:{}", pinned.signature_tag()),
                reason: crate::error::one_line(&e),
            }),
        }
    }
    let mut repos = vec![image_repo];
    if let Some(Some(r)) = sig_repo {
        if r != image_repo {
            repos.push(r);
        }
    }
    for repo in repos {
        let listed = storage::fetch_referrers(registry, pinned, repo, how).await?;
        places.push(listed.place);
        found.extend(listed.found);
        skipped.extend(listed.skipped);
    }
    Ok((found, skipped, places))
}

/// A found signature as printed, or why it cannot be (its bytes were not read intact).
fn downloaded(found: Found) -> Result<Downloaded, Skipped> {
    let format = found.format();
    let b64 = base64::engine::general_purpose::STANDARD;
    match found.item {
        FoundItem::Layer { layer, fetch_error } => {
            if let Some(reason) = fetch_error {
                return Err(Skipped {
                    location: found.location,
                    reason,
                });
            }
            let annotations = layer.descriptor.annotations();
            let signature = layer.descriptor.signature_b64().unwrap_or("").to_string();
            let cert = annotations.get(CERTIFICATE_ANNOTATION).cloned();
            let json_of = |name: &str| {
                annotations
                    .get(name)
                    .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            };
            let cosign = SignedPayload {
                base64_signature: signature.clone(),
                payload: b64.encode(&layer.blob),
                cert: cert.clone(),
                chain: annotations.get(CHAIN_ANNOTATION).map(|c| split_pem(c)),
                bundle: json_of(BUNDLE_ANNOTATION),
                rfc3161_timestamp: json_of(RFC3161_ANNOTATION),
            };
            let line = serde_json::to_string(&cosign).unwrap_or_default();
            Ok(Downloaded {
                format,
                via: found.via,
                location: found.location,
                listed_in: found.listed_in,
                payload: Some(String::from_utf8_lossy(&layer.blob).into_owned()),
                signature: Some(signature),
                certificate: cert,
                bundle: None,
                line,
            })
        }
        FoundItem::Bundle { bytes, .. } => {
            let bytes = bytes.map_err(|refusal| Skipped {
                location: found.location.clone(),
                reason: refusal.to_string(),
            })?;
            let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Skipped {
                location: found.location.clone(),
                reason: format!("the bundle is not JSON: {e}"),
            })?;
            // The bundle as stored when it is one line (keeping its field order, as cosign
            // prints it), else compacted.
            let text = String::from_utf8_lossy(&bytes);
            let line = match text.trim_end() {
                one if !one.contains('\n') => one.to_string(),
                _ => doc.to_string(),
            };
            Ok(Downloaded {
                format,
                via: found.via,
                location: found.location,
                listed_in: found.listed_in,
                payload: None,
                signature: None,
                certificate: None,
                line,
                bundle: Some(doc),
            })
        }
    }
}

/// The PEM blocks of a concatenated chain.
fn split_pem(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// Run `work` on `image` within the per-image deadline; an error names the image.
async fn look<T>(
    registry: &Registry,
    image: &ImageRef,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    registry
        .within_deadline(image.original(), work)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot look at {}: {}",
                image.original(),
                super::describe(&e)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_chains_split_into_certificates() {
        let chain = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let parts = split_pem(chain);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].contains("BBB"));
    }

    #[test]
    fn layers_are_read_loosely() {
        let m = br#"{"layers":[{"mediaType":"a","digest":"sha256:00","size":3}],"annotations":{"dev.sigstore.bundle.predicateType":"p"}}"#;
        let layers = manifest_layers(m).unwrap();
        assert_eq!(layers[0].media_type, "a");
        assert_eq!(layers[0].size, 3);
        assert_eq!(
            manifest_annotation(m, BUNDLE_PREDICATE_ANNOTATION).as_deref(),
            Some("p")
        );
        assert!(manifest_layers(b"nope").is_err());
        assert!(manifest_layers(b"{}").unwrap().is_empty());
    }

    #[test]
    fn cosign_signed_payload_field_names() {
        let p = SignedPayload {
            base64_signature: "c2ln".into(),
            payload: "cA==".into(),
            cert: None,
            chain: None,
            bundle: None,
            rfc3161_timestamp: None,
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"Base64Signature":"c2ln","Payload":"cA==","Cert":null,"Chain":null,"Bundle":null,"RFC3161Timestamp":null}"#
        );
    }
}

//! `sign-blob FILE` and `verify-blob FILE`: signatures over files (release tarballs), as
//! cosign has them, so a signature can be made and checked without a registry.
//!
//! A file is hashed as it is read (bounded memory whatever its size); the signature covers
//! its bytes. Verification takes a Sigstore bundle (`--bundle`, a message signature or a
//! DSSE statement naming the file's digest) or cosign's detached form (`--signature`, plus
//! `--certificate` and `--rekor-bundle` when keyless), with `--key` or the keyless flags.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Args;

use super::args::{CosignSignArgs, KeylessArgs, OutputFormat, PasswordArgs};
use crate::bundle::{self, BlobArtifact, BlobPolicy};
use crate::error::UsageError;
use crate::files::write_atomic;
use crate::keyless::{self, BundleSubject, DetachedSignature, SignedArtifact};
use crate::keys::{load_public_key, SigningKey};
use crate::output::{print_json, print_line};
use crate::reference::Digest;

/// Files up to this size are also held in memory, so keys that cannot verify a bare digest
/// (RSA, Ed25519) still can; larger ones are verified from their digest (ECDSA keys).
const IN_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// The largest signature, certificate or Rekor bundle file read.
const MAX_SMALL_FILE: u64 = 1024 * 1024;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  pinsign sign-blob pinsign.tar.gz --key env://COSIGN_PRIVATE_KEY --bundle pinsign.tar.gz.sigstore.json
  pinsign sign-blob notes.txt --key cosign.key --output-signature notes.txt.sig")]
pub struct SignBlobArgs {
    /// The file to sign.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Private key: a file path or env://VAR.
    #[arg(long, value_name = "KEY")]
    pub key: String,

    /// Write a Sigstore bundle (v0.3, a message signature) here.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// Write the signature (base64 DER, as cosign does) here; without this or --bundle it
    /// goes to stdout.
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub cosign: CosignSignArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  pinsign verify-blob pinsign.tar.gz --bundle pinsign.tar.gz.sigstore.json --key release.pub
  pinsign verify-blob a.txt --bundle a.txt.sigstore.json \\
      --certificate-identity-regexp '^https://github\\.com/acme/' \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com
  pinsign verify-blob payload.json --signature payload.sig --certificate cert.pem \\
      --rekor-bundle rekor.json --certificate-identity me@example.org \\
      --certificate-oidc-issuer https://accounts.google.com")]
pub struct VerifyBlobArgs {
    /// The file whose signature to check, or sha256:HEX for a file known only by its digest.
    #[arg(value_name = "FILE|sha256:HEX")]
    pub file: String,

    /// A Sigstore bundle (message signature, or a DSSE statement naming the file).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["signature", "certificate", "rekor_bundle"])]
    pub bundle: Option<PathBuf>,

    /// A detached signature (base64 DER, as cosign sign-blob writes).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// The signing certificate (PEM) of a keyless detached signature.
    #[arg(long, value_name = "FILE", requires = "signature")]
    pub certificate: Option<PathBuf>,

    /// The certificate chain (PEM) of a keyless detached signature; a hint only, trust comes
    /// from the trusted root.
    #[arg(long, value_name = "FILE", requires = "certificate")]
    pub certificate_chain: Option<PathBuf>,

    /// cosign's Rekor bundle (the signed entry timestamp) of a keyless detached signature.
    #[arg(long, value_name = "FILE", requires = "certificate")]
    pub rekor_bundle: Option<PathBuf>,

    /// Public key (PEM file or env://VAR); repeat for a rotation overlap.
    #[arg(long, value_name = "PUB")]
    pub key: Vec<String>,

    /// For a DSSE bundle: the predicate type its statement must have.
    #[arg(long, value_name = "URI")]
    pub predicate_type: Option<String>,

    #[command(flatten)]
    pub keyless: KeylessArgs,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub fn sign_blob(args: SignBlobArgs) -> anyhow::Result<()> {
    args.cosign.check()?;
    let key = SigningKey::load(&args.key, &args.password.source())?;
    let file = read_file(&args.file)?;
    let signature = key.sign_digest(&file.digest);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&signature);
    if let Some(path) = &args.bundle {
        let built = bundle::blob_bundle_of_digest(&file.digest, &key);
        write_atomic(path, &built.bytes, 0o644)?;
        eprintln!("Wrote bundle {}", path.display());
    }
    if let Some(path) = &args.output_signature {
        write_atomic(path, b64.as_bytes(), 0o644)?;
        eprintln!("Wrote signature {}", path.display());
    }
    eprintln!(
        "signed {} ({}) with {} ({})",
        args.file.display(),
        file.digest,
        key.source(),
        key.fingerprint()
    );
    if args.bundle.is_none() && args.output_signature.is_none() {
        print_line(&b64)?;
    }
    Ok(())
}

/// What `verify-blob -o json` prints.
#[derive(serde::Serialize)]
struct Report {
    input: String,
    digest: Digest,
    verified: bool,
    /// `bundle` or `signature` (cosign's detached form).
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyless: Option<keyless::KeylessVerified>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The report with `status` (`verified`, `not-verified`: the words of `verify`), the field
/// every command's JSON has.
#[derive(serde::Serialize)]
struct WithStatus<'a> {
    #[serde(flatten)]
    report: &'a Report,
    status: &'static str,
}

pub fn verify_blob(args: VerifyBlobArgs) -> anyhow::Result<()> {
    let keyless = args.keyless.keyless(args.key.len())?;
    if keyless.is_none() && args.key.is_empty() {
        return Err(UsageError::new(
            "give --key PUB, or the keyless flags (--certificate-identity and --certificate-oidc-issuer)",
        )
        .into());
    }
    if args.bundle.is_none() && args.signature.is_none() {
        return Err(UsageError::new("give --bundle FILE, or --signature FILE").into());
    }
    if keyless.is_some() && args.signature.is_some() && args.certificate.is_none() {
        return Err(UsageError::new(
            "a keyless detached signature needs --certificate and --rekor-bundle",
        )
        .into());
    }
    if args.certificate.is_some() && args.rekor_bundle.is_none() {
        return Err(UsageError::new(
            "--certificate needs --rekor-bundle (cosign's signed entry timestamp): without it nothing says when the certificate was used",
        )
        .into());
    }
    if keyless.is_none() && args.certificate.is_some() {
        return Err(UsageError::new(
            "--certificate is for keyless verification: give --certificate-identity and --certificate-oidc-issuer instead of --key",
        )
        .into());
    }
    let keys = args
        .key
        .iter()
        .map(|k| load_public_key(k, &args.password.source()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = artifact(&args.file)?;
    let blob = match &file.bytes {
        Some(bytes) => BlobArtifact::Bytes(bytes),
        None => BlobArtifact::Digest(&file.digest),
    };
    let mut report = Report {
        input: args.file.clone(),
        digest: file.digest.clone(),
        verified: false,
        format: if args.bundle.is_some() {
            "bundle"
        } else {
            "signature"
        },
        key: None,
        key_source: None,
        keyless: None,
        reason: None,
    };
    match (&keyless, &args.bundle) {
        (None, Some(path)) => {
            let bytes = read_small(path, bundle::MAX_BUNDLE_BYTES as u64)?;
            let policy = BlobPolicy {
                keys: &keys,
                predicate_type: args.predicate_type.as_deref(),
            };
            let check = bundle::verify_blob_bundle(&bytes, blob, &policy);
            report.verified = check.verified;
            report.key = check.key.clone();
            report.key_source = check.key_source.clone();
            report.reason = check.reason.clone();
        }
        (None, None) => {
            let path = args.signature.as_deref().unwrap_or(Path::new(""));
            let text = read_small(path, MAX_SMALL_FILE)?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(String::from_utf8_lossy(&text).trim())
                .map_err(|e| {
                    UsageError::new(format!(
                        "{} is not a base64 signature (as cosign sign-blob writes): {e}",
                        path.display()
                    ))
                })?;
            let found = match blob {
                BlobArtifact::Bytes(bytes) => keys.iter().find(|k| k.verify(bytes, &der)),
                BlobArtifact::Digest(d) => keys.iter().find(|k| k.verify_digest(d, &der)),
            };
            match found {
                Some(k) => {
                    report.verified = true;
                    report.key = Some(k.fingerprint());
                    report.key_source = Some(k.source().to_string());
                }
                None => {
                    report.reason = Some(format!(
                        "the signature does not verify with {}",
                        if keys.len() == 1 {
                            "the key".to_string()
                        } else {
                            format!("any of the {} keys", keys.len())
                        }
                    ))
                }
            }
        }
        (Some(k), Some(path)) => {
            let bytes = read_small(path, bundle::MAX_BUNDLE_BYTES as u64)?;
            let result = bundle::Bundle::parse(&bytes)
                .map_err(|e| keyless::KeylessError::new(keyless::Check::Input, e.to_string()))
                .and_then(|b| {
                    keyless::verify_bundle(
                        &b,
                        BundleSubject::Blob {
                            artifact: blob,
                            predicate_type: args.predicate_type.as_deref(),
                        },
                        &k.root,
                        &k.policy,
                    )
                });
            keyless_result(&mut report, result);
        }
        (Some(k), None) => {
            let read = |p: &Option<PathBuf>| -> anyhow::Result<Option<String>> {
                p.as_deref()
                    .map(|p| {
                        read_small(p, MAX_SMALL_FILE)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .transpose()
            };
            let signature = read(&args.signature)?.unwrap_or_default();
            let certificate = read(&args.certificate)?.unwrap_or_default();
            let chain = read(&args.certificate_chain)?;
            let rekor = read(&args.rekor_bundle)?.unwrap_or_default();
            let digest_bytes = hex::decode(file.digest.hex()).unwrap_or_default();
            let digest_array: [u8; 32] = digest_bytes.try_into().unwrap_or([0; 32]);
            let artifact = match &file.bytes {
                Some(bytes) => SignedArtifact::Bytes(bytes),
                None => SignedArtifact::Sha256(&digest_array),
            };
            let result = keyless::verify_detached(
                &DetachedSignature {
                    signature_b64: &signature,
                    certificate_pem: &certificate,
                    chain_pem: chain.as_deref(),
                    bundle_json: &rekor,
                },
                artifact,
                &k.root,
                &k.policy,
            );
            keyless_result(&mut report, result);
        }
    }
    match args.output {
        OutputFormat::Json => print_json(&WithStatus {
            status: if report.verified {
                "verified"
            } else {
                "not-verified"
            },
            report: &report,
        })?,
        OutputFormat::Text => print_text(&report),
    }
    if report.verified {
        Ok(())
    } else {
        Err(crate::error::BatchFailed {
            failed: 1,
            total: 1,
        }
        .into())
    }
}

fn keyless_result(
    report: &mut Report,
    result: Result<keyless::KeylessVerified, keyless::KeylessError>,
) {
    match result {
        Ok(v) => {
            report.verified = true;
            report.keyless = Some(v);
        }
        Err(e) => report.reason = Some(e.to_string()),
    }
}

fn print_text(report: &Report) {
    let what = format!("{} ({})", report.input, report.digest);
    if !report.verified {
        eprintln!(
            "pinsign: error: {what} is NOT verified: {}",
            report.reason.as_deref().unwrap_or("no signature verified")
        );
        return;
    }
    let line = match (&report.keyless, &report.key) {
        (Some(k), _) => format!(
            "verified {what}: signed by {} (issuer {}), logged in Rekor at {} (logIndex {})",
            k.identity,
            k.issuer,
            crate::keyless::time::format_utc(k.integrated_time),
            k.log_index
        ),
        (None, Some(fp)) => format!(
            "verified {what}: signed by {} ({fp})",
            report.key_source.as_deref().unwrap_or("the key")
        ),
        (None, None) => format!("verified {what}"),
    };
    let _ = print_line(&line);
}

/// A file to verify: its digest, and its bytes when it is small enough to hold.
struct FileArtifact {
    digest: Digest,
    bytes: Option<Vec<u8>>,
}

/// `FILE`, or `sha256:HEX` for a file known only by its digest (when no such file exists).
fn artifact(arg: &str) -> anyhow::Result<FileArtifact> {
    let path = Path::new(arg);
    if !path.exists() {
        if let Ok(digest) = Digest::parse(arg) {
            return Ok(FileArtifact {
                digest,
                bytes: None,
            });
        }
    }
    read_file(path)
}

/// Hash a file as it is read; keep its bytes if it is at most [`IN_MEMORY_BYTES`].
fn read_file(path: &Path) -> anyhow::Result<FileArtifact> {
    use sha2::Digest as _;
    let failed = |e: std::io::Error| {
        anyhow::Error::new(UsageError::new(format!(
            "cannot read {}: {e}",
            path.display()
        )))
    };
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let mut hasher = sha2::Sha256::new();
    let mut kept: Option<Vec<u8>> = Some(Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(failed)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(k) = &mut kept {
            if (k.len() + n) as u64 > IN_MEMORY_BYTES {
                kept = None;
            } else {
                k.extend_from_slice(&buf[..n]);
            }
        }
    }
    let digest = Digest::parse(&format!("sha256:{}", hex::encode(hasher.finalize())))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(FileArtifact {
        digest,
        bytes: kept,
    })
}

/// A small input file: a signature, certificate or bundle.
fn read_small(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    crate::files::read_bounded(path, max, "a signature, certificate or bundle")
}

//! Keyless verification of a Sigstore bundle: the bundle's certificate, transparency-log entry
//! and signature go through [`verify_keyless`] (every check of the keyless list), then the
//! in-toto statement of a DSSE bundle is checked against what it must be about.
//!
//! The bundle's parsing and the statement rules are [`crate::bundle`]'s; this module only
//! joins them to the keyless checks, so a keyed and a keyless bundle are judged by the same
//! statement code.

use std::collections::BTreeMap;

use super::identity::IdentityPolicy;
use super::report::{Check, KeylessError};
use super::trust_root::TrustedRoot;
use super::verify::{verify_keyless, KeylessInput, KeylessVerified, SignedArtifact};
use crate::bundle::{
    check_image_statement, BlobArtifact, Bundle, BundleCheck, Content, HashAlgorithm, ImagePolicy,
    KeyMaterial, Statement,
};
use crate::reference::Digest;

/// What a bundle must be about.
#[derive(Clone, Copy, Debug)]
pub enum BundleSubject<'a> {
    /// A container image signature: a DSSE in-toto statement whose subject is `digest`, with
    /// `predicate_type` (cosign's sign predicate unless told) and these subject annotations.
    Image {
        digest: &'a Digest,
        predicate_type: &'a str,
        annotations: &'a BTreeMap<String, String>,
    },
    /// A file: a message signature over it, or a DSSE statement naming its sha256 (with
    /// `predicate_type`, when one is required).
    Blob {
        artifact: BlobArtifact<'a>,
        predicate_type: Option<&'a str>,
    },
}

/// Verify a keyless bundle: certificate chain, SCT, Rekor SET and inclusion proof, signature,
/// Rekor body, identity and issuer ([`verify_keyless`]), then what the signature is about.
/// The first transparency-log entry is the one checked.
pub fn verify_bundle(
    bundle: &Bundle,
    subject: BundleSubject<'_>,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<KeylessVerified, KeylessError> {
    let material = bundle.verification_material();
    let (leaf, chain_hint): (&[u8], &[Vec<u8>]) = match &material.key {
        KeyMaterial::Certificate(der) => (der, &[]),
        KeyMaterial::CertificateChain(chain) => match chain.split_first() {
            Some((leaf, rest)) => (leaf, rest),
            None => return Err(input("the bundle's certificate chain is empty")),
        },
        KeyMaterial::PublicKey { .. } => {
            return Err(input(
                "the bundle is signed with a key, not keyless: verify it with --key",
            ))
        }
    };
    let Some(entry) = material.tlog_entries.first() else {
        return Err(KeylessError::new(
            Check::SignedEntryTimestamp,
            "the bundle has no transparency-log entry, so nothing says when it was signed",
        ));
    };
    let digest_bytes;
    let (signature, artifact): (&[u8], SignedArtifact<'_>) =
        match (bundle.content(), subject) {
            (Content::Dsse(envelope), _) => {
                let [one] = envelope.signatures.as_slice() else {
                    return Err(input(format!(
                        "the DSSE envelope has {} signatures; a Sigstore bundle has exactly one",
                        envelope.signatures.len()
                    )));
                };
                (
                    &one.sig,
                    SignedArtifact::Dsse {
                        payload_type: &envelope.payload_type,
                        payload: &envelope.payload,
                    },
                )
            }
            (Content::MessageSignature(_), BundleSubject::Image { .. }) => return Err(statement(
                "the bundle holds a message signature (a blob's), not an image signature statement",
            )),
            (Content::MessageSignature(m), BundleSubject::Blob { artifact, .. }) => {
                let digest = artifact.digest();
                if let Some(md) = &m.digest {
                    if md.algorithm != HashAlgorithm::Sha2_256
                        || hex::encode(&md.digest) != digest.hex()
                    {
                        return Err(statement(format!(
                            "the bundle signs sha256:{}, not the file's {digest}",
                            hex::encode(&md.digest)
                        )));
                    }
                }
                let signed = match artifact {
                    BlobArtifact::Bytes(bytes) => SignedArtifact::Bytes(bytes),
                    BlobArtifact::Digest(d) => {
                        digest_bytes = sha256_bytes(d)?;
                        SignedArtifact::Sha256(&digest_bytes)
                    }
                };
                (&m.signature, signed)
            }
        };
    let verified = verify_keyless(
        &KeylessInput {
            certificate_der: leaf,
            chain_hint,
            signature,
            tlog_entry: entry,
            artifact,
        },
        root,
        policy,
    )?;
    if let Content::Dsse(envelope) = bundle.content() {
        check_statement(envelope, subject)?;
    }
    Ok(verified)
}

/// The statement a verified DSSE envelope carries must be about the subject.
fn check_statement(
    envelope: &crate::bundle::Envelope,
    subject: BundleSubject<'_>,
) -> Result<(), KeylessError> {
    let mut scratch = BundleCheck::for_bundle(&[]);
    match subject {
        BundleSubject::Image {
            digest,
            predicate_type,
            annotations,
        } => {
            let policy = ImagePolicy::new(&[])
                .with_predicate_type(predicate_type)
                .with_annotations(annotations);
            check_image_statement(envelope, digest, &policy, &mut scratch)
                .map(|_| ())
                .map_err(|r| statement(r.to_string()))
        }
        BundleSubject::Blob {
            artifact,
            predicate_type,
        } => {
            let digest = artifact.digest();
            let parsed = Statement::parse(&envelope.payload).map_err(|e| {
                statement(format!("the DSSE payload is not an in-toto statement: {e}"))
            })?;
            if parsed.subject_for(&digest).is_none() {
                return Err(statement(format!(
                    "the statement is about {}, not the file's {digest}",
                    parsed.subject_digests().join(", ")
                )));
            }
            match predicate_type {
                Some(want) if parsed.predicate_type != want => Err(statement(format!(
                    "the statement's predicate type is {}, not {want}",
                    parsed.predicate_type
                ))),
                _ => Ok(()),
            }
        }
    }
}

fn sha256_bytes(d: &Digest) -> Result<[u8; 32], KeylessError> {
    let bytes = hex::decode(d.hex()).map_err(|_| input(format!("{d} is not hex")))?;
    bytes
        .try_into()
        .map_err(|_| input(format!("{d} is not a sha256 digest")))
}

fn input(msg: impl Into<String>) -> KeylessError {
    KeylessError::new(Check::Input, msg.into())
}

fn statement(msg: impl Into<String>) -> KeylessError {
    KeylessError::new(Check::Statement, msg.into())
}

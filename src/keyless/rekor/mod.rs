//! Rekor transparency-log entries: the signed entry timestamp (SET), the Merkle inclusion
//! proof with its signed checkpoint, and the entry body.
//!
//! [`TlogEntry`] is plain data in the shape of a Sigstore bundle's `tlogEntries[]` element,
//! so the bundle code fills it from JSON and the legacy code from cosign's
//! `dev.sigstore.cosign/bundle` annotation ([`crate::keyless::legacy::parse_rekor_bundle`]).
//!
//! * **SET** ([`verify_set`]): the log's signature over the canonical JSON (RFC 8785: keys
//!   sorted, no whitespace) of `{"body","integratedTime","logID","logIndex"}`, with `body`
//!   the standard base64 of the canonicalized body and `logID` the lower-case hex log id.
//!   The key is the trusted root's `tlogs` entry with that log id, and its `validFor` must
//!   cover `integratedTime`. Only the SET signs `integratedTime`, so only a verified SET
//!   makes it the signing time T: an entry without one is refused (pinsign does not read
//!   RFC 3161 timestamps; sigstore-go likewise never takes the time from an inclusion proof).
//! * **Inclusion proof** ([`verify_inclusion_proof`]): the RFC 6962 path from
//!   `SHA-256(0x00 || body)` at `inclusionProof.logIndex` (the index in the log shard, not
//!   the global `logIndex`) to `rootHash`, and a checkpoint signed by the same log that
//!   states that root hash and tree size.

pub mod body;
pub mod checkpoint;
pub mod merkle;

use base64::Engine as _;

use super::report::{Check, KeylessError, Outcome};
use super::time::format_utc;
use super::trust_root::{LogId, TransparencyLog, TrustedRoot};

pub use body::KindVersion;

/// An inclusion proof (bundle `inclusionProof`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index in the tree the proof is for (the shard-local index).
    pub log_index: i64,
    /// The tree's root hash (32 bytes).
    pub root_hash: Vec<u8>,
    pub tree_size: i64,
    /// The audit path, leaf to root (32 bytes each).
    pub hashes: Vec<Vec<u8>>,
    /// The signed checkpoint (`checkpoint.envelope`), a signed note.
    pub checkpoint: String,
}

/// One Rekor entry, as a Sigstore bundle's `tlogEntries[]` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogEntry {
    /// `logId.keyId` (bundle, base64) or `logID` (legacy bundle, hex), decoded.
    pub log_id: LogId,
    /// The global log index.
    pub log_index: i64,
    /// When the log integrated the entry, Unix seconds; trusted only through the SET.
    pub integrated_time: i64,
    /// The entry body exactly as logged (bundle `canonicalizedBody`, base64-decoded).
    pub canonicalized_body: Vec<u8>,
    /// The SET (`inclusionPromise.signedEntryTimestamp`), DER signature bytes.
    pub inclusion_promise: Option<Vec<u8>>,
    pub inclusion_proof: Option<InclusionProof>,
    /// `kindVersion`, when the bundle declares it; checked against the body.
    pub kind_version: Option<KindVersion>,
}

/// Integers above this are written differently by RFC 8785 (as IEEE doubles); Rekor's never
/// reach it.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The bytes a SET signs: the RFC 8785 canonical JSON of the four fields.
pub fn set_payload(
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: i64,
) -> Vec<u8> {
    // Keys in RFC 8785 order (UTF-16 code units): body < integratedTime < logID < logIndex.
    // serde_json escapes strings as RFC 8785 does (`"`, `\`, controls; nothing else).
    let string = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    format!(
        "{{\"body\":{},\"integratedTime\":{integrated_time},\"logID\":{},\"logIndex\":{log_index}}}",
        string(body_b64),
        string(log_id_hex)
    )
    .into_bytes()
}

/// Verify the entry's SET with the trusted root; returns the log that signed it.
pub fn verify_set<'r>(
    entry: &TlogEntry,
    root: &'r TrustedRoot,
) -> Result<&'r TransparencyLog, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::SignedEntryTimestamp, message);
    let Some(set) = &entry.inclusion_promise else {
        return Err(fail(
            "the Rekor entry has no inclusion promise (SET), so its integratedTime is not signed; \
             pinsign takes the signing time only from a SET (RFC 3161 timestamps are not read)"
                .into(),
        ));
    };
    let logs: Vec<&TransparencyLog> = root.tlogs_with_id(&entry.log_id).collect();
    if logs.is_empty() {
        return Err(fail(format!(
            "the Rekor entry is from log {}, which is not in the trusted root ({})",
            entry.log_id,
            root.source()
        )));
    }
    for value in [entry.integrated_time, entry.log_index] {
        if !(0..=MAX_SAFE_INTEGER).contains(&value) {
            return Err(fail(format!(
                "the Rekor entry's integratedTime/logIndex {value} is out of range"
            )));
        }
    }
    let body_b64 = base64::engine::general_purpose::STANDARD.encode(&entry.canonicalized_body);
    let message = set_payload(
        &body_b64,
        entry.integrated_time,
        &entry.log_id.to_hex(),
        entry.log_index,
    );
    let t = entry.integrated_time;
    let mut problem = None;
    for log in logs {
        let key = match log.key() {
            Ok(key) => key,
            Err(why) => {
                problem = Some(format!("Rekor log {}: {why}", log.name()));
                continue;
            }
        };
        if !key.verify(key.natural_scheme(), &message, set) {
            problem = Some(format!(
                "the Rekor signed entry timestamp does not verify with the key of {} (log {})",
                log.name(),
                log.log_id()
            ));
            continue;
        }
        if !log.valid_for().covers(t) {
            problem = Some(format!(
                "the SET was signed by {}, but that log's validFor ({}) does not cover the \
                 integrated time {}",
                log.name(),
                log.valid_for(),
                format_utc(t)
            ));
            continue;
        }
        return Ok(log);
    }
    Err(fail(problem.unwrap_or_else(|| {
        format!(
            "the Rekor signed entry timestamp does not verify (log {})",
            entry.log_id
        )
    })))
}

/// Verify the entry's inclusion proof (if it has one) with `log`, the log whose key signed
/// the SET. A missing proof is reported as not applicable.
pub fn verify_inclusion_proof(
    entry: &TlogEntry,
    log: &TransparencyLog,
) -> Result<Outcome, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::InclusionProof, message);
    let Some(proof) = &entry.inclusion_proof else {
        return Ok(Outcome::NotApplicable(
            "the entry carries no inclusion proof (legacy cosign signatures and v0.1 bundles \
             have only the SET)"
                .into(),
        ));
    };
    let index = u64::try_from(proof.log_index).map_err(|_| {
        fail(format!(
            "inclusion proof logIndex {} is negative",
            proof.log_index
        ))
    })?;
    let size = u64::try_from(proof.tree_size).map_err(|_| {
        fail(format!(
            "inclusion proof treeSize {} is negative",
            proof.tree_size
        ))
    })?;
    let root_hash: merkle::Hash = proof
        .root_hash
        .as_slice()
        .try_into()
        .map_err(|_| fail("inclusion proof rootHash is not 32 bytes".into()))?;
    if proof.hashes.len() > 64 {
        return Err(fail(format!(
            "inclusion proof has {} hashes; a tree of 2^64 leaves needs at most 64",
            proof.hashes.len()
        )));
    }
    let hashes = proof
        .hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.as_slice()
                .try_into()
                .map_err(|_| fail(format!("inclusion proof hash {i} is not 32 bytes")))
        })
        .collect::<Result<Vec<merkle::Hash>, _>>()?;
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    let computed = merkle::root_from_inclusion_proof(index, size, &leaf, &hashes)
        .map_err(|e| fail(format!("inclusion proof: {e}")))?;
    if computed != root_hash {
        return Err(fail(format!(
            "the inclusion proof leads to root hash {}, not the proof's root hash {}",
            hex::encode(computed),
            hex::encode(root_hash)
        )));
    }
    let checkpoint =
        checkpoint::Checkpoint::parse(&proof.checkpoint).map_err(|e| fail(e.to_string()))?;
    checkpoint.verify_signed_by(log).map_err(fail)?;
    if checkpoint.tree_size() != size || *checkpoint.root_hash() != root_hash {
        return Err(fail(format!(
            "the signed checkpoint is for tree size {} and root {}, the proof for tree size \
             {size} and root {}",
            checkpoint.tree_size(),
            hex::encode(checkpoint.root_hash()),
            hex::encode(root_hash)
        )));
    }
    Ok(Outcome::Passed(format!(
        "leaf {index} of {size} in {} (checkpoint {:?} signed by {})",
        log.name(),
        checkpoint.origin(),
        log.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_payload_is_rfc8785_canonical_json() {
        let got = set_payload("eyJh", 1_772_216_446, "c0d23d6a", 1_004_096_555);
        assert_eq!(
            String::from_utf8(got.clone()).unwrap(),
            r#"{"body":"eyJh","integratedTime":1772216446,"logID":"c0d23d6a","logIndex":1004096555}"#
        );
        // An implementation we did not write agrees, including for strings that need
        // escaping (which real base64 and hex never do).
        for (body, id) in [("eyJh", "c0d2"), ("a\"b\\c\u{1}\n/é", "\u{7f}<>&")] {
            let value = serde_json::json!({
                "logIndex": 7, "logID": id, "integratedTime": 0, "body": body
            });
            assert_eq!(
                serde_json_canonicalizer::to_vec(&value).unwrap(),
                set_payload(body, 0, id, 7)
            );
        }
    }
}

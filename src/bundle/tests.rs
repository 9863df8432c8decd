//! Unit tests of the bundle module: the real vectors in `tests/fixtures/keyless/bundles/`
//! (made by cosign, sigstore-go and sigstore-conformance, not by pinsign), round trips of what
//! pinsign builds, and every refusal.

use crate::media_types::{BUNDLE_V03, IN_TOTO, OCI_EMPTY, OCI_INDEX, SIG_ARTIFACT};
use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::keys::{PublicKey, SigningKey};
use crate::reference::Digest;
use crate::registry::Descriptor;

const FIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/keyless/bundles/"
);
const KUBEWARDEN: &str = "cosign-v3-image-kubewarden-controller-v1.34.0.sigstore.json";
const ATTESTATION: &str = "cosign-testdata-oci-attestation.sigstore.json";
const HAPPY: &str = "conformance-happy-path-v0.3.sigstore.json";
const INTOTO: &str = "conformance-intoto-dsse-v0.3.sigstore.json";
const GHA_BLOB: &str = "gha-go-bazel-blob-v0.0.30.sigstore.json";
const KUBEWARDEN_DIGEST: &str =
    "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIX}{name}")).unwrap()
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The public key of a bundle's leaf certificate. A Fulcio leaf holds exactly one P-256 SPKI
/// (its own), so finding the fixed 26-byte SPKI header for id-ecPublicKey/prime256v1 is enough
/// here, without an X.509 parser.
fn leaf_key(bundle: &Bundle) -> PublicKey {
    const HEADER: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let KeyMaterial::Certificate(der) = &bundle.verification_material().key else {
        panic!("not a certificate bundle");
    };
    let at = der
        .windows(HEADER.len())
        .position(|w| w == HEADER)
        .expect("a P-256 SPKI in the leaf");
    PublicKey::from_spki_der(der[at..at + 91].to_vec(), "leaf certificate").unwrap()
}

fn vectors() -> serde_json::Value {
    serde_json::from_slice(&read("vectors.json")).unwrap()
}

// ---------------------------------------------------------------- parsing the real vectors

#[test]
fn parses_all_five_vectors_with_their_tlog_entries() {
    let vectors = vectors();
    let list = vectors.as_array().unwrap();
    assert_eq!(list.len(), 5);
    for v in list {
        let name = v["bundle"].as_str().unwrap();
        let bytes = read(name);
        let b = Bundle::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(b.version(), BundleVersion::V0_3, "{name}");
        assert_eq!(
            b.media_type(),
            v["mediaType"].as_str().unwrap_or(b.media_type())
        );
        assert_eq!(b.digest(), &Digest::of(&bytes));
        assert!(
            matches!(b.verification_material().key, KeyMaterial::Certificate(_)),
            "{name}"
        );
        let entries = &b.verification_material().tlog_entries;
        assert_eq!(entries.len(), 1, "{name}");
        let e = &entries[0];
        assert_eq!(e.log_index, v["logIndex"].as_i64().unwrap(), "{name}");
        assert_eq!(
            e.integrated_time,
            v["integratedTime"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(
            b64(e.log_id.as_bytes()),
            v["logId"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            hex::encode(e.log_id.as_bytes()),
            v["logID_hex"].as_str().unwrap()
        );
        let kv = e.kind_version.as_ref().expect("kindVersion");
        let kind = format!("{} {}", kv.kind, kv.version);
        assert_eq!(kind, v["tlog_kind"].as_str().unwrap(), "{name}");
        assert!(e.inclusion_promise.as_ref().is_some_and(|p| !p.is_empty()));
        let proof = e
            .inclusion_proof
            .as_ref()
            .expect("v0.3 entries carry a proof");
        assert!(proof.tree_size > proof.log_index && !proof.hashes.is_empty());
        assert_eq!(proof.root_hash.len(), 32);
        let checkpoint = proof.checkpoint.as_str();
        assert!(
            checkpoint.contains("rekor.sigstore.dev"),
            "{name}: {checkpoint}"
        );
        // The canonicalized body is the log's JSON entry of the kind named.
        let body: serde_json::Value = serde_json::from_slice(&e.canonicalized_body).unwrap();
        assert_eq!(body["kind"], kv.kind.as_str(), "{name}");
        let tsa = v["rfc3161_timestamps"].as_u64().unwrap_or(0) as usize;
        assert_eq!(
            b.verification_material().rfc3161_timestamps.len(),
            tsa,
            "{name}"
        );
    }
    // One of each content kind, and the older media type spelling.
    assert_eq!(
        Bundle::parse(&read(HAPPY)).unwrap().content_kind(),
        ContentKind::MessageSignature
    );
    assert_eq!(
        Bundle::parse(&read(HAPPY)).unwrap().media_type(),
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
    );
    assert_eq!(
        Bundle::parse(&read(KUBEWARDEN)).unwrap().content_kind(),
        ContentKind::DsseEnvelope
    );
}

#[test]
fn kubewarden_dsse_signature_verifies_over_pae_with_its_certificate_key() {
    // cosign v3 made this signature; PAE and the statement checks are ours.
    let b = Bundle::parse(&read(KUBEWARDEN)).unwrap();
    let keys = [leaf_key(&b)];
    let env = b.dsse_envelope().unwrap();
    assert_eq!(env.payload_type, IN_TOTO);
    assert_eq!(env.signatures.len(), 1);
    assert_eq!(env.signatures[0].keyid, "");
    assert!(verify_dsse_signature(env, &keys).is_ok());
    // The bare payload is not what was signed.
    assert!(!keys[0].verify(&env.payload, &env.signatures[0].sig));

    let image = digest(KUBEWARDEN_DIGEST);
    let policy = ImagePolicy::new(&keys);
    let mut check = BundleCheck::for_bundle(b"");
    let statement = check_image_statement(env, &image, &policy, &mut check).unwrap();
    assert_eq!(statement.predicate_type, COSIGN_SIGN_PREDICATE_TYPE);
    assert_eq!(statement.subjects[0].name, None);
    assert_eq!(check.subjects, vec![KUBEWARDEN_DIGEST.to_string()]);

    let other = Digest::of(b"another image");
    let r = check_image_statement(env, &other, &policy, &mut check).unwrap_err();
    assert!(matches!(r, Refusal::OtherDigest { .. }), "{r}");
    assert!(r.to_string().contains(KUBEWARDEN_DIGEST), "{r}");
    let want = BTreeMap::from([("team".to_string(), "x".to_string())]);
    let r = check_image_statement(env, &image, &policy.with_annotations(&want), &mut check)
        .unwrap_err();
    assert_eq!(r.kind(), "annotations");
    assert!(r
        .to_string()
        .contains("annotation team=x missing (the statement has no team)"));

    // A key-based verification refuses a keyless bundle, naming what to do instead.
    let check = verify_image_bundle(&read(KUBEWARDEN), &image, &policy);
    assert_eq!(check.refusal, Some(Refusal::Keyless));
    assert_eq!(check.content, Some(ContentKind::DsseEnvelope));
}

#[test]
fn pinsign_writes_the_statement_cosign_v3_writes() {
    // The kubewarden statement was written before cosign v3.0.5 added `"predicate":{}`
    // (commit 96debc14); otherwise pinsign's bytes are cosign's.
    let b = Bundle::parse(&read(KUBEWARDEN)).unwrap();
    let theirs = String::from_utf8(b.dsse_envelope().unwrap().payload.clone()).unwrap();
    let ours = String::from_utf8(statement::cosign_sign_statement(
        &digest(KUBEWARDEN_DIGEST),
        &BTreeMap::new(),
    ))
    .unwrap();
    let theirs_with_predicate = format!("{},\"predicate\":{{}}}}", &theirs[..theirs.len() - 1]);
    assert_eq!(ours, theirs_with_predicate);
}

#[test]
fn attestation_vector_is_not_an_image_signature() {
    let b = Bundle::parse(&read(ATTESTATION)).unwrap();
    let keys = [leaf_key(&b)];
    let env = b.dsse_envelope().unwrap();
    assert!(verify_dsse_signature(env, &keys).is_ok());
    let image = digest("sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4");
    let policy = ImagePolicy::new(&keys);
    let mut check = BundleCheck::for_bundle(b"");
    let r = check_image_statement(env, &image, &policy, &mut check).unwrap_err();
    assert_eq!(
        r,
        Refusal::UnknownPredicate {
            found: "https://cosign.sigstore.dev/attestation/v1".into(),
            expected: COSIGN_SIGN_PREDICATE_TYPE.into()
        }
    );
    // Statement v0.1, with a subject name; accepted when that predicate is asked for.
    let s = check_image_statement(
        env,
        &image,
        &policy.with_predicate_type("https://cosign.sigstore.dev/attestation/v1"),
        &mut check,
    )
    .unwrap();
    assert_eq!(s.statement_type, StatementType::V0_1);
    assert_eq!(s.subjects[0].name.as_deref(), Some("127.0.0.1:60943/repo"));
}

#[test]
fn conformance_message_signature_verifies_over_the_file_and_its_digest() {
    let b = Bundle::parse(&read(HAPPY)).unwrap();
    let keys = [leaf_key(&b)];
    let Content::MessageSignature(m) = b.content() else {
        panic!("message signature expected");
    };
    let file = read("a.txt");
    let d = Digest::of(&file);
    assert_eq!(
        d.as_str(),
        "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
    );
    let md = m.digest.as_ref().unwrap();
    assert_eq!(md.algorithm, HashAlgorithm::Sha2_256);
    assert!(verify_message_signature(m, BlobArtifact::Bytes(&file), &d, &keys).is_ok());
    assert!(verify_message_signature(m, BlobArtifact::Digest(&d), &d, &keys).is_ok());
    let other = b"another file".to_vec();
    let od = Digest::of(&other);
    let r = verify_message_signature(m, BlobArtifact::Bytes(&other), &od, &keys).unwrap_err();
    assert!(matches!(r, Refusal::MessageDigest { .. }), "{r}");
}

#[test]
fn gha_blob_signature_verifies_from_the_digest_alone() {
    let b = Bundle::parse(&read(GHA_BLOB)).unwrap();
    let keys = [leaf_key(&b)];
    let Content::MessageSignature(m) = b.content() else {
        panic!("message signature expected");
    };
    let d = digest("sha256:efb4f91125650bcfb158e10e0f1b03afaf747cc5676e926dcb4f5fb170a03fa6");
    assert!(verify_message_signature(m, BlobArtifact::Digest(&d), &d, &keys).is_ok());
    let other_key = [SigningKey::generate().public_key()];
    let r = verify_message_signature(m, BlobArtifact::Digest(&d), &d, &other_key).unwrap_err();
    assert_eq!(r, Refusal::WrongKey { tried: 1 });
}

#[test]
fn conformance_intoto_statement_names_the_file() {
    let b = Bundle::parse(&read(INTOTO)).unwrap();
    let keys = [leaf_key(&b)];
    let env = b.dsse_envelope().unwrap();
    assert!(verify_dsse_signature(env, &keys).is_ok());
    let s = Statement::parse(&env.payload).unwrap();
    assert_eq!(s.predicate_type, "https://slsa.dev/provenance/v1");
    let d = Digest::of(&read("a.txt"));
    assert_eq!(s.subject_for(&d).unwrap().name.as_deref(), Some("a.txt"));
}

// ---------------------------------------------------------------- what pinsign builds

fn annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("team".to_string(), "payments".to_string()),
        ("git".to_string(), "abc123".to_string()),
    ])
}

#[test]
fn image_bundle_has_cosign_v3_shape_and_verifies() {
    let key = SigningKey::generate();
    let image = Digest::of(b"manifest");
    let built = image_bundle(&image, &annotations(), &key);
    assert_eq!(built.digest, Digest::of(&built.bytes));
    assert_eq!(built.content, ContentKind::DsseEnvelope);
    assert_eq!(built.predicate_type, Some(COSIGN_SIGN_PREDICATE_TYPE));
    let text = String::from_utf8(built.bytes.clone()).unwrap();
    let hint = key_hint(&key.public_key());
    let prefix = format!(
        r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"publicKey":{{"hint":"{hint}"}}}},"dsseEnvelope":{{"payload":""#
    );
    assert!(text.starts_with(&prefix), "{text}");
    assert!(
        text.contains(r#"","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":""#)
    );
    assert!(text.ends_with(r#""}]}}"#), "{text}");
    // The hint is base64(sha256(SPKI DER)), 44 characters.
    use sha2::Digest as _;
    assert_eq!(
        hint,
        b64(&sha2::Sha256::digest(key.public_key().spki_der()))
    );
    assert_eq!(hint.len(), 44);

    let parsed = Bundle::parse(&built.bytes).unwrap();
    assert_eq!(
        parsed.verification_material().key,
        KeyMaterial::PublicKey { hint: hint.clone() }
    );
    assert!(parsed.verification_material().tlog_entries.is_empty());
    let env = parsed.dsse_envelope().unwrap();
    assert_eq!(
        env.payload,
        statement::cosign_sign_statement(&image, &annotations())
    );
    // Deterministic: RFC 6979 signatures, fixed member order.
    assert_eq!(image_bundle(&image, &annotations(), &key), built);

    let keys = [SigningKey::generate().public_key(), key.public_key()];
    let want = BTreeMap::from([("team".to_string(), "payments".to_string())]);
    let check = verify_image_bundle(
        &built.bytes,
        &image,
        &ImagePolicy::new(&keys).with_annotations(&want),
    );
    assert!(check.verified, "{:?}", check.reason);
    assert_eq!(check.key.as_deref(), Some(key.fingerprint().as_str()));
    assert_eq!(check.annotations, annotations());
    assert_eq!(
        check.predicate_type.as_deref(),
        Some(COSIGN_SIGN_PREDICATE_TYPE)
    );
    assert_eq!(check.subjects, vec![image.to_string()]);
    assert_eq!(
        check.statement["subject"][0]["digest"]["sha256"],
        image.hex()
    );
    assert_eq!(check.reason_kind, None);
    let report = serde_json::to_value(&check).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["content"], "dsse-envelope");
}

/// A DSSE bundle over `payload` with the given signatures, named by `hint`.
fn dsse_bundle(payload_type: &str, payload: &[u8], sigs: &[Vec<u8>]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": "h"}},
        "dsseEnvelope": {
            "payload": b64(payload),
            "payloadType": payload_type,
            "signatures": sigs.iter().map(|s| json!({"sig": b64(s)})).collect::<Vec<_>>(),
        }
    }))
    .unwrap()
}

fn refusal(bytes: &[u8], image: &Digest, keys: &[PublicKey]) -> Refusal {
    let check = verify_image_bundle(bytes, image, &ImagePolicy::new(keys));
    assert!(!check.verified);
    assert_eq!(
        check.reason.as_deref(),
        check.refusal.as_ref().map(|r| r.to_string()).as_deref()
    );
    check.refusal.unwrap()
}

#[test]
fn image_bundle_refusals() {
    let key = SigningKey::generate();
    let keys = [key.public_key()];
    let image = Digest::of(b"manifest");
    let built = image_bundle(&image, &BTreeMap::new(), &key);

    // Other key.
    let other = [SigningKey::generate().public_key()];
    assert_eq!(
        refusal(&built.bytes, &image, &other),
        Refusal::WrongKey { tried: 1 }
    );
    assert_eq!(refusal(&built.bytes, &image, &[]), Refusal::NoKeys);

    // Other digest: a valid signature for another image is a replay.
    let r = refusal(&built.bytes, &Digest::of(b"other"), &keys);
    assert_eq!(r.kind(), "other-digest");
    assert!(r.to_string().contains(&format!("names {image}")), "{r}");
    assert!(r.to_string().contains("replayed"), "{r}");

    // Tampered envelope: the payload swapped for another digest's statement.
    let mut doc: serde_json::Value = serde_json::from_slice(&built.bytes).unwrap();
    let forged = statement::cosign_sign_statement(&Digest::of(b"other"), &BTreeMap::new());
    doc["dsseEnvelope"]["payload"] = json!(b64(&forged));
    let tampered = serde_json::to_vec(&doc).unwrap();
    assert_eq!(
        refusal(&tampered, &Digest::of(b"other"), &keys),
        Refusal::WrongKey { tried: 1 }
    );
    // Tampered payload type (signed by PAE).
    let mut doc: serde_json::Value = serde_json::from_slice(&built.bytes).unwrap();
    doc["dsseEnvelope"]["payloadType"] = json!("application/json");
    let tampered = serde_json::to_vec(&doc).unwrap();
    assert_eq!(
        refusal(&tampered, &image, &keys),
        Refusal::WrongKey { tried: 1 }
    );

    // Other predicate, correctly signed.
    let mut st: serde_json::Value =
        serde_json::from_slice(&statement::cosign_sign_statement(&image, &BTreeMap::new()))
            .unwrap();
    st["predicateType"] = json!("https://slsa.dev/provenance/v1");
    let payload = serde_json::to_vec(&st).unwrap();
    let sig = key.sign(&pae(IN_TOTO, &payload));
    let slsa = dsse_bundle(IN_TOTO, &payload, std::slice::from_ref(&sig));
    assert_eq!(
        refusal(&slsa, &image, &keys),
        Refusal::UnknownPredicate {
            found: "https://slsa.dev/provenance/v1".into(),
            expected: COSIGN_SIGN_PREDICATE_TYPE.into()
        }
    );
    let policy = ImagePolicy::new(&keys).with_predicate_type("https://slsa.dev/provenance/v1");
    assert!(verify_image_bundle(&slsa, &image, &policy).verified);

    // Two signatures (even two good ones) is not a Sigstore bundle.
    let two = dsse_bundle(IN_TOTO, &payload, &[sig.clone(), sig]);
    assert_eq!(refusal(&two, &image, &keys), Refusal::SignatureCount(2));
    assert_eq!(
        refusal(&dsse_bundle(IN_TOTO, &payload, &[]), &image, &keys),
        Refusal::SignatureCount(0)
    );

    // Another payload type, correctly signed.
    let sig = key.sign(&pae("application/json", &payload));
    let json_type = dsse_bundle("application/json", &payload, &[sig]);
    assert_eq!(
        refusal(&json_type, &image, &keys),
        Refusal::PayloadType("application/json".into())
    );

    // A signed payload that is not a statement.
    let sig = key.sign(&pae(IN_TOTO, b"{\"x\":1}"));
    let r = refusal(&dsse_bundle(IN_TOTO, b"{\"x\":1}", &[sig]), &image, &keys);
    assert_eq!(r.kind(), "malformed-statement");

    // Required annotation absent or different.
    let built = image_bundle(&image, &annotations(), &key);
    let want = BTreeMap::from([("team".to_string(), "other".to_string())]);
    let check = verify_image_bundle(
        &built.bytes,
        &image,
        &ImagePolicy::new(&keys).with_annotations(&want),
    );
    assert_eq!(check.reason_kind, Some("annotations"));
    assert!(check.key.is_some(), "the key that signed is still reported");
    assert_eq!(
        check.reason.as_deref(),
        Some("annotation team=other missing (the statement has team=payments)")
    );

    // A blob bundle is not an image signature.
    let blob = blob_bundle(b"file", &key);
    assert_eq!(refusal(&blob.bytes, &image, &keys), Refusal::NotDsse);
}

#[test]
fn malformed_bundles_are_refused_with_the_reason() {
    let image = Digest::of(b"manifest");
    let keys = [SigningKey::generate().public_key()];
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"not json".to_vec(), "malformed", "expected"),
        (b"[]".to_vec(), "malformed", "mediaType"),
        (b"{}".to_vec(), "malformed", "mediaType is missing"),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.4+json"}"#.to_vec(),
            "unknown-media-type",
            "v0.4",
        ),
        (
            br#"{"mediaType":"application/json","dsseEnvelope":{}}"#.to_vec(),
            "unknown-media-type",
            "application/json",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec(),
            "malformed",
            "appears twice",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"x","signatures":[]}}"#.to_vec(),
            "malformed",
            "verificationMaterial is missing",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""}}}"#.to_vec(),
            "malformed",
            "neither dsseEnvelope nor messageSignature",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{}}"#.to_vec(),
            "malformed",
            "no publicKey",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"!!"}}"#.to_vec(),
            "malformed",
            "base64",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{},"messageSignature":{}}"#.to_vec(),
            "malformed",
            "oneof",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{},"surprise":1}"#.to_vec(),
            "malformed",
            "surprise",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"AA=="}]}},"dsseEnvelope":{}}"#.to_vec(),
            "malformed",
            "x509CertificateChain",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","verificationMaterial":{"publicKey":{},"tlogEntries":[{"logIndex":"1"}]},"dsseEnvelope":{}}"#.to_vec(),
            "malformed",
            "inclusionPromise",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","verificationMaterial":{"publicKey":{},"tlogEntries":[{"logIndex":"1","inclusionPromise":{"signedEntryTimestamp":"AA=="}}]},"dsseEnvelope":{}}"#.to_vec(),
            "malformed",
            "inclusionProof",
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"messageSignature":{"messageDigest":{"algorithm":"MD5"}}}"#.to_vec(),
            "malformed",
            "MD5",
        ),
    ];
    for (bytes, kind, why) in cases {
        let text = String::from_utf8_lossy(&bytes).to_string();
        let r = refusal(&bytes, &image, &keys);
        assert_eq!(r.kind(), kind, "{text}: {r}");
        assert!(r.to_string().contains(why), "{text}: {r}");
        // The parse error and the refusal agree.
        assert!(Bundle::parse(&bytes).is_err());
    }
    // Oversized: refused before any parsing.
    let mut big = br#"{"mediaType":""#.to_vec();
    big.resize(MAX_BUNDLE_BYTES + 1, b' ');
    let r = refusal(&big, &image, &keys);
    assert_eq!(
        r,
        Refusal::TooLarge {
            size: MAX_BUNDLE_BYTES + 1,
            limit: MAX_BUNDLE_BYTES
        }
    );
    // Deep nesting is an error, not a stack overflow.
    let deep = format!(
        r#"{{"mediaType":"{BUNDLE_V03}","x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(refusal(deep.as_bytes(), &image, &keys).kind(), "malformed");
}

#[test]
fn older_versions_and_spellings_parse() {
    let key = SigningKey::generate();
    let image = Digest::of(b"manifest");
    let built = image_bundle(&image, &BTreeMap::new(), &key);
    let keys = [key.public_key()];
    for media_type in [
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle.v0.2+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    ] {
        let mut doc: serde_json::Value = serde_json::from_slice(&built.bytes).unwrap();
        doc["mediaType"] = json!(media_type);
        // What sigstore-js writes with no witnesses: empty lists.
        doc["verificationMaterial"]["tlogEntries"] = json!([]);
        doc["verificationMaterial"]["timestampVerificationData"] = json!({"rfc3161Timestamps": []});
        let bytes = serde_json::to_vec(&doc).unwrap();
        let check = verify_image_bundle(&bytes, &image, &ImagePolicy::new(&keys));
        assert!(check.verified, "{media_type}: {:?}", check.reason);
        assert_eq!(check.media_type.as_deref(), Some(media_type));
    }
}

// ---------------------------------------------------------------- blobs

#[test]
fn blob_bundle_round_trip_and_refusals() {
    let key = SigningKey::generate();
    let keys = [key.public_key()];
    let file = b"release tarball bytes".to_vec();
    let d = Digest::of(&file);
    let built = blob_bundle(&file, &key);
    let text = String::from_utf8(built.bytes.clone()).unwrap();
    use sha2::Digest as _;
    let expected_digest = b64(&sha2::Sha256::digest(&file));
    assert!(
        text.contains(&format!(
            r#""messageSignature":{{"messageDigest":{{"algorithm":"SHA2_256","digest":"{expected_digest}"}},"signature":""#
        )),
        "{text}"
    );
    assert_eq!(built.content, ContentKind::MessageSignature);
    assert_eq!(blob_bundle(&file, &key), built);

    let policy = BlobPolicy::new(&keys);
    let ok = verify_blob_bundle(&built.bytes, BlobArtifact::Bytes(&file), &policy);
    assert!(ok.verified, "{:?}", ok.reason);
    assert_eq!(ok.content, Some(ContentKind::MessageSignature));
    assert!(verify_blob_bundle(&built.bytes, BlobArtifact::Digest(&d), &policy).verified);

    let other = b"another file".to_vec();
    let check = verify_blob_bundle(&built.bytes, BlobArtifact::Bytes(&other), &policy);
    assert_eq!(check.reason_kind, Some("other-digest"));
    let other_keys = [SigningKey::generate().public_key()];
    let check = verify_blob_bundle(
        &built.bytes,
        BlobArtifact::Bytes(&file),
        &BlobPolicy::new(&other_keys),
    );
    assert_eq!(check.refusal, Some(Refusal::WrongKey { tried: 1 }));

    // Without messageDigest the signature still has to match the file.
    let mut doc: serde_json::Value = serde_json::from_slice(&built.bytes).unwrap();
    doc["messageSignature"]
        .as_object_mut()
        .unwrap()
        .remove("messageDigest");
    let bare = serde_json::to_vec(&doc).unwrap();
    assert!(verify_blob_bundle(&bare, BlobArtifact::Bytes(&file), &policy).verified);
    let check = verify_blob_bundle(&bare, BlobArtifact::Bytes(&other), &policy);
    assert_eq!(check.refusal, Some(Refusal::WrongKey { tried: 1 }));

    // Digest only and an RSA key: not checkable, said so.
    let rsa_pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cosign/payloads/suse-toolbox-rsa.pub"
    ))
    .unwrap();
    let rsa = [PublicKey::from_pem(&rsa_pem, "rsa.pub").unwrap()];
    let check = verify_blob_bundle(
        &built.bytes,
        BlobArtifact::Digest(&d),
        &BlobPolicy::new(&rsa),
    );
    assert_eq!(check.refusal, Some(Refusal::NeedsFile));

    // A DSSE statement naming the file verifies as a blob bundle; naming another does not.
    let image_style = image_bundle(&d, &BTreeMap::new(), &key);
    assert!(verify_blob_bundle(&image_style.bytes, BlobArtifact::Bytes(&file), &policy).verified);
    let check = verify_blob_bundle(&image_style.bytes, BlobArtifact::Bytes(&other), &policy);
    assert_eq!(check.reason_kind, Some("other-digest"));
    let slsa = BlobPolicy {
        keys: &keys,
        predicate_type: Some("https://slsa.dev/provenance/v1"),
    };
    let check = verify_blob_bundle(&image_style.bytes, BlobArtifact::Bytes(&file), &slsa);
    assert_eq!(check.reason_kind, Some("unknown-predicate"));
}

// ---------------------------------------------------------------- OCI: referrer manifest

fn subject() -> Descriptor {
    Descriptor {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        digest: Digest::of(b"index"),
        size: 1234,
    }
}

#[test]
fn bundle_referrer_is_what_cosign_pushes() {
    let key = SigningKey::generate();
    let built = image_bundle(&subject().digest, &BTreeMap::new(), &key);
    let created = Created::from_unix(1_775_719_409);
    let r = bundle_referrer(&subject(), &built.bytes, created).unwrap();
    let expected = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""config":{{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"#,
            r#""digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","#,
            r#""artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}},"#,
            r#""layers":[{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","size":{},"digest":"{}"}}],"#,
            r#""annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","#,
            r#""dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1","#,
            r#""org.opencontainers.image.created":"2026-04-09T07:23:29Z"}},"#,
            r#""subject":{{"mediaType":"application/vnd.oci.image.index.v1+json","size":1234,"digest":"{}"}},"#,
            r#""artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}}"#
        ),
        built.bytes.len(),
        built.digest,
        subject().digest
    );
    assert_eq!(String::from_utf8(r.manifest.clone()).unwrap(), expected);
    assert_eq!(r.digest, Digest::of(&r.manifest));
    assert_eq!(r.blobs.len(), 2);
    assert_eq!(r.blobs[0].digest, built.digest);
    assert_eq!(
        r.blobs[1].data,
        crate::signature::BlobData::Upload(b"{}".to_vec())
    );
    assert_eq!(
        r.descriptor.to_json(),
        format!(
            concat!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":{},"digest":"{}","#,
                r#""annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","#,
                r#""dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1","#,
                r#""org.opencontainers.image.created":"2026-04-09T07:23:29Z"}},"#,
                r#""artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}}"#
            ),
            r.manifest.len(),
            r.digest
        )
    );

    // Read back.
    let m = parse_bundle_referrer(&r.manifest).unwrap();
    assert_eq!(m.subject, subject());
    assert_eq!(m.artifact_type, BUNDLE_V03);
    assert_eq!(m.layer.digest, built.digest);
    assert_eq!(m.layer.size, built.bytes.len() as u64);
    assert_eq!(m.layer_version(), Ok(BundleVersion::V0_3));
    assert_eq!(m.annotations, r.descriptor.annotations);
    assert!(m.check_subject(&subject().digest).is_ok());
    assert!(matches!(
        m.check_subject(&Digest::of(b"x")),
        Err(BundleError::Foreign(_))
    ));

    // A message-signature bundle gets no predicate annotation.
    let blob = blob_bundle(b"f", &key);
    let r = bundle_referrer(&subject(), &blob.bytes, created).unwrap();
    assert_eq!(
        r.descriptor
            .annotations
            .get(CONTENT_ANNOTATION)
            .map(String::as_str),
        Some("message-signature")
    );
    assert!(!r
        .descriptor
        .annotations
        .contains_key(PREDICATE_TYPE_ANNOTATION));
    // Garbage is not attached.
    assert!(bundle_referrer(&subject(), b"{}", created).is_err());
}

#[test]
fn other_referrers_are_not_bundle_referrers() {
    let sub = r#""subject":{"mediaType":"m","size":1,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}"#;
    let layer = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","size":3,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}"#;
    let config = r#""config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}"#;
    let ok = format!(r#"{{"schemaVersion":2,{config},"layers":[{layer}],{sub}}}"#);
    let m = parse_bundle_referrer(ok.as_bytes()).unwrap();
    assert_eq!(
        m.artifact_type, OCI_EMPTY,
        "config media type when no artifactType"
    );
    for (doc, kind) in [
        (
            format!(r#"{{"schemaVersion":2,{config},"layers":[{layer},{layer}],{sub}}}"#),
            "foreign",
        ),
        (
            format!(r#"{{"schemaVersion":2,{config},"layers":[],{sub}}}"#),
            "foreign",
        ),
        (
            format!(
                r#"{{"schemaVersion":2,{config},"layers":[{}],{sub}}}"#,
                layer.replace("dev.sigstore.bundle.v0.3", "dev.cosign.simplesigning.v1")
            ),
            "foreign",
        ),
        (
            r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_string(),
            "foreign",
        ),
        (
            format!(r#"{{"schemaVersion":2,{config},"layers":[{layer}]}}"#),
            "malformed",
        ),
        (
            format!(r#"{{"schemaVersion":2,"layers":[{layer}],{sub}}}"#),
            "malformed",
        ),
        (
            format!(r#"{{"schemaVersion":2,{config},"layers":[["a","b",1]],{sub}}}"#),
            "malformed",
        ),
        (
            format!(
                r#"{{"schemaVersion":2,{config},"layers":[{}],{sub}}}"#,
                layer.replace("\"size\":3", "\"size\":99999999999")
            ),
            "too-large",
        ),
        ("[]".to_string(), "malformed"),
    ] {
        let e = parse_bundle_referrer(doc.as_bytes()).unwrap_err();
        let got = match e {
            BundleError::Foreign(_) => "foreign",
            BundleError::MalformedOci(_) => "malformed",
            BundleError::TooLarge { .. } => "too-large",
            _ => "other",
        };
        assert_eq!(got, kind, "{doc}: {e}");
    }
}

// ---------------------------------------------------------------- OCI: referrers tag index

fn descriptor(seed: &[u8], artifact_type: &str) -> ReferrerDescriptor {
    ReferrerDescriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: Digest::of(seed),
        size: 100,
        artifact_type: artifact_type.into(),
        annotations: BTreeMap::from([("k".to_string(), "v".to_string())]),
    }
}

#[test]
fn referrers_tag_name() {
    let d = Digest::of(b"x");
    assert_eq!(referrers_tag(&d), format!("sha256-{}", d.hex()));
    assert!(crate::reference::Tag::parse(&referrers_tag(&d)).is_ok());
}

#[test]
fn merge_into_nothing_then_append_and_dedupe() {
    let a = descriptor(b"a", BUNDLE_V03);
    let first = merge_referrers(None, None, std::slice::from_ref(&a));
    assert_eq!(
        String::from_utf8(first.index.clone()).unwrap(),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            a.to_json()
        )
    );
    assert!(first.changed);
    assert_eq!(first.added, vec![a.digest.to_string()]);
    assert_eq!(first.digest, Digest::of(&first.index));
    assert_eq!(first.media_type, OCI_INDEX);

    let read_back = parse_referrers_index(&first.index).unwrap();
    assert_eq!(read_back.entries().len(), 1);
    assert_eq!(read_back.entries()[0].annotations, a.annotations);
    assert!(read_back.entries()[0].is_bundle());
    assert_eq!(read_back.entries()[0].sha256(), Some(a.digest.clone()));

    // Same descriptor again: nothing to write.
    let again = merge_referrers(Some(&read_back), None, std::slice::from_ref(&a));
    assert!(!again.changed);
    assert_eq!(again.index, first.index);
    assert!(missing_referrers(Some(&read_back), None, std::slice::from_ref(&a)).is_empty());

    let b = descriptor(b"b", SIG_ARTIFACT);
    let both = merge_referrers(Some(&read_back), None, std::slice::from_ref(&b));
    let both = parse_referrers_index(&both.index).unwrap();
    let digests: Vec<_> = both.entries().iter().map(|e| e.digest.clone()).collect();
    assert_eq!(digests, vec![a.digest.to_string(), b.digest.to_string()]);
    let bundles = bundle_referrers(&both);
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0].digest, a.digest.to_string());
}

#[test]
fn merge_keeps_unknown_entries_and_members_byte_for_byte() {
    let existing = br#"{ "schemaVersion" : 2, "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha512:abcd", "size": 7,
          "artifactType": "application/example", "annotations": {"n": 1, "s": "t"}, "x-unknown": [1, {"deep": true}] },
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}
      ],
      "annotations": {"org.example": "kept"}, "x-extension": {"a": [1,2]} }"#;
    let idx = parse_referrers_index(existing).unwrap();
    assert_eq!(idx.entries().len(), 2);
    assert_eq!(idx.entries()[0].sha256(), None);
    assert_eq!(
        idx.entries()[0].annotations.get("s").map(String::as_str),
        Some("t")
    );
    assert!(!idx.entries()[0].is_bundle() && !idx.entries()[1].is_bundle());
    let ours = descriptor(b"ours", BUNDLE_V03);
    let merged = merge_referrers(Some(&idx), None, std::slice::from_ref(&ours));
    let text = String::from_utf8(merged.index).unwrap();
    for (_, raw) in [
        (0, idx.entries()[0].raw_json()),
        (1, idx.entries()[1].raw_json()),
    ] {
        assert!(text.contains(raw), "{raw} lost in {text}");
    }
    assert!(
        text.contains(r#""annotations":{"org.example": "kept"}"#),
        "{text}"
    );
    assert!(text.contains(r#""x-extension":{"a": [1,2]}"#), "{text}");
    assert!(
        text.ends_with(&format!(
            r#"{}],"annotations":{{"org.example": "kept"}},"x-extension":{{"a": [1,2]}}}}"#,
            ours.to_json()
        )),
        "{text}"
    );
    let again = parse_referrers_index(text.as_bytes()).unwrap();
    assert_eq!(again.entries().len(), 3);
}

#[test]
fn remerge_restores_what_a_concurrent_writer_dropped() {
    let a = descriptor(b"a", BUNDLE_V03);
    let b = descriptor(b"b", BUNDLE_V03);
    let c = descriptor(b"c", BUNDLE_V03);
    // We read [a] and wrote [a, ours=b]; another writer, who also read [a], wrote [a, c].
    let previous =
        parse_referrers_index(&merge_referrers(None, None, std::slice::from_ref(&a)).index)
            .unwrap();
    let current = parse_referrers_index(
        &merge_referrers(Some(&previous), None, std::slice::from_ref(&c)).index,
    )
    .unwrap();
    assert_eq!(
        missing_referrers(Some(&current), Some(&previous), std::slice::from_ref(&b)),
        vec![b.digest.to_string()]
    );
    let fixed = merge_referrers(Some(&current), Some(&previous), std::slice::from_ref(&b));
    let fixed = parse_referrers_index(&fixed.index).unwrap();
    let digests: Vec<_> = fixed.entries().iter().map(|e| e.digest.clone()).collect();
    assert_eq!(digests, [&a, &c, &b].map(|d| d.digest.to_string()).to_vec());
    assert!(missing_referrers(Some(&fixed), Some(&previous), std::slice::from_ref(&b)).is_empty());
    // A read-back that lost everything (the tag deleted) restores previous and ours.
    let restored = merge_referrers(None, Some(&previous), std::slice::from_ref(&b));
    assert_eq!(
        restored.added,
        vec![a.digest.to_string(), b.digest.to_string()]
    );
    assert_eq!(missing_referrers(None, Some(&previous), &[b]).len(), 2);
}

#[test]
fn foreign_and_malformed_tags_are_refused() {
    for (doc, foreign) in [
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#,
            true,
        ),
        (
            r#"{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"d"},"layers":[]}"#,
            true,
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#,
            true,
        ),
        (
            r#"{"schemaVersion":1,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            false,
        ),
        (
            r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            false,
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
            false,
        ),
        (
            r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","size":1}]}"#,
            false,
        ),
        (
            r#"{"schemaVersion":2,"manifests":[["m","sha256:x",1]]}"#,
            false,
        ),
        (
            r#"{"schemaVersion":2,"manifests":[],"manifests":[]}"#,
            false,
        ),
        ("[]", false),
        ("", false),
    ] {
        let e = parse_referrers_index(doc.as_bytes()).unwrap_err();
        assert_eq!(matches!(e, BundleError::Foreign(_)), foreign, "{doc}: {e}");
        if !foreign {
            assert!(matches!(e, BundleError::MalformedOci(_)), "{doc}: {e}");
        }
    }
    // No mediaType but an index shape is read (OCI allows omitting it).
    assert!(parse_referrers_index(br#"{"schemaVersion":2,"manifests":[]}"#).is_ok());
    let mut big = br#"{"schemaVersion":2,"manifests":[]}"#.to_vec();
    big.resize(MAX_INDEX_BYTES + 1, b' ');
    assert!(matches!(
        parse_referrers_index(&big),
        Err(BundleError::TooLarge { .. })
    ));
}

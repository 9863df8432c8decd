//! `pinsign triangulate`, `tree` and `download signature` against harness registries holding a
//! `.sig` signature, a simple-signing referrer and a Sigstore bundle, all written by `pinsign
//! sign-digest` (tag mode, `--mode referrers`, `--format bundle`). ferro-oci-server has the
//! referrers API; Distribution 2.8 has not (the bundle is then listed in the referrers tag).
//! Every command is read-only: the registry's storage is byte-for-byte the same afterwards.

use base64::Engine as _;
use serde_json::Value;

use crate::sign_common::{pinsign, reference, sign};
use crate::support::cosign_check::{expected_payload, sig_tag, verify_der};
use crate::support::outcome::RunExt as _;
use crate::support::test_keys::keys;
use crate::support::{self, snapshot, Endpoint, Ferro, Registry};

const SIG_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// `pinsign ARGS...` against `ep`.
fn run(home: &std::path::Path, ep: &Endpoint, args: &[&str]) -> support::outcome::Outcome {
    pinsign(home, ep).args(args).outcome()
}

/// An image on `ep` with a `.sig` signature (key 0), and a bundle (key 2); with
/// `referrer`, also a simple-signing referrer (key 1, needs the referrers API).
fn signed_image(home: &std::path::Path, ep: &Endpoint, referrer: bool) -> (String, String) {
    let image = ep.push_synthetic("team/app", Some("v1"), 7);
    let k = keys();
    sign(home, ep, &k[0], &[&image.pinned]).ok();
    if referrer {
        sign(home, ep, &k[1], &[&image.pinned, "--mode", "referrers"]).ok();
    }
    sign(home, ep, &k[2], &[&image.pinned, "--format", "bundle"]).ok();
    (image.pinned, image.digest)
}

#[test]
fn triangulate_names_cosign_places_and_says_what_holds_signatures() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let (pinned, digest) = signed_image(home.path(), &ep, true);
    let hex = digest.trim_start_matches("sha256:");
    let repo = reference(&ep, "team/app");
    let tagged = ferro.image("team/app:v1");

    // As cosign: one line, the .sig tag by default.
    let out = run(home.path(), &ep, &["triangulate", &tagged]).quiet_ok();
    assert_eq!(out, format!("{repo}:{}\n", sig_tag(&digest)));
    for (kind, want) in [
        ("signature", format!("{repo}:sha256-{hex}.sig")),
        ("attestation", format!("{repo}:sha256-{hex}.att")),
        ("sbom", format!("{repo}:sha256-{hex}.sbom")),
        ("digest", pinned.clone()),
        ("referrers-tag", format!("{repo}:sha256-{hex}")),
    ] {
        let out = run(home.path(), &ep, &["triangulate", &tagged, "--type", kind]).quiet_ok();
        assert_eq!(out.trim_end(), want, "--type {kind}");
    }
    // A signature repository moves the tags, as COSIGN_REPOSITORY does for cosign.
    let out = run(
        home.path(),
        &ep,
        &[
            "triangulate",
            &pinned,
            "--signature-repo",
            &ferro.image("sigs"),
        ],
    )
    .quiet_ok();
    assert_eq!(
        out.trim_end(),
        format!("{}:sha256-{hex}.sig", ferro.image("sigs"))
    );

    // JSON: where each kind of signature is, and whether it is there.
    let doc = run(home.path(), &ep, &["triangulate", &tagged, "-o", "json"])
        .ok()
        .json();
    assert_eq!(doc["input"], tagged.as_str());
    assert_eq!(doc["pinned"], pinned.as_str());
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(doc["status"], "found");
    assert_eq!(doc["type"], "signature");
    let places = doc["places"].as_array().unwrap();
    assert_eq!(places[0]["via"], "sig-tag");
    assert_eq!(places[0]["exists"], true);
    assert_eq!(places[1]["via"], "referrers-api");
    assert_eq!(places[1]["available"], true);
    assert_eq!(
        places[1]["referrers"], 2,
        "the artifact and the bundle: {doc}"
    );
    assert_eq!(places[2]["via"], "referrers-tag");
    assert_eq!(places[2]["exists"], false);
    let doc = run(
        home.path(),
        &ep,
        &[
            "triangulate",
            &tagged,
            "--type",
            "attestation",
            "-o",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(doc["status"], "none");
}

#[test]
fn tree_shows_the_sig_tag_and_every_referrer_by_type() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let (pinned, digest) = signed_image(home.path(), &ep, true);
    let repo = reference(&ep, "team/app");
    let tagged = ferro.image("team/app:v1");

    let out = run(home.path(), &ep, &["tree", &tagged]).ok();
    let text = out.stdout.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("{pinned} (from {tagged})"), "{text}");
    assert!(
        text.contains(&format!(
            "├── signatures (.sig tag): {repo}:{}",
            sig_tag(&digest)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{SIG_ARTIFACT} (referrers API): {repo}@sha256:")),
        "{text}"
    );
    assert!(text.contains("(referrers API)"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(BUNDLE_V03) || l.contains("sigstore.dev/cosign/sign")),
        "the bundle referrer is shown: {text}"
    );
    assert!(
        text.contains("sha256:") && text.contains(SIMPLESIGNING),
        "{text}"
    );
    assert!(lines.last().unwrap().starts_with("    └── "), "{text}");

    let doc = run(home.path(), &ep, &["tree", &tagged, "-o", "json"])
        .ok()
        .json();
    assert_eq!(doc["input"], tagged.as_str());
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(doc["status"], "found");
    let attached = doc["attached"].as_array().unwrap();
    assert_eq!(attached.len(), 3, "{doc}");
    assert_eq!(attached[0]["kind"], "signatures");
    assert_eq!(attached[0]["via"], "sig-tag");
    assert_eq!(attached[0]["layers"][0]["media_type"], SIMPLESIGNING);
    let types: Vec<&str> = attached[1..]
        .iter()
        .map(|a| a["artifact_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&SIG_ARTIFACT) && types.contains(&BUNDLE_V03),
        "{doc}"
    );
    for a in &attached[1..] {
        assert_eq!(a["kind"], "referrer");
        assert_eq!(a["via"], "referrers-api");
        assert!(!a["layers"].as_array().unwrap().is_empty(), "{a}");
    }

    // An image with nothing attached.
    let bare = ep.push_synthetic("team/bare", Some("v1"), 8);
    let out = run(home.path(), &ep, &["tree", &bare.pinned]).ok();
    assert_eq!(
        out.stdout,
        format!("{}\n└── nothing attached\n", bare.pinned)
    );
    let doc = run(home.path(), &ep, &["tree", &bare.pinned, "-o", "json"])
        .ok()
        .json();
    assert_eq!(doc["status"], "none");
}

#[test]
fn tree_of_an_index_lists_its_manifests_and_with_r_their_signatures() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let index = ep.push_synthetic_index("multi/app", Some("v1"), 3);
    sign(home.path(), &ep, &keys()[0], &[&index.pinned, "-r"]).ok();
    let out = run(home.path(), &ep, &["tree", &index.pinned]).ok();
    for child in &index.children {
        assert!(
            out.stdout.contains(&format!("manifest {}", child.pinned)),
            "{out}"
        );
    }
    assert!(
        out.stdout.contains("(linux/amd64)") && out.stdout.contains("(linux/arm64)"),
        "{out}"
    );
    assert_eq!(
        out.stdout.matches("signatures (.sig tag)").count(),
        1,
        "{out}"
    );
    let out = run(home.path(), &ep, &["tree", "-r", &index.pinned]).ok();
    assert_eq!(
        out.stdout.matches("signatures (.sig tag)").count(),
        3,
        "{out}"
    );
    let doc = run(
        home.path(),
        &ep,
        &["tree", "--recursive", &index.pinned, "-o", "json"],
    )
    .ok()
    .json();
    let manifests = doc["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    assert_eq!(manifests[0]["status"], "found");
    assert_eq!(manifests[0]["platform"], "linux/amd64");
}

#[test]
fn download_signature_prints_cosign_lines_and_bundles() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let (pinned, digest) = signed_image(home.path(), &ep, true);
    let k = keys();
    let payload = expected_payload(&reference(&ep, "team/app"), &digest, &[]);

    let out = run(home.path(), &ep, &["download", "signature", &pinned]).quiet_ok();
    let raw: Vec<&str> = out.lines().collect();
    let lines: Vec<Value> = raw
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    // cosign's SignedPayload: these fields, in this order (Go marshals in declaration order).
    for line in raw.iter().filter(|l| l.starts_with("{\"Base64Signature\"")) {
        let at: Vec<usize> = [
            "\"Base64Signature\"",
            "\"Payload\"",
            "\"Cert\"",
            "\"Chain\"",
            "\"Bundle\"",
            "\"RFC3161Timestamp\"",
        ]
        .iter()
        .map(|k| line.find(k).unwrap_or_else(|| panic!("{k} in {line}")))
        .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut simple = 0;
    for line in &lines {
        if let Some(sig) = line.get("Base64Signature") {
            simple += 1;
            let bytes = b64.decode(line["Payload"].as_str().unwrap()).unwrap();
            assert_eq!(String::from_utf8(bytes.clone()).unwrap(), payload);
            let der = b64.decode(sig.as_str().unwrap()).unwrap();
            assert!(
                verify_der(&k[0].public_pem, &bytes, &der)
                    || verify_der(&k[1].public_pem, &bytes, &der),
                "{line}"
            );
            assert!(line["Cert"].is_null() && line["Bundle"].is_null());
        } else {
            assert_eq!(line["mediaType"], BUNDLE_V03, "{line}");
            assert!(line["dsseEnvelope"].is_object(), "{line}");
        }
    }
    assert_eq!(simple, 2);

    let doc = run(
        home.path(),
        &ep,
        &["download", "signature", &pinned, "-o", "json"],
    )
    .ok()
    .json();
    assert_eq!(doc["status"], "found");
    assert_eq!(doc["digest"], digest.as_str());
    let sigs = doc["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 3);
    assert_eq!(sigs[0]["format"], "simplesigning");
    assert_eq!(sigs[0]["via"], "sig-tag");
    assert_eq!(sigs[0]["payload"], payload.as_str());
    assert!(sigs
        .iter()
        .any(|s| s["format"] == "bundle" && s["bundle"].is_object()));

    // --mode tag: only the .sig tag (and the referrers tag, empty here).
    let out = run(
        home.path(),
        &ep,
        &["download", "signature", &pinned, "--mode", "tag"],
    )
    .quiet_ok();
    assert_eq!(out.lines().count(), 1, "{out}");

    // Nothing signed: exit 1, as cosign ("no signatures").
    let bare = ep.push_synthetic("team/bare", Some("v1"), 9);
    run(home.path(), &ep, &["download", "signature", &bare.pinned])
        .failure(1, &["no signatures found for", &bare.pinned]);
}

#[test]
fn without_the_referrers_api_the_bundle_is_found_in_the_referrers_tag_and_nothing_is_written() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let (pinned, digest) = signed_image(home.path(), &ep, false);
    let hex = digest.trim_start_matches("sha256:");
    let repo = reference(&ep, "team/app");
    let storage = reg.dir().join("storage");
    let before = snapshot::files(&storage);

    let doc = run(home.path(), &ep, &["triangulate", &pinned, "-o", "json"])
        .ok()
        .json();
    assert_eq!(doc["places"][0]["exists"], true);
    assert_eq!(doc["places"][1]["available"], false);
    assert!(doc["places"][1].get("referrers").is_none(), "{doc}");
    assert_eq!(doc["places"][2]["exists"], true);
    assert_eq!(
        doc["places"][2]["reference"],
        format!("{repo}:sha256-{hex}")
    );

    let out = run(home.path(), &ep, &["tree", &pinned]).ok();
    assert!(
        out.stdout.contains(&format!(
            "(referrers tag {repo}:sha256-{hex}): {repo}@sha256:"
        )),
        "{out}"
    );
    let out = run(home.path(), &ep, &["download", "signature", &pinned]).quiet_ok();
    assert_eq!(out.lines().count(), 2, "{out}");
    run(home.path(), &ep, &["tree", &pinned, "-o", "json"]).ok();
    run(
        home.path(),
        &ep,
        &["download", "signature", &pinned, "-o", "json"],
    )
    .ok();

    assert_eq!(
        snapshot::files(&storage),
        before,
        "read-only commands wrote nothing"
    );

    // cosign's deprecated tag prefix is refused, naming what to use instead.
    for cmd in [&["tree"][..], &["triangulate"], &["download", "signature"]] {
        pinsign(home.path(), &ep)
            .args(cmd)
            .args([&pinned, "--attachment-tag-prefix", "sbom-"])
            .outcome()
            .only_error(2, &["--attachment-tag-prefix", "--signature-repo"]);
    }
}

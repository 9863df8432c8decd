//! The JSON of every command that has `-o json`: one document on stdout that parses, and per
//! image (or file) the fields the README's "JSON output" table documents: `input` and `status`
//! always, `pinned` and `digest` once the image was pinned, `error` when it failed. One table,
//! one run per command, against one registry holding a signed image.

use serde_json::Value;

use crate::sign_common::{pinsign, sign};
use crate::support::images;
use crate::support::outcome::RunExt as _;
use crate::support::test_keys::{keys, PASSWORD};
use crate::support::{self, Registry};

/// Where the per-item objects are in a command's document.
#[derive(Clone, Copy, Debug)]
enum Items {
    /// The document is an array of them (batch commands).
    Array,
    /// The document is the one item.
    Root,
    /// Under `images` (documents with a summary: rotate, policy check).
    Images,
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    items: Items,
    /// Fields every item has besides `input` and `status`.
    fields: &'static [&'static str],
    /// The `status` words this command may print.
    statuses: &'static [&'static str],
    /// Whether the items are pinned images (`pinned` and `digest`).
    pinned: bool,
    code: i32,
}

fn case(
    name: &'static str,
    args: &[&str],
    items: Items,
    fields: &'static [&'static str],
    statuses: &'static [&'static str],
) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        items,
        fields,
        statuses,
        pinned: true,
        code: 0,
    }
}

#[test]
fn every_command_prints_the_documented_json() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let dir = home.path();
    let k = keys();
    let (key, public) = (k[0].key_arg(), k[0].public.to_str().unwrap().to_string());
    let image = ep.push_synthetic("json/app", Some("v1"), 1);
    let unsigned = ep.push_synthetic("json/other", Some("v1"), 2);
    sign(dir, &ep, &k[0], &[&image.pinned]).ok();
    sign(dir, &ep, &k[0], &[&image.pinned, "--format", "bundle"]).ok();
    let tagged = reg.image("json/app:v1");
    let missing = reg.image("json/app:missing");

    // Inputs the file commands need.
    let policy = dir.join("policy.yaml");
    let yaml = pinsign(dir, &ep)
        .args(["policy", "kyverno", "--key", &public, "--image"])
        .arg(format!("{}/*", ep.host))
        .outcome()
        .quiet_ok();
    std::fs::write(&policy, yaml).unwrap();
    let blob = dir.join("release.tar");
    std::fs::write(&blob, "release bytes").unwrap();
    let bundle = dir.join("release.sigstore.json");
    pinsign(dir, &ep)
        .args([
            "sign-blob",
            blob.to_str().unwrap(),
            "--key",
            &key,
            "--bundle",
        ])
        .arg(&bundle)
        .outcome()
        .ok();
    let archive = dir.join("image.tar");
    images::store().write_oci_archive(3, &archive, "v1");

    let mut cases = vec![
        case(
            "resolve-digest",
            &["resolve-digest", &tagged, &missing],
            Items::Array,
            &["media_type"],
            &["resolved", "failed"],
        ),
        case(
            "sign-digest",
            &["sign-digest", &tagged, "--key", &key],
            Items::Array,
            &["signatures"],
            &["signed", "unchanged", "failed"],
        ),
        case(
            "verify",
            &["verify", &tagged, &unsigned.pinned, "--key", &public],
            Items::Array,
            &["verified", "signatures"],
            &["verified", "not-verified", "unsigned", "failed"],
        ),
        case(
            "build-push",
            &[
                "build-push",
                "--image",
                &reg.image("json/built:v1"),
                "--from",
                &format!("oci-archive:{}", archive.display()),
            ],
            Items::Root,
            &["media_type", "image"],
            &["pushed", "signed"],
        ),
        case(
            "rotate",
            &[
                "rotate",
                "--old-key",
                &public,
                "--new-key",
                &k[1].key_arg(),
                "--dry-run",
                &tagged,
            ],
            Items::Images,
            &[],
            &[
                "rotated",
                "already-rotated",
                "would-rotate",
                "skipped",
                "failed",
            ],
        ),
        case(
            "policy check",
            &["policy", "check", policy.to_str().unwrap(), &tagged],
            Items::Images,
            &["decision", "image"],
            &["admitted", "denied", "not_covered", "undetermined"],
        ),
        case(
            "triangulate",
            &["triangulate", &tagged],
            Items::Root,
            &["type", "reference", "places"],
            &["found", "none"],
        ),
        case(
            "tree",
            &["tree", &tagged],
            Items::Root,
            &["media_type", "attached"],
            &["found", "none"],
        ),
        case(
            "download signature",
            &["download", "signature", &tagged],
            Items::Root,
            &["signatures", "places"],
            &["found", "none"],
        ),
    ];
    cases[0].code = 1; // the missing tag fails, the other resolves
    cases[2].code = 1; // the unsigned image
    let mut blob_case = case(
        "verify-blob",
        &[
            "verify-blob",
            blob.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--key",
            &public,
        ],
        Items::Root,
        &["digest", "verified", "format"],
        &["verified", "not-verified"],
    );
    blob_case.pinned = false;
    cases.push(blob_case);

    let mut seen_statuses = Vec::new();
    for c in &cases {
        let out = pinsign(dir, &ep)
            .env("COSIGN_PASSWORD", PASSWORD)
            .envs(images::store().env())
            .args(&c.args)
            .args(["-o", "json"])
            .outcome();
        assert_eq!(out.code, c.code, "{}: {out}", c.name);
        let doc = out.json();
        let items: Vec<&Value> = match c.items {
            Items::Array => doc.as_array().expect("an array").iter().collect(),
            Items::Root => vec![&doc],
            Items::Images => doc["images"].as_array().expect("images").iter().collect(),
        };
        assert!(!items.is_empty(), "{}: {doc}", c.name);
        for item in items {
            let status = item["status"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no status in {item}", c.name));
            assert!(
                c.statuses.contains(&status),
                "{}: status {status:?} is not one of {:?}",
                c.name,
                c.statuses
            );
            seen_statuses.push(format!("{} {status}", c.name));
            assert!(item["input"].is_string(), "{}: no input in {item}", c.name);
            if status == "failed" {
                assert!(item["error"].is_string(), "{}: {item}", c.name);
                continue;
            }
            if c.pinned {
                let pinned = item["pinned"].as_str().expect("pinned");
                let digest = item["digest"].as_str().expect("digest");
                assert!(
                    digest.starts_with("sha256:") && pinned.ends_with(digest),
                    "{item}"
                );
            }
            for field in c.fields {
                assert!(
                    item.get(*field).is_some(),
                    "{}: no {field} in {item}",
                    c.name
                );
            }
        }
    }
    for want in [
        "resolve-digest resolved",
        "resolve-digest failed",
        "sign-digest unchanged",
        "verify verified",
        "verify unsigned",
        "build-push pushed",
        "policy check admitted",
        "triangulate found",
        "tree found",
        "download signature found",
        "verify-blob verified",
    ] {
        assert!(
            seen_statuses.iter().any(|s| s == want),
            "{want}: {seen_statuses:?}"
        );
    }
}

#[test]
fn build_push_prints_its_phases_as_lines_without_a_terminal_and_digest_only() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let archive = home.path().join("image.tar");
    let digest = images::store().write_oci_archive(4, &archive, "v1");
    let out = pinsign(home.path(), &ep)
        .envs(images::store().env())
        .args([
            "build-push",
            "--image",
            &reg.image("phases/app:v1"),
            "--digest-only",
        ])
        .arg("--from")
        .arg(format!("oci-archive:{}", archive.display()))
        .outcome()
        .ok();
    assert_eq!(out.stdout, format!("{digest}\n"));
    let phases: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("pinsign: ["))
        .collect();
    assert!(
        phases
            .iter()
            .any(|l| l.contains(" s] copying oci-archive:")),
        "{out}"
    );
    assert!(
        phases.iter().any(|l| l.contains(" s] confirming ")),
        "{out}"
    );
    assert!(!out.stderr.contains('\u{1b}'), "{out}");
    // resolve-digest --digest-only: the bare digest, for scripts.
    let out = pinsign(home.path(), &ep)
        .args([
            "resolve-digest",
            "--digest-only",
            &reg.image("phases/app:v1"),
        ])
        .outcome()
        .quiet_ok();
    assert_eq!(out, format!("{digest}\n"));
}

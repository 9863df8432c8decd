//! `pinsign rotate` and `rotate --prune-old` against real registries: a fleet of 13 images
//! (10 signed with the old key, 2 unsigned, 1 signed only by a foreign key), named in a pods
//! JSON (containers, init containers, a duplicate, a container with no status yet so its tag
//! is resolved) and in a list file. Signatures are checked by pinsign's verify and by the
//! independent checker in `support::cosign_check`; "nothing written" by the registry's own
//! storage directory, file by file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::sign_common;
use crate::support::cosign_check::{
    expected_payload, referrer_manifests, sig_tag_bytes, sig_tag_manifest,
};
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::pods::{self, Container, Status as Pod};
use crate::support::test_keys::{self, keys, TestKey};
use crate::support::{self, snapshot, CountingProxy, Endpoint, Ferro, Registry, SyntheticImage};

const SIGNED: usize = 10;
/// Images 7, 8 and 9 are signed with this payload annotation; the new signatures must carry it.
const ANNOTATED: [&str; 2] = ["team", "web"];

fn old() -> &'static TestKey {
    &keys()[0]
}

fn foreign() -> &'static TestKey {
    &keys()[2]
}

/// The fleet, pushed and signed through `ep`.
struct Fleet {
    ep: Endpoint,
    home: tempfile::TempDir,
    signed: Vec<SyntheticImage>,
    unsigned: Vec<SyntheticImage>,
    foreign: SyntheticImage,
    pods: PathBuf,
    list: PathBuf,
}

impl Fleet {
    fn new(ep: &Endpoint) -> Fleet {
        let home = support::temp_dir();
        let push =
            |name: &str, seed: u64| ep.push_synthetic(&format!("fleet/{name}"), Some("v1"), seed);
        let signed: Vec<SyntheticImage> = (0..SIGNED)
            .map(|i| push(&format!("app{i}"), 500 + i as u64))
            .collect();
        let unsigned: Vec<SyntheticImage> = (0..2)
            .map(|i| push(&format!("unsigned{i}"), 600 + i))
            .collect();
        let foreign_image = push("foreign", 700);
        let pinned =
            |imgs: &[SyntheticImage]| imgs.iter().map(|i| i.pinned.clone()).collect::<Vec<_>>();
        let plain = pinned(&signed[..7]);
        let refs: Vec<&str> = plain.iter().map(String::as_str).collect();
        sign_common::sign(home.path(), ep, old(), &refs).ok();
        let annotated = pinned(&signed[7..]);
        let mut args: Vec<&str> = annotated.iter().map(String::as_str).collect();
        let a = format!("{}={}", ANNOTATED[0], ANNOTATED[1]);
        args.extend(["-a", &a]);
        sign_common::sign(home.path(), ep, old(), &args).ok();
        sign_common::sign(home.path(), ep, foreign(), &[&foreign_image.pinned]).ok();

        let tag = |i: &SyntheticImage| format!("{}/{}:v1", ep.host, i.repo);
        let running = |i: &SyntheticImage| format!("{}/{}@{}", ep.host, i.repo, i.digest);
        let s = &signed;
        let doc = pods::list(vec![
            pods::pod(
                "prod",
                "web-0",
                &[
                    Container::new("app", &tag(&s[0]), Pod::DockerPullable(running(&s[0]))),
                    Container::new("cache", &tag(&s[1]), Pod::Containerd(running(&s[1]))),
                ],
                &[Container::new(
                    "migrate",
                    &tag(&s[2]),
                    Pod::DockerPullable(running(&s[2])),
                )],
            ),
            pods::pod(
                "prod",
                "web-1",
                &[
                    // The same image as web-0's app: one rotation for both.
                    Container::new("app", &tag(&s[0]), Pod::DockerPullable(running(&s[0]))),
                    Container::new("proxy", &s[3].pinned, Pod::Containerd(running(&s[3]))),
                ],
                &[],
            ),
            pods::pod(
                "batch",
                "job-0",
                // Still being created: no imageID yet, so the tag is resolved.
                &[Container::new("worker", &tag(&s[4]), Pod::Missing)],
                &[Container::new(
                    "setup",
                    &tag(&unsigned[0]),
                    Pod::Containerd(running(&unsigned[0])),
                )],
            ),
            pods::pod(
                "batch",
                "job-1",
                &[Container::new(
                    "tool",
                    &tag(&foreign_image),
                    Pod::Containerd(running(&foreign_image)),
                )],
                &[],
            ),
        ]);
        let pods_file = home.path().join("pods.json");
        std::fs::write(&pods_file, doc).unwrap();
        let list = format!(
            "# still deployed outside the cluster\n{}\n{}\n{}  # pinned\n{}\n{}\n{}\n{}\n",
            tag(&s[5]),
            s[6].pinned,
            tag(&s[7]),
            s[8].pinned,
            tag(&s[9]),
            tag(&unsigned[1]),
            tag(&s[1]),
        );
        let list_file = home.path().join("list.txt");
        std::fs::write(&list_file, list).unwrap();
        Fleet {
            ep: ep.clone(),
            home,
            signed,
            unsigned,
            foreign: foreign_image,
            pods: pods_file,
            list: list_file,
        }
    }

    fn path(&self, name: &str) -> String {
        self.home.path().join(name).to_str().unwrap().to_string()
    }

    /// `pinsign rotate --old-key OLD.pub ARGS...` for this fleet.
    fn rotate(&self, args: &[&str]) -> Outcome {
        let mut cmd = sign_common::pinsign(self.home.path(), &self.ep);
        cmd.current_dir(self.home.path())
            .args(["rotate", "--old-key"])
            .arg(&old().public)
            .args(args);
        cmd.outcome()
    }

    /// The inputs of a whole-fleet run.
    fn all_inputs(&self) -> Vec<String> {
        vec![
            "--deployed-from".into(),
            self.pods.to_str().unwrap().into(),
            "--images-from".into(),
            self.list.to_str().unwrap().into(),
        ]
    }

    fn others(&self) -> Vec<&SyntheticImage> {
        self.unsigned.iter().chain([&self.foreign]).collect()
    }

    /// The `.sig` bytes of the three images rotation must not touch.
    fn others_sig_bytes(&self) -> Vec<Option<Vec<u8>>> {
        self.others()
            .iter()
            .map(|i| sig_tag_bytes(&self.ep, &i.repo, &i.digest))
            .collect()
    }

    fn payload(&self, i: usize) -> String {
        let optional: &[(&str, &str)] = if i >= 7 {
            &[(ANNOTATED[0], ANNOTATED[1])]
        } else {
            &[]
        };
        let img = &self.signed[i];
        expected_payload(
            &format!("{}/{}", self.ep.host, img.repo),
            &img.digest,
            optional,
        )
    }

    /// Every signed image's `.sig` tag holds exactly one layer per key in `pems`.
    fn assert_signed_by(&self, pems: &[&str]) {
        for (i, img) in self.signed.iter().enumerate() {
            sig_tag_manifest(&self.ep, &img.repo, &img.digest)
                .unwrap_or_else(|| panic!("{} has no .sig tag", img.repo))
                .assert_exactly_signed_by(&self.payload(i), pems);
        }
    }

    /// `pinsign verify` of the ten signed images with `key` (a .pub path).
    fn verify(&self, key: &Path) -> Outcome {
        let mut cmd = sign_common::pinsign(self.home.path(), &self.ep);
        cmd.arg("verify").arg("--key").arg(key);
        for img in &self.signed {
            cmd.arg(&img.pinned);
        }
        cmd.outcome()
    }
}

fn args<'a>(owned: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    owned
        .iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}

fn report(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `status` of every image in a report, by pinned digest.
fn statuses(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["digest"].as_str().unwrap_or("").to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn count(report: &serde_json::Value, status: &str) -> usize {
    statuses(report).values().filter(|s| *s == status).count()
}

#[test]
fn rotates_the_fleet_once_and_a_second_run_changes_nothing() {
    let reg = Registry::http();
    let fleet = Fleet::new(&reg.endpoint());
    let others_before = fleet.others_sig_bytes();
    let new_prefix = fleet.path("cosign-2025");
    let report_file = fleet.path("report.json");
    let policy = fleet.path("overlap.yaml");
    let pattern = format!("{}/fleet/*", fleet.ep.host);
    let inputs = fleet.all_inputs();
    let out = fleet
        .rotate(&args(
            &inputs,
            &[
                "--new-key-prefix",
                &new_prefix,
                "--report",
                &report_file,
                "--policy-out",
                &policy,
                "--image",
                &pattern,
            ],
        ))
        .ok();
    eprintln!("{out}");
    assert!(
        out.stderr.contains("rotate: 10 rotated, 3 skipped, 0 failed, of 13 images; skipped images are not failures"),
        "{out}"
    );
    assert_eq!(
        out.stdout.matches("\nrotated ").count() + out.stdout.starts_with("rotated ") as usize,
        10,
        "{out}"
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("skipped "))
            .count(),
        3,
        "{out}"
    );
    // The container with no status was resolved, and the pin reported.
    let s4 = &fleet.signed[4];
    assert!(
        out.stdout.contains(&format!(
            "pinned {}/{}:v1 -> {}\n",
            fleet.ep.host, s4.repo, s4.pinned
        )),
        "{out}"
    );
    // The key pair: encrypted private key 0600, public key.
    use std::os::unix::fs::PermissionsExt as _;
    let key_mode = std::fs::metadata(format!("{new_prefix}.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    let new_pub = PathBuf::from(format!("{new_prefix}.pub"));
    let new_pem = std::fs::read_to_string(&new_pub).unwrap();

    // Every signed image verifies with the old key and with the new one.
    fleet.verify(&old().public).ok();
    fleet.verify(&new_pub).ok();
    fleet.assert_signed_by(&[&old().public_pem, &new_pem]);
    // The others are untouched, byte for byte.
    assert_eq!(fleet.others_sig_bytes(), others_before);

    // The report, per image.
    let r = report(&report_file);
    assert_eq!(r["operation"], "rotate");
    assert_eq!(r["summary"]["images"], 13);
    assert_eq!((count(&r, "rotated"), count(&r, "skipped")), (10, 3));
    let by_digest = |d: &str| {
        r["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["digest"] == d)
            .cloned()
            .unwrap()
    };
    for img in &fleet.signed {
        let i = by_digest(&img.digest);
        assert_eq!(
            (&i["old_verified"], &i["new_verified"]),
            (&true.into(), &true.into()),
            "{i}"
        );
        assert_eq!(
            i["re_signed"][0]["place"],
            format!(
                "{}/{}:{}",
                fleet.ep.host,
                img.repo,
                crate::support::cosign_check::sig_tag(&img.digest)
            )
        );
    }
    let annotated = by_digest(&fleet.signed[8].digest);
    assert_eq!(
        annotated["re_signed"][0]["annotations"][ANNOTATED[0]],
        ANNOTATED[1]
    );
    // The duplicate container is one image with both sources; a list line too.
    let app0 = by_digest(&fleet.signed[0].digest);
    assert_eq!(
        app0["sources"],
        serde_json::json!([
            "pod prod/web-0 container app",
            "pod prod/web-1 container app"
        ])
    );
    let app1 = by_digest(&fleet.signed[1].digest);
    assert_eq!(app1["sources"].as_array().unwrap().len(), 2, "{app1}");
    for (img, reason) in [
        (&fleet.unsigned[0], "unsigned: no signatures found"),
        (&fleet.unsigned[1], "unsigned: no signatures found"),
        (
            &fleet.foreign,
            "not signed by the old key: 1 signature by other keys",
        ),
    ] {
        let i = by_digest(&img.digest);
        assert_eq!(i["status"], "skipped");
        assert!(i["reason"].as_str().unwrap().starts_with(reason), "{i}");
        assert_eq!(i["old_verified"], false);
        assert!(i.get("re_signed").is_none(), "{i}");
    }
    // The overlap policy admits both keys.
    let yaml = std::fs::read_to_string(&policy).unwrap();
    assert!(yaml.contains("kind: ClusterPolicy"), "{yaml}");
    for pem in [&old().public_pem, &new_pem] {
        let body = pem.lines().nth(1).unwrap();
        assert!(yaml.contains(body), "{yaml}");
    }

    // Again, resumed with the key it made: nothing changes, everything is already rotated.
    let storage = reg.dir().join("storage");
    let before = snapshot::files(&storage);
    let key = format!("{new_prefix}.key");
    let again = fleet
        .rotate(&args(&inputs, &["--new-key", &key, "-o", "json"]))
        .ok();
    assert_eq!(
        snapshot::files(&storage),
        before,
        "a second run writes nothing"
    );
    let r = again.json();
    assert_eq!(
        (count(&r, "already-rotated"), count(&r, "skipped")),
        (10, 3),
        "{again}"
    );
    assert!(
        again
            .stderr
            .contains("rotate: 10 already rotated, 3 skipped, 0 failed"),
        "{again}"
    );

    // The prefix again: the key pair is never overwritten, and the error says how to resume.
    let key_before = std::fs::read(&key).unwrap();
    fleet
        .rotate(&args(&inputs, &["--new-key-prefix", &new_prefix]))
        .only_error(
            2,
            &[
                "cosign-2025.key already exists",
                "--new-key",
                "nothing was written",
            ],
        );
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
    assert_eq!(snapshot::files(&storage), before);
}

#[test]
fn dry_run_writes_nothing() {
    let reg = Registry::http();
    let fleet = Fleet::new(&reg.endpoint());
    let storage = reg.dir().join("storage");
    let before = snapshot::files(&storage);
    assert!(!before.is_empty());
    let prefix = fleet.path("dry");
    let policy = fleet.path("overlap.yaml");
    let report = fleet.path("dry-report.json");
    let pattern = format!("{}/fleet/*", fleet.ep.host);
    let inputs = fleet.all_inputs();
    let out = fleet
        .rotate(&args(
            &inputs,
            &[
                "--new-key-prefix",
                &prefix,
                "--dry-run",
                "--policy-out",
                &policy,
                "--image",
                &pattern,
                "--report",
                &report,
            ],
        ))
        .ok();
    assert!(out.stderr.contains("would write the report"), "{out}");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("would rotate "))
            .count(),
        10,
        "{out}"
    );
    assert!(
        out.stderr
            .contains("rotate (dry run, nothing written): 10 would rotate, 3 skipped"),
        "{out}"
    );
    assert_eq!(
        snapshot::files(&storage),
        before,
        "the registry's storage is unchanged"
    );
    for file in [
        format!("{prefix}.key"),
        format!("{prefix}.pub"),
        policy,
        report,
    ] {
        assert!(!Path::new(&file).exists(), "{file} was written");
    }
    // A prune in dry run writes nothing either (here: nothing to prune against).
    let new = &keys()[1];
    let out = fleet
        .rotate(&args(
            &inputs,
            &[
                "--prune-old",
                "--new-key",
                new.public.to_str().unwrap(),
                "--dry-run",
            ],
        ))
        .ok();
    assert!(out.stderr.contains("13 skipped"), "{out}");
    assert_eq!(snapshot::files(&storage), before);
}

#[test]
fn a_run_interrupted_by_a_failing_registry_completes_on_rerun() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let fleet = Fleet::new(&proxy.endpoint());
    // Four .sig writes go through, then the registry fails every write of a .sig tag.
    proxy.fail_after("PUT", "/manifests/sha256-", 500, 4, 100_000);
    let prefix = fleet.path("new");
    let first_report = fleet.path("first.json");
    let inputs = fleet.all_inputs();
    let mut cmd_args = args(
        &inputs,
        &[
            "--new-key-prefix",
            &prefix,
            "--report",
            &first_report,
            "--concurrency",
            "2",
        ],
    );
    cmd_args.push("-q");
    let out = fleet.rotate(&cmd_args).code(1);
    assert!(
        out.stderr.contains("pinsign: error: cannot rotate"),
        "{out}"
    );
    assert!(
        out.stderr.contains("pinsign: 6 of 13 images failed"),
        "{out}"
    );
    let r = report(&first_report);
    assert_eq!(
        (
            count(&r, "rotated"),
            count(&r, "failed"),
            count(&r, "skipped")
        ),
        (4, 6, 3),
        "{r:#}"
    );
    let failed = r["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "failed")
        .unwrap();
    assert!(
        failed["reason"].as_str().unwrap().contains("500"),
        "{failed}"
    );

    // The registry recovers; the same command with the key it wrote finishes the rest.
    proxy.clear_faults();
    let key = format!("{prefix}.key");
    let second = fleet.path("second.json");
    fleet
        .rotate(&args(&inputs, &["--new-key", &key, "--report", &second]))
        .ok();
    let r = report(&second);
    assert_eq!(
        (
            count(&r, "already-rotated"),
            count(&r, "rotated"),
            count(&r, "skipped")
        ),
        (4, 6, 3),
        "{r:#}"
    );
    let new_pub = PathBuf::from(format!("{prefix}.pub"));
    fleet.verify(&new_pub).ok();
    fleet.assert_signed_by(&[
        &old().public_pem,
        &std::fs::read_to_string(&new_pub).unwrap(),
    ]);
}

#[test]
fn two_shards_cover_the_list_exactly() {
    let reg = Registry::http();
    let fleet = Fleet::new(&reg.endpoint());
    let new = &keys()[1];
    let inputs = fleet.all_inputs();
    let shard = |inputs: &[String], s: &str, dry: bool| -> serde_json::Value {
        let mut a = args(
            inputs,
            &[
                "--new-key",
                new.key.to_str().unwrap(),
                "--shard",
                s,
                "-o",
                "json",
            ],
        );
        if dry {
            a.push("--dry-run");
        }
        let out = fleet.rotate(&a).ok();
        assert!(out.stderr.contains(&format!("(shard {s}; ")), "{out}");
        out.json()
    };
    let digests = |r: &serde_json::Value| -> BTreeSet<String> { statuses(r).into_keys().collect() };
    let one = digests(&shard(&inputs, "1/2", true));
    let two = digests(&shard(&inputs, "2/2", true));
    let all: BTreeSet<String> = fleet
        .signed
        .iter()
        .chain(fleet.others())
        .map(|i| i.digest.clone())
        .collect();
    assert!(one.is_disjoint(&two), "{one:?} {two:?}");
    assert_eq!(one.union(&two).cloned().collect::<BTreeSet<_>>(), all);
    assert!(
        !one.is_empty() && !two.is_empty(),
        "13 digests split: {} and {}",
        one.len(),
        two.len()
    );
    // Independent of the order (and the source) of the list: the same list reversed.
    let mut lines: Vec<String> = fleet
        .signed
        .iter()
        .chain(fleet.others())
        .map(|i| format!("{}/{}:v1", fleet.ep.host, i.repo))
        .collect();
    lines.reverse();
    let reversed = fleet.path("reversed.txt");
    std::fs::write(&reversed, lines.join("\n")).unwrap();
    let only_list = vec!["--images-from".to_string(), reversed];
    assert_eq!(digests(&shard(&only_list, "1/2", true)), one);
    // For real: the two jobs together rotate every signed image, each once.
    let r1 = shard(&inputs, "1/2", false);
    let r2 = shard(&inputs, "2/2", false);
    assert_eq!(count(&r1, "rotated") + count(&r2, "rotated"), SIGNED);
    fleet.verify(&new.public).ok();
    fleet.assert_signed_by(&[&old().public_pem, &new.public_pem]);
}

#[test]
fn prune_leaves_only_new_key_layers_and_every_image_still_verifies() {
    let reg = Registry::http();
    let fleet = Fleet::new(&reg.endpoint());
    let new = &keys()[1];
    let inputs = fleet.all_inputs();
    fleet
        .rotate(&args(&inputs, &["--new-key", new.key.to_str().unwrap()]))
        .ok();
    // Signed with the old key after the rotation (by a CI job not yet switched): no new-key
    // signature, so the prune must leave it alone.
    let late = fleet.ep.push_synthetic("fleet/late", Some("v1"), 800);
    sign_common::sign(fleet.home.path(), &fleet.ep, old(), &[&late.pinned]).ok();
    let late_before = sig_tag_bytes(&fleet.ep, "fleet/late", &late.digest);
    let others_before = fleet.others_sig_bytes();
    let mut with_late = inputs.clone();
    with_late.push(late.pinned.clone());
    let prune = |more: &[&str]| {
        let mut a = args(
            &with_late,
            &["--prune-old", "--new-key", new.public.to_str().unwrap()],
        );
        a.extend_from_slice(more);
        fleet.rotate(&a)
    };

    let storage = reg.dir().join("storage");
    let before = snapshot::files(&storage);
    let dry = prune(&["--dry-run"]).ok();
    assert_eq!(
        dry.stdout
            .lines()
            .filter(|l| l.starts_with("would prune "))
            .count(),
        10,
        "{dry}"
    );
    assert_eq!(snapshot::files(&storage), before);

    let report_file = fleet.path("prune.json");
    let out = prune(&["--report", &report_file]).ok();
    assert!(
        out.stderr
            .contains("prune-old: 10 pruned, 4 skipped, 0 failed, of 14 images"),
        "{out}"
    );
    fleet.assert_signed_by(&[&new.public_pem]);
    fleet.verify(&new.public).ok();
    fleet.verify(&old().public).code(1);
    assert_eq!(fleet.others_sig_bytes(), others_before);
    assert_eq!(
        sig_tag_bytes(&fleet.ep, "fleet/late", &late.digest),
        late_before
    );
    let r = report(&report_file);
    let late_report = r["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == late.digest)
        .unwrap();
    assert_eq!(late_report["status"], "skipped");
    assert!(
        late_report["reason"]
            .as_str()
            .unwrap()
            .contains("no valid new-key signature there"),
        "{late_report}"
    );
    let pruned = r["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "pruned")
        .unwrap();
    assert_eq!(pruned["removed"][0]["outcome"], "removed");
    assert_eq!(pruned["removed"][0]["count"], 1);
    assert_eq!(pruned["new_verified"], true);

    // Again: nothing left to remove, nothing written. A rotation now: already rotated.
    let before = snapshot::files(&storage);
    let again = prune(&[]).ok();
    assert!(
        again
            .stderr
            .contains("prune-old: 10 already pruned, 4 skipped"),
        "{again}"
    );
    let rotate = fleet
        .rotate(&args(&inputs, &["--new-key", new.key.to_str().unwrap()]))
        .ok();
    assert!(
        rotate.stderr.contains("10 already rotated, 3 skipped"),
        "{rotate}"
    );
    assert_eq!(snapshot::files(&storage), before);
}

#[test]
fn a_prune_racing_concurrent_signers_loses_no_signature() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let new = &keys()[1];
    let signers = [&keys()[3], &keys()[4]];
    for round in 0..3u64 {
        let repo = format!("race/app{round}");
        let image = ep.push_synthetic(&repo, Some("v1"), 900 + round);
        sign_common::sign(home.path(), &ep, old(), &[&image.pinned]).ok();
        sign_common::sign(home.path(), &ep, new, &[&image.pinned]).ok();
        let mut prune = support::pinsign_std(home.path());
        ep.configure_pinsign_std(&mut prune);
        prune
            .env("COSIGN_PASSWORD", test_keys::PASSWORD)
            .args(["rotate", "--prune-old", "-v", "--old-key"])
            .arg(&old().public)
            .arg("--new-key")
            .arg(&new.public)
            .arg(&image.pinned);
        let mut children = vec![prune];
        for key in signers {
            children.push(sign_common::sign_std(
                home.path(),
                &ep,
                key,
                &[&image.pinned, "-v"],
            ));
        }
        let running: Vec<_> = children
            .iter_mut()
            .map(|c| {
                c.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outcomes: Vec<Outcome> = running
            .into_iter()
            .map(|c| Outcome::of(&c.wait_with_output().unwrap()))
            .collect();
        for (i, o) in outcomes.iter().enumerate() {
            assert_eq!(o.code, 0, "round {round} process {i}: {o}");
        }
        eprintln!(
            "round {round}: prune said {:?}; {} restores by the prune, {} re-merges by the signers",
            outcomes[0].stdout.trim(),
            outcomes[0].stderr.matches("restoring them").count()
                + outcomes[0]
                    .stderr
                    .matches("written again by another writer")
                    .count(),
            outcomes[1..]
                .iter()
                .map(|o| o.stderr.matches("merging again").count())
                .sum::<usize>()
        );
        let payload = expected_payload(&format!("{}/{repo}", ep.host), &image.digest, &[]);
        let manifest = sig_tag_manifest(&ep, &repo, &image.digest).unwrap();
        // Neither the new key's signature nor any concurrent signer's is lost; the old is gone.
        manifest.assert_exactly_signed_by(
            &payload,
            &[
                &new.public_pem,
                &signers[0].public_pem,
                &signers[1].public_pem,
            ],
        );
        assert!(!manifest
            .layers
            .iter()
            .any(|l| l.verifies_with(&old().public_pem)));
    }
}

#[test]
fn referrers_signatures_are_rotated_and_pruned_in_place() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let new = &keys()[1];
    let by_ref = ep.push_synthetic("oci/app", Some("v1"), 1000);
    let by_tag = ep.push_synthetic("oci/tagged", Some("v1"), 1001);
    sign_common::sign(
        home.path(),
        &ep,
        old(),
        &[&by_ref.pinned, "--mode", "referrers"],
    )
    .ok();
    sign_common::sign(home.path(), &ep, old(), &[&by_tag.pinned]).ok();
    let run = |more: &[&str]| {
        let mut cmd = sign_common::pinsign(home.path(), &ep);
        cmd.args(["rotate", "--old-key"])
            .arg(&old().public)
            .args([&by_ref.pinned, &by_tag.pinned])
            .args(more);
        cmd.outcome().ok()
    };
    let subject = serde_json::json!({"mediaType": crate::support::client::OCI_MANIFEST, "digest": by_ref.digest, "size": by_ref.manifest.len()});
    let out = run(&["--new-key", new.key.to_str().unwrap()]);
    assert!(
        out.stdout
            .contains(&format!("(new signature in {}/oci/app@sha256:", ep.host)),
        "{out}"
    );
    let artifacts = referrer_manifests(&ep, "oci/app", &subject);
    assert_eq!(artifacts.len(), 2, "old and new artifacts");
    let payload = expected_payload(&format!("{}/oci/app", ep.host), &by_ref.digest, &[]);
    for pem in [&old().public_pem, &new.public_pem] {
        assert_eq!(
            artifacts
                .iter()
                .filter(|a| a.layers.iter().any(|l| l.verifies_with(pem)))
                .count(),
            1
        );
    }
    // Nothing went to the .sig tag of the referrers-signed image.
    assert!(sig_tag_bytes(&ep, "oci/app", &by_ref.digest).is_none());
    let tag_payload = expected_payload(&format!("{}/oci/tagged", ep.host), &by_tag.digest, &[]);
    sig_tag_manifest(&ep, "oci/tagged", &by_tag.digest)
        .unwrap()
        .assert_exactly_signed_by(&tag_payload, &[&old().public_pem, &new.public_pem]);
    let mut verify = sign_common::pinsign(home.path(), &ep);
    verify
        .args(["verify", "--mode", "referrers", "--key"])
        .arg(&new.public)
        .arg(&by_ref.pinned);
    verify.outcome().ok();

    let out = run(&["--prune-old", "--new-key", new.public.to_str().unwrap()]);
    assert!(
        out.stderr.contains("prune-old: 2 pruned, 0 failed"),
        "{out}"
    );
    let artifacts = referrer_manifests(&ep, "oci/app", &subject);
    assert_eq!(artifacts.len(), 1);
    artifacts[0].assert_exactly_signed_by(&payload, &[&new.public_pem]);
    sig_tag_manifest(&ep, "oci/tagged", &by_tag.digest)
        .unwrap()
        .assert_exactly_signed_by(&tag_payload, &[&new.public_pem]);
}

#[test]
fn signatures_in_a_signature_repository_stay_there() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let new = &keys()[1];
    let image = ep.push_synthetic("team/app", Some("v1"), 1100);
    let sigs = format!("{}/team/signatures", ep.host);
    sign_common::sign(
        home.path(),
        &ep,
        old(),
        &[&image.pinned, "--signature-repo", &sigs],
    )
    .ok();
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.env("COSIGN_REPOSITORY", &sigs)
        .args(["rotate", "--old-key"])
        .arg(&old().public)
        .arg("--new-key")
        .arg(&new.key)
        .arg(&image.pinned);
    cmd.outcome().ok();
    let payload = expected_payload(&format!("{}/team/app", ep.host), &image.digest, &[]);
    sig_tag_manifest(&ep, "team/signatures", &image.digest)
        .unwrap()
        .assert_exactly_signed_by(&payload, &[&old().public_pem, &new.public_pem]);
    assert!(sig_tag_bytes(&ep, "team/app", &image.digest).is_none());
    // Without the signature repository, the image looks unsigned: skipped, nothing written.
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.args(["rotate", "--old-key"])
        .arg(&old().public)
        .arg("--new-key")
        .arg(&new.key)
        .arg(&image.pinned);
    let out = cmd.outcome().ok();
    assert!(
        out.stdout.contains("skipped") && out.stdout.contains("unsigned"),
        "{out}"
    );
    assert!(sig_tag_bytes(&ep, "team/app", &image.digest).is_none());
}

#[test]
fn bad_input_is_one_line_and_exit_2_with_nothing_written() {
    let reg = Registry::http();
    let fleet = Fleet::new(&reg.endpoint());
    let storage = reg.dir().join("storage");
    let before = snapshot::files(&storage);
    let new_key = keys()[1].key.to_str().unwrap().to_string();
    let write = |name: &str, text: &str| {
        let p = fleet.path(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let not_json = write("not.json", "NAME READY STATUS\nweb-0 1/1 Running\n");
    fleet
        .rotate(&["--new-key", &new_key, "--deployed-from", &not_json])
        .only_error(
            2,
            &[
                "--deployed-from",
                "not.json is not JSON",
                "kubectl get pods -A -o json",
            ],
        );
    let deployment = write(
        "deploy.json",
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}"#,
    );
    fleet
        .rotate(&["--new-key", &new_key, "--deployed-from", &deployment])
        .only_error(
            2,
            &["deploy.json is a Deployment, not a Pod, PodList or List of Pods"],
        );
    // The old key given as its private key.
    let mut cmd = sign_common::pinsign(fleet.home.path(), &fleet.ep);
    cmd.args(["rotate", "--old-key"]).arg(&old().key).args([
        "--new-key",
        &new_key,
        &fleet.signed[0].pinned,
    ]);
    cmd.outcome()
        .only_error(2, &["--old-key", "is a private key", "public key"]);
    // The new key is the old one.
    fleet
        .rotate(&[
            "--new-key",
            old().key.to_str().unwrap(),
            &fleet.signed[0].pinned,
        ])
        .only_error(
            2,
            &["is the same key as --old-key", "a rotation needs a new key"],
        );
    // Prune with a private new key.
    fleet
        .rotate(&[
            "--prune-old",
            "--new-key",
            &new_key,
            &fleet.signed[0].pinned,
        ])
        .only_error(2, &["--new-key", "is a private key"]);
    fleet
        .rotate(&[
            "--new-key",
            &new_key,
            "--shard",
            "3/2",
            &fleet.signed[0].pinned,
        ])
        .only_error(2, &["--shard \"3/2\""]);
    assert_eq!(snapshot::files(&storage), before);
}

/// `examples/rotation/rotate-key.sh` as the README runs it: `begin` for real (with a stand-in
/// `kubectl` that prints the fleet's pods JSON), `finish` as a dry run, then `finish` for real:
/// only new-key signatures remain, and the final policy names the new key only.
#[test]
fn the_example_script_rotates_the_fleet() {
    let reg = Registry::http();
    let fleet = Fleet::new(&reg.endpoint());
    let bin = fleet.home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = |name: &str, body: String| {
        use std::os::unix::fs::PermissionsExt as _;
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // The test registry speaks plain HTTP; production registries need no flag.
    script(
        "pinsign",
        format!(
            "#!/bin/sh\nexec {} --allow-http-registry \"$@\"\n",
            env!("CARGO_BIN_EXE_pinsign")
        ),
    );
    script(
        "kubectl",
        format!("#!/bin/sh\ncat {}\n", fleet.pods.display()),
    );
    let run = |phase: &str, dry: bool| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rotation/rotate-key.sh");
        let mut sh = std::process::Command::new("/bin/sh");
        sh.arg(script)
            .arg(phase)
            .current_dir(fleet.home.path())
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", fleet.home.path())
            .env("COSIGN_PASSWORD", test_keys::PASSWORD)
            .env("OLD_PUB", &old().public)
            .env("NEW_PREFIX", "cosign-next")
            .env("IMAGES", format!("{}/fleet/*", fleet.ep.host))
            .env("EXTRA_IMAGES", &fleet.list);
        if dry {
            sh.env("DRY_RUN", "1");
        }
        sh.outcome()
    };
    let out = run("begin", false).ok();
    assert!(
        out.stderr
            .contains("COSIGN_PRIVATE_KEY  <- the whole content of cosign-next.key"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("rotate: 10 rotated, 3 skipped, 0 failed, of 13 images"),
        "{out}"
    );
    let new_pub = fleet.home.path().join("cosign-next.pub");
    fleet.verify(&new_pub).ok();
    let policy = std::fs::read_to_string(fleet.home.path().join("overlap-policy.yaml")).unwrap();
    assert!(policy.contains("kind: ClusterPolicy"), "{policy}");
    // Begin again: resumes with the key it made, changes nothing.
    let storage = reg.dir().join("storage");
    let before = snapshot::files(&storage);
    let again = run("begin", false).ok();
    assert!(
        again
            .stderr
            .contains("cosign-next.key exists: resuming with it"),
        "{again}"
    );
    assert!(
        again.stderr.contains("10 already rotated, 3 skipped"),
        "{again}"
    );
    let dry = run("finish", true).ok();
    assert!(
        dry.stderr
            .contains("prune-old (dry run, nothing written): 10 would prune"),
        "{dry}"
    );
    assert!(
        dry.stderr
            .contains("would run pinsign policy kyverno --key cosign-next.pub"),
        "{dry}"
    );
    assert_eq!(snapshot::files(&storage), before);
    run("finish", false).ok();
    fleet.verify(&new_pub).ok();
    let final_policy =
        std::fs::read_to_string(fleet.home.path().join("final-policy.yaml")).unwrap();
    let new_pem = std::fs::read_to_string(&new_pub).unwrap();
    let new_body = new_pem.lines().nth(1).unwrap();
    let old_pem = std::fs::read_to_string(&old().public).unwrap();
    let old_body = old_pem.lines().nth(1).unwrap();
    assert!(final_policy.contains(new_body), "{final_policy}");
    assert!(!final_policy.contains(old_body), "{final_policy}");
}

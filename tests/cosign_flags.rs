//! What a cosign user types: cosign's flag spellings and environment variables, each parsed and
//! behaving as pinsign's own form (or refused with a clear reason); `--upload=false` with the
//! signature and payload files; KMS references; the password order; output without a terminal
//! (CI progress lines, input order) and on one (`NO_COLOR`, `TERM=dumb`).

use std::path::Path;

use crate::sign_common::{pinsign, reference, sign, signed_line};
use crate::support::cosign_check::{expected_payload, sig_tag_manifest, verify_der};
use crate::support::outcome::RunExt as _;
use crate::support::test_keys::{keys, PASSWORD};
use crate::support::{self, pty, snapshot, Registry, READER};

fn verify(home: &Path, ep: &support::Endpoint, args: &[&str]) -> support::outcome::Outcome {
    pinsign(home, ep).arg("verify").args(args).outcome()
}

#[test]
fn annotations_alias_signs_and_verifies_as_a() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let k = &keys()[0];
    let pub_key = k.public.to_str().unwrap();
    let short = ep.push_synthetic("alias/a", None, 1);
    let long = ep.push_synthetic("alias/b", None, 2);
    let plain = ep.push_synthetic("alias/c", None, 3);
    sign(home.path(), &ep, k, &[&short.pinned, "-a", "team=web"]).ok();
    sign(
        home.path(),
        &ep,
        k,
        &[&long.pinned, "--annotations", "team=web"],
    )
    .ok();
    sign(
        home.path(),
        &ep,
        k,
        &[&plain.pinned, "--annotation", "team=web"],
    )
    .ok();
    for (image, repo) in [(&short, "alias/a"), (&long, "alias/b"), (&plain, "alias/c")] {
        let want = expected_payload(&reference(&ep, repo), &image.digest, &[("team", "web")]);
        sig_tag_manifest(&ep, repo, &image.digest)
            .expect(".sig tag")
            .assert_exactly_signed_by(&want, &[&k.public_pem]);
    }
    for flag in ["-a", "--annotation", "--annotations"] {
        verify(
            home.path(),
            &ep,
            &[&long.pinned, "--key", pub_key, flag, "team=web"],
        )
        .ok();
        let out = verify(
            home.path(),
            &ep,
            &[&short.pinned, "--key", pub_key, flag, "team=db"],
        );
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains("is NOT verified"), "{out}");
        assert!(out.stderr.contains("annotation team=db missing"), "{out}");
    }
}

#[test]
fn r_is_recursive() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let k = &keys()[0];
    for (flag, seed) in [("-r", 1), ("--recursive", 2)] {
        let index = ep.push_synthetic_index("rec/app", None, seed);
        let out = sign(home.path(), &ep, k, &[&index.pinned, flag]).ok();
        assert_eq!(out.stdout.lines().count(), 3, "{flag}: {out}");
        for child in &index.children {
            assert!(
                sig_tag_manifest(&ep, "rec/app", &child.digest).is_some(),
                "{flag} signs {}",
                child.pinned
            );
        }
    }
}

#[test]
fn yes_and_tlog_upload_false_are_accepted_true_is_refused() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let k = &keys()[0];
    let pub_key = k.public.to_str().unwrap();
    for (i, flags) in [
        &["-y"][..],
        &["--yes"],
        &["--tlog-upload=false"],
        &["-y", "--tlog-upload=false"],
    ]
    .iter()
    .enumerate()
    {
        let image = ep.push_synthetic("yes/app", None, i as u64);
        let out = sign(
            home.path(),
            &ep,
            k,
            &[&[image.pinned.as_str()][..], flags].concat(),
        )
        .ok();
        assert_eq!(
            out.stdout,
            format!(
                "{}\n",
                signed_line(&ep, "yes/app", &image.digest, "yes/app")
            ),
            "{flags:?}"
        );
    }
    let image = ep.push_synthetic("yes/app", None, 9);
    for flag in ["--tlog-upload", "--tlog-upload=true"] {
        sign(home.path(), &ep, k, &[&image.pinned, flag])
            .only_error(2, &["--tlog-upload", "no transparency log"]);
    }
    assert!(sig_tag_manifest(&ep, "yes/app", &image.digest).is_none());

    // sign-blob and build-push --sign take them too (refused before any build).
    let file = home.path().join("f.txt");
    std::fs::write(&file, "release").unwrap();
    pinsign(home.path(), &ep)
        .args([
            "sign-blob",
            file.to_str().unwrap(),
            "-y",
            "--tlog-upload=false",
            "--key",
        ])
        .arg(&k.key)
        .outcome()
        .ok();
    pinsign(home.path(), &ep)
        .args([
            "sign-blob",
            file.to_str().unwrap(),
            "--tlog-upload",
            "--key",
        ])
        .arg(&k.key)
        .outcome()
        .only_error(2, &["no transparency log"]);
    pinsign(home.path(), &ep)
        .args([
            "build-push",
            "--image",
            &reg.image("yes/built:v1"),
            "--sign",
            "-y",
        ])
        .args(["--tlog-upload=true", "--key"])
        .arg(&k.key)
        .outcome()
        .only_error(2, &["no transparency log"]);

    // verify: cosign v2's --insecure-ignore-tlog=true is what pinsign does for key signatures.
    let signed = ep.push_synthetic("yes/app", None, 0);
    let plain = verify(home.path(), &ep, &[&signed.pinned, "--key", pub_key]).ok();
    for flag in ["--insecure-ignore-tlog", "--insecure-ignore-tlog=true"] {
        let out = verify(home.path(), &ep, &[&signed.pinned, "--key", pub_key, flag]).ok();
        assert_eq!(out.stdout, plain.stdout);
    }
    verify(
        home.path(),
        &ep,
        &[
            &signed.pinned,
            "--key",
            pub_key,
            "--insecure-ignore-tlog=false",
        ],
    )
    .only_error(2, &["--insecure-ignore-tlog=false"]);
}

#[test]
fn attachment_tag_prefix_and_docker_media_types_are_refused_clearly() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let k = &keys()[0];
    let image = ep.push_synthetic("refuse/app", Some("v1"), 1);
    // An empty prefix is cosign's default: accepted.
    sign(
        home.path(),
        &ep,
        k,
        &[&image.pinned, "--attachment-tag-prefix="],
    )
    .ok();
    let other = ep.push_synthetic("refuse/app", None, 2);
    sign(
        home.path(),
        &ep,
        k,
        &[&other.pinned, "--attachment-tag-prefix", "sbom-"],
    )
    .only_error(
        2,
        &[
            "--attachment-tag-prefix \"sbom-\"",
            "Kyverno",
            "--signature-repo",
        ],
    );
    verify(
        home.path(),
        &ep,
        &[
            &image.pinned,
            "--key",
            k.public.to_str().unwrap(),
            "--attachment-tag-prefix=x-",
        ],
    )
    .only_error(2, &["--attachment-tag-prefix"]);

    for value in ["1", "true"] {
        pinsign(home.path(), &ep)
            .env("COSIGN_DOCKER_MEDIA_TYPES", value)
            .args(["sign-digest", &other.pinned, "--key"])
            .arg(&k.key)
            .outcome()
            .only_error(2, &["COSIGN_DOCKER_MEDIA_TYPES", "OCI", "Zot"]);
    }
    pinsign(home.path(), &ep)
        .env("COSIGN_DOCKER_MEDIA_TYPES", "1")
        .args([
            "build-push",
            "--image",
            &reg.image("refuse/built:v1"),
            "--sign",
            "--key",
        ])
        .arg(&k.key)
        .outcome()
        .only_error(2, &["COSIGN_DOCKER_MEDIA_TYPES"]);
    pinsign(home.path(), &ep)
        .env("COSIGN_DOCKER_MEDIA_TYPES", "1")
        .args([
            "rotate",
            "--old-key",
            k.public.to_str().unwrap(),
            "--new-key-prefix",
        ])
        .arg(home.path().join("new"))
        .arg(&image.pinned)
        .outcome()
        .only_error(2, &["COSIGN_DOCKER_MEDIA_TYPES"]);
    assert!(sig_tag_manifest(&ep, "refuse/app", &other.digest).is_none());
    // Set to false it asks for nothing.
    pinsign(home.path(), &ep)
        .env("COSIGN_DOCKER_MEDIA_TYPES", "0")
        .args(["sign-digest", &other.pinned, "--key"])
        .arg(&k.key)
        .outcome()
        .ok();
}

#[test]
fn upload_false_writes_the_files_and_leaves_the_registry_untouched() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let k = &keys()[0];
    let image = ep.push_synthetic("detached/app", Some("v1"), 1);
    let tagged = reg.image("detached/app:v1");
    let storage = reg.dir().join("storage");
    let tags_before = ep.tags("detached/app");
    let files_before = snapshot::files(&storage);
    let sig = home.path().join("app.sig");
    let payload = home.path().join("app.payload");

    let out = sign(
        home.path(),
        &ep,
        k,
        &[
            &tagged,
            "--upload=false",
            "--output-signature",
            sig.to_str().unwrap(),
            "--output-payload",
            payload.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(
        out.stdout,
        format!(
            "pinned {tagged} -> {}\nsigned {} (signature file {}, payload file {}; not uploaded)\n",
            image.pinned,
            image.pinned,
            sig.display(),
            payload.display()
        )
    );
    // Nothing written to the registry: the same tags, the same bytes on disk.
    assert_eq!(ep.tags("detached/app"), tags_before);
    assert_eq!(snapshot::files(&storage), files_before);
    // The files: cosign's payload and a base64 signature over it.
    let want = expected_payload(&reference(&ep, "detached/app"), &image.digest, &[]);
    assert_eq!(std::fs::read_to_string(&payload).unwrap(), want);
    let b64 = std::fs::read_to_string(&sig).unwrap();
    let der = base64_decode(&b64);
    assert!(verify_der(&k.public_pem, want.as_bytes(), &der));

    // A reader (pull only) can sign this way: no push token is asked for.
    let token = Registry::token();
    let reader = token.endpoint_as(READER);
    let writer = token.endpoint();
    let on_token = writer.push_synthetic("detached/app", Some("v1"), 2);
    let doc = sign(
        home.path(),
        &reader,
        k,
        &[
            &on_token.pinned,
            "--upload=false",
            "--output-signature",
            sig.to_str().unwrap(),
            "-o",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(doc[0]["status"], "signed");
    assert_eq!(doc[0]["digest"], on_token.digest.as_str());
    assert_eq!(doc[0]["signatures"], serde_json::json!([]));
    assert_eq!(doc[0]["files"][0]["uploaded"], false);
    assert_eq!(doc[0]["files"][0]["signature_file"], sig.to_str().unwrap());

    // With the upload: the files hold exactly the signature stored (ECDSA is deterministic).
    sign(
        home.path(),
        &ep,
        k,
        &[&image.pinned, "--output-signature", sig.to_str().unwrap()],
    )
    .ok();
    let stored = sig_tag_manifest(&ep, "detached/app", &image.digest).expect(".sig written");
    assert_eq!(stored.layers.len(), 1);
    assert_eq!(
        stored.layers[0].signature_der,
        base64_decode(&std::fs::read_to_string(&sig).unwrap())
    );

    // Several signatures (--recursive): one file per digest, named as cosign names them.
    let index = ep.push_synthetic_index("detached/multi", None, 3);
    let base = home.path().join("multi.sig");
    sign(
        home.path(),
        &ep,
        k,
        &[
            &index.pinned,
            "-r",
            "--upload=false",
            "--output-signature",
            base.to_str().unwrap(),
        ],
    )
    .ok();
    for digest in std::iter::once(&index.digest).chain(index.children.iter().map(|c| &c.digest)) {
        let file = format!("{}-{}", base.display(), digest.replace(':', "-"));
        assert!(Path::new(&file).is_file(), "{file}");
    }
    assert!(ep
        .tags("detached/multi")
        .iter()
        .all(|t| !t.ends_with(".sig")));

    // Usage errors: nothing to write, or a format with no such files.
    sign(home.path(), &ep, k, &[&image.pinned, "--upload=false"])
        .only_error(2, &["--upload=false", "--output-signature"]);
    sign(
        home.path(),
        &ep,
        k,
        &[
            &image.pinned,
            "--format",
            "bundle",
            "--output-payload",
            payload.to_str().unwrap(),
        ],
    )
    .only_error(2, &["--format bundle"]);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64")
}

#[test]
fn kms_references_are_refused_for_every_command_that_takes_a_key() {
    let home = support::temp_dir();
    let file = home.path().join("f.txt");
    std::fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    // Nothing listens on port 9: refusing the key comes before any network request.
    let image = "127.0.0.1:9/kms/app:v1";
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "sign-digest",
            image,
            "--key",
            "awskms:///arn:aws:kms:eu-west-1:1:key/k",
        ],
        vec![
            "verify",
            image,
            "--key",
            "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
        ],
        vec![
            "build-push",
            "--image",
            image,
            "--sign",
            "--key",
            "azurekms://vault/key",
        ],
        vec!["public-key", "--key", "hashivault://transit"],
        vec!["sign-blob", f, "--key", "k8s://ns/cosign"],
        vec![
            "verify-blob",
            f,
            "--signature",
            f,
            "--key",
            "awskms://alias/k",
        ],
        vec!["import-key-pair", "--key", "pkcs11:token=yubi;object=k"],
        vec![
            "policy",
            "kyverno",
            "--key",
            "gcpkms://k",
            "--image",
            "127.0.0.1:9/*",
        ],
        vec![
            "rotate",
            "--old-key",
            "hashivault://old",
            "--new-key",
            "k8s://ns/new",
            image,
        ],
    ];
    for args in cases {
        let out = support::pinsign(home.path()).args(&args).outcome();
        let line = out.only_error(2, &["KMS keys are not supported; use a key file or env://"]);
        assert!(!line.contains("cannot read key file"), "{args:?}: {line}");
    }
}

#[test]
fn an_explicit_password_file_beats_the_environment() {
    let home = support::temp_dir();
    let k = &keys()[0];
    let pw = home.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let public = support::pinsign(home.path())
        .env("COSIGN_PASSWORD", "wrong")
        .env("PINSIGN_PASSWORD", "also-wrong")
        .args([
            "public-key",
            "--password-file",
            pw.to_str().unwrap(),
            "--key",
        ])
        .arg(&k.key)
        .outcome()
        .quiet_ok();
    assert_eq!(public, k.public_pem);
    // Without the file, the environment is used (and is wrong here).
    support::pinsign(home.path())
        .env("COSIGN_PASSWORD", "wrong")
        .args(["public-key", "--key"])
        .arg(&k.key)
        .outcome()
        .error(1, &["COSIGN_PASSWORD"]);
}

#[test]
fn no_color_and_dumb_terminals_get_no_escape_codes() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let images: Vec<String> = (0..3)
        .map(|i| {
            ep.push_synthetic("color/app", Some(&format!("v{i}")), i)
                .pinned
        })
        .collect();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = support::pinsign_std(home.path());
        ep.configure_pinsign_std(&mut cmd);
        cmd.env("TERM", "xterm-256color")
            .envs(env.iter().copied())
            .args(args);
        pty::run(&cmd)
    };
    let mut logged = vec!["-v", "resolve-digest"];
    logged.extend(images.iter().map(String::as_str));
    // On a terminal, -v log lines are coloured: the pty does show escape codes.
    let (out, code) = run(&[], &logged);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains('\u{1b}'), "colours on a terminal: {out:?}");
    for env in [&[("NO_COLOR", "1")][..], &[("TERM", "dumb")]] {
        let (out, code) = run(env, &logged);
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains('\u{1b}'), "{env:?}: {out:?}");
        assert!(out.contains(" INFO "), "{out:?}");
        // A batch draws no bar either.
        let mut batch = vec!["sign-digest", "--key", keys()[0].key.to_str().unwrap()];
        batch.extend(images.iter().map(String::as_str));
        let mut cmd = support::pinsign_std(home.path());
        ep.configure_pinsign_std(&mut cmd);
        cmd.env("TERM", "xterm")
            .env("COSIGN_PASSWORD", PASSWORD)
            .envs(env.iter().copied())
            .args(&batch);
        let (out, code) = pty::run(&cmd);
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains('\u{1b}'), "{env:?}: {out:?}");
    }
}

#[test]
fn batches_print_in_input_order_and_ci_progress_lines() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let k = &keys()[0];
    // The first image is the slowest (an index signed with its two children).
    let index = ep.push_synthetic_index("order/multi", None, 1);
    let singles: Vec<String> = (0..3)
        .map(|i| ep.push_synthetic("order/app", None, 10 + i).pinned)
        .collect();
    let mut args = vec![index.pinned.as_str(), "-r", "--concurrency", "4"];
    args.extend(singles.iter().map(String::as_str));
    let out = sign(home.path(), &ep, k, &args).ok();
    let signed: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    let mut want = vec![index.pinned.as_str()];
    want.extend(index.children.iter().map(|c| c.pinned.as_str()));
    want.extend(singles.iter().map(String::as_str));
    assert_eq!(signed, want, "results in input order:\n{out}");
    // A short batch in a CI log: only the summary.
    assert_eq!(out.stderr, "signed 4 of 4 images\n", "{out}");

    // A longer one (the interval shortened by the test hook): progress lines with
    // done/total, failures and rate; the failing image counted.
    let images: Vec<String> = (0..5)
        .map(|i| ep.push_synthetic("order/slow", None, 20 + i).pinned)
        .collect();
    let missing = reg.image("order/slow:missing");
    let mut args = vec![missing.as_str(), "--concurrency", "1"];
    args.extend(images.iter().map(String::as_str));
    let out = pinsign(home.path(), &ep)
        .env("PINSIGN_PROGRESS_INTERVAL_MS", "40")
        .arg("sign-digest")
        .args(&args)
        .arg("--key")
        .arg(&k.key)
        .outcome();
    assert_eq!(out.code, 1, "{out}");
    let progress: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("pinsign: signing "))
        .collect();
    assert!(progress.len() >= 2, "progress lines:\n{out}");
    for line in &progress {
        let rest = line.trim_start_matches("pinsign: signing ");
        let (done, rest) = rest.split_once('/').unwrap();
        assert!(done.parse::<usize>().unwrap() < 6, "{line}");
        assert!(rest.starts_with("6 ("), "{line}");
        assert!(
            rest.contains("%), 1 failed, ") && rest.contains(" images/s, "),
            "{line}"
        );
        assert!(rest.ends_with(" s elapsed"), "{line}");
    }
    assert!(
        out.stderr
            .ends_with("signed 5 of 6 images\npinsign: 1 of 6 images failed\n"),
        "{out}"
    );
    assert!(!out.stderr.contains('\u{1b}'), "{out}");
    // verify prints the same lines.
    let out = pinsign(home.path(), &ep)
        .env("PINSIGN_PROGRESS_INTERVAL_MS", "20")
        .args([
            "verify",
            "--concurrency",
            "1",
            "--key",
            k.public.to_str().unwrap(),
        ])
        .args(&images)
        .outcome()
        .ok();
    assert!(out.stderr.contains("pinsign: verifying "), "{out}");
}

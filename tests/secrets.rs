//! Secrets stay secret: every command, run as the real binary with `-vv` and
//! `PINSIGN_LOG=trace` (pinsign's and every dependency's trace logs), with a known key
//! password, registry passwords (an htpasswd registry and a token registry), the bearer
//! tokens the token server issued, and private keys (in files and in `env://` variables).
//! None of them, nor the base64 Basic form of a password, nor the base64 of a private key
//! (its DER, its PEM body lines, the whole PEM base64'd as CI secrets sometimes are) may
//! appear on stdout, on stderr, or in any file the run creates or changes under its `HOME`,
//! its working directory or its `TMPDIR` (all three are fresh per run; the input files copied
//! in beforehand are left out unless the run changed them).
//!
//! The runs are a table ([`cases`]): add a row for a new command. Failing runs count as
//! much as successful ones (wrong key password, wrong registry password: 401).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::support::cosign_writer::{decrypt_cosign_key, TestKey};
use crate::support::ferro::Ferro;
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::{self, images, Registry, WRITER};

/// The key password of every encrypted key here.
const KEY_PASSWORD: &str = "kp-7Hq2-never-printed";
/// A wrong key password and a wrong registry password: secrets too.
const WRONG_KEY_PASSWORD: &str = "kp-wrong-9Zx4-never-printed";
const WRONG_REGISTRY_PASSWORD: &str = "rp-wrong-3Vb8-never-printed";

/// What every run shares: the registries, the key files, and every secret to look for.
struct World {
    basic: Registry,
    token: Registry,
    ferro: Ferro,
    /// Input files, copied into each run's working directory: `cosign.key` (encrypted with
    /// [`KEY_PASSWORD`]), `cosign.pub`, `plain.pem` (PKCS#8, unencrypted), `password.txt`.
    inputs: tempfile::TempDir,
    /// The PEM texts, for `env://` keys.
    encrypted_pem: String,
    plain_pem: String,
    /// Images to sign and verify, pushed once: (registry kind, reference by tag).
    images: BTreeMap<&'static str, String>,
    /// (what, value) pairs that must never appear; bearer tokens are added per run.
    secrets: Vec<(String, String)>,
}

/// A command of the table: what it runs, and the exit code it must end with.
struct Case {
    name: &'static str,
    code: i32,
    setup: fn(&World, &mut Run),
}

/// One run: its own HOME, working directory and TMPDIR, and the command being built.
struct Run {
    home: PathBuf,
    cwd: PathBuf,
    tmp: PathBuf,
    cmd: std::process::Command,
    /// Holds the three directories; removed when the run is done.
    _root: tempfile::TempDir,
}

impl Run {
    fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    /// Registry flags and `PINSIGN_REGISTRY_*` (as `writer`, or with `password`).
    fn registry(&mut self, reg: &Registry, password: Option<&str>) -> &mut Self {
        let ep = match password {
            Some(p) => reg.endpoint().with_creds(WRITER.name, p),
            None => reg.endpoint(),
        };
        ep.configure_pinsign_std(&mut self.cmd);
        self
    }
}

/// The table. Each row names the command it covers; a new command gets a row here.
fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "generate-key-pair, password from COSIGN_PASSWORD",
            code: 0,
            setup: |_, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD).args([
                    "generate-key-pair",
                    "--output-key-prefix",
                    "new",
                ]);
            },
        },
        Case {
            name: "generate-key-pair, password from --password-file",
            code: 0,
            setup: |_, r| {
                r.args([
                    "generate-key-pair",
                    "--output-key-prefix",
                    "new",
                    "--password-file",
                    "password.txt",
                ]);
            },
        },
        Case {
            name: "import-key-pair of a key file",
            code: 0,
            setup: |_, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD).args([
                    "import-key-pair",
                    "--key",
                    "plain.pem",
                ]);
            },
        },
        Case {
            name: "import-key-pair of env://",
            code: 0,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .env("PLAIN_KEY", &w.plain_pem)
                    .args(["import-key-pair", "--key", "env://PLAIN_KEY"]);
            },
        },
        Case {
            name: "public-key of an encrypted key file",
            code: 0,
            setup: |_, r| {
                r.env("PINSIGN_PASSWORD", KEY_PASSWORD)
                    .args(["public-key", "--key", "cosign.key"]);
            },
        },
        Case {
            name: "public-key of env:// to --outfile",
            code: 0,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .env("COSIGN_PRIVATE_KEY", &w.encrypted_pem)
                    .args(["public-key", "--key", "env://COSIGN_PRIVATE_KEY"])
                    .args(["--outfile", "out.pub"]);
            },
        },
        Case {
            name: "public-key with a wrong password",
            code: 1,
            setup: |_, r| {
                r.env("COSIGN_PASSWORD", WRONG_KEY_PASSWORD).args([
                    "public-key",
                    "--key",
                    "cosign.key",
                ]);
            },
        },
        Case {
            name: "resolve-digest, basic-auth registry",
            code: 0,
            setup: |w, r| {
                r.registry(&w.basic, None)
                    .args(["resolve-digest", &w.images["basic"]]);
            },
        },
        Case {
            name: "resolve-digest, token registry",
            code: 0,
            setup: |w, r| {
                r.registry(&w.token, None).args([
                    "resolve-digest",
                    "-o",
                    "json",
                    &w.images["token"],
                ]);
            },
        },
        Case {
            name: "resolve-digest, basic-auth registry, wrong password (401)",
            code: 1,
            setup: |w, r| {
                r.registry(&w.basic, Some(WRONG_REGISTRY_PASSWORD))
                    .args(["resolve-digest", &w.images["basic"]]);
            },
        },
        Case {
            name: "resolve-digest, token registry, wrong password (401 from the token server)",
            code: 1,
            setup: |w, r| {
                r.registry(&w.token, Some(WRONG_REGISTRY_PASSWORD))
                    .args(["resolve-digest", &w.images["token"]]);
            },
        },
        Case {
            name: "sign-digest, tag mode, basic-auth registry, key file",
            code: 0,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .registry(&w.basic, None)
                    .args(["sign-digest", &w.images["basic"], "--key", "cosign.key"]);
            },
        },
        Case {
            name: "sign-digest, tag mode, token registry, env:// key, json",
            code: 0,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .env("COSIGN_PRIVATE_KEY", &w.encrypted_pem)
                    .registry(&w.token, None)
                    .args(["sign-digest", &w.images["token"]])
                    .args(["--key", "env://COSIGN_PRIVATE_KEY", "-o", "json"]);
            },
        },
        Case {
            name: "sign-digest, referrers mode (ferro-oci-server), plain key from env://",
            code: 0,
            setup: |w, r| {
                r.env("PLAIN_KEY", &w.plain_pem)
                    .args(["--allow-http-registry", "sign-digest", &w.images["ferro"]])
                    .args(["--mode", "referrers", "--key", "env://PLAIN_KEY"]);
            },
        },
        Case {
            name: "sign-digest, referrers mode on a registry without the API (refused)",
            code: 1,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .registry(&w.token, None)
                    .args(["sign-digest", &w.images["token"], "--mode", "referrers"])
                    .args(["--key", "cosign.key"]);
            },
        },
        Case {
            name: "sign-digest, wrong key password",
            code: 1,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", WRONG_KEY_PASSWORD)
                    .registry(&w.basic, None)
                    .args(["sign-digest", &w.images["basic"], "--key", "cosign.key"]);
            },
        },
        Case {
            name: "sign-digest, token registry, wrong registry password (401)",
            code: 1,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .registry(&w.token, Some(WRONG_REGISTRY_PASSWORD))
                    .args(["sign-digest", &w.images["token"], "--key", "cosign.key"]);
            },
        },
        Case {
            name: "verify, basic-auth registry, public key",
            code: 0,
            setup: |w, r| {
                r.registry(&w.basic, None).args([
                    "verify",
                    &w.images["basic"],
                    "--key",
                    "cosign.pub",
                ]);
            },
        },
        Case {
            name: "verify, token registry, private key from env:// (its public half)",
            code: 0,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .env("COSIGN_PRIVATE_KEY", &w.encrypted_pem)
                    .registry(&w.token, None)
                    .args(["verify", &w.images["token"], "-o", "json"])
                    .args(["--key", "env://COSIGN_PRIVATE_KEY"]);
            },
        },
        Case {
            name: "verify, token registry, wrong registry password (401)",
            code: 1,
            setup: |w, r| {
                r.registry(&w.token, Some(WRONG_REGISTRY_PASSWORD)).args([
                    "verify",
                    &w.images["token"],
                    "--key",
                    "cosign.pub",
                ]);
            },
        },
        Case {
            name: "sign-blob with an env:// key, bundle and detached signature",
            code: 0,
            setup: |w, r| {
                std::fs::write(r.cwd.join("release.tar.gz"), b"a release").unwrap();
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .env("COSIGN_PRIVATE_KEY", &w.encrypted_pem)
                    .args([
                        "sign-blob",
                        "release.tar.gz",
                        "--key",
                        "env://COSIGN_PRIVATE_KEY",
                    ])
                    .args([
                        "--bundle",
                        "release.bundle",
                        "--output-signature",
                        "release.sig",
                    ]);
            },
        },
        Case {
            name: "verify-blob with a private key (its public half), a bundle that is not one",
            code: 2,
            setup: |_, r| {
                std::fs::write(r.cwd.join("release.tar.gz"), b"a release").unwrap();
                std::fs::write(r.cwd.join("release.bundle"), vec![b'x'; 17 * 1024 * 1024]).unwrap();
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .args([
                        "verify-blob",
                        "release.tar.gz",
                        "--bundle",
                        "release.bundle",
                    ])
                    .args(["--key", "cosign.key"]);
            },
        },
        Case {
            name: "policy kyverno refusing a private key",
            code: 2,
            setup: |w, r| {
                r.env("COSIGN_PRIVATE_KEY", &w.encrypted_pem).args([
                    "policy",
                    "kyverno",
                    "--key",
                    "env://COSIGN_PRIVATE_KEY",
                    "--image",
                    "oci.example.org/*",
                ]);
            },
        },
        Case {
            name: "policy check, token registry",
            code: 0,
            setup: |w, r| {
                let policy = r.cwd.join("policy.yaml");
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_pinsign"))
                    .current_dir(&r.cwd)
                    .args(["policy", "kyverno", "--key", "cosign.pub", "--image"])
                    .arg(format!("{}/*", w.token.endpoint().host))
                    .arg("--output-file")
                    .arg(&policy)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                r.registry(&w.token, None).args([
                    "policy",
                    "check",
                    "policy.yaml",
                    &w.images["token"],
                ]);
            },
        },
        Case {
            name: "rotate --dry-run, token registry, a new key pair",
            code: 0,
            setup: |w, r| {
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .registry(&w.token, None)
                    .args([
                        "rotate",
                        "--old-key",
                        "cosign.pub",
                        "--new-key-prefix",
                        "next",
                    ])
                    .args(["--dry-run", &w.images["token"]]);
            },
        },
        Case {
            name: "build-push --sign, basic-auth registry (buildah gets a temporary auth file)",
            code: 0,
            setup: |w, r| {
                images::write_context(&r.cwd.join("ctx"), 77);
                for (k, v) in images::store().env() {
                    if k != "TMPDIR" {
                        r.cmd.env(k, v);
                    }
                }
                r.env("COSIGN_PASSWORD", KEY_PASSWORD)
                    .registry(&w.basic, None)
                    .args(["build-push", "--image", &w.basic.image("secrets/built:v1")])
                    .args(["--context", "ctx", "--sign", "--key", "cosign.key"]);
            },
        },
        Case {
            name: "build-push, token registry, wrong registry password (401 before the build)",
            code: 1,
            setup: |w, r| {
                images::write_context(&r.cwd.join("ctx"), 78);
                for (k, v) in images::store().env() {
                    if k != "TMPDIR" {
                        r.cmd.env(k, v);
                    }
                }
                r.registry(&w.token, Some(WRONG_REGISTRY_PASSWORD))
                    .args(["build-push", "--image", &w.token.image("secrets/built:v1")])
                    .args(["--context", "ctx"]);
            },
        },
    ]
}

/// Every way a private key's bytes could show: its DER in base64 and in hex, the PEM body
/// lines, the whole PEM text in base64 (as CI secrets are sometimes stored). The first body
/// line and the start of the text's base64 are left out: they are the same in every key of
/// a kind (PKCS#8 headers, the envelope's `{"kdf":{"name":"scrypt",...` prefix).
fn private_key_forms(what: &str, pem: &str, label: &str) -> Vec<(String, String)> {
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    let der_b64: String = body.concat();
    let der = B64.decode(&der_b64).expect("PEM body is base64");
    let text_b64 = B64.encode(pem.as_bytes());
    let middle = text_b64.len() / 2;
    let mut out = vec![
        (format!("{what} ({label} DER, base64)"), der_b64.clone()),
        (format!("{what} ({label} DER, hex)"), hex::encode(&der)),
        (
            format!("{what} ({label} PEM text, base64)"),
            text_b64[middle - 40..middle + 40].to_string(),
        ),
    ];
    for (i, line) in body
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| l.len() >= 40)
    {
        out.push((
            format!("{what} ({label} PEM line {})", i + 1),
            line.to_string(),
        ));
    }
    out
}

fn basic_forms(user: &str, password: &str) -> Vec<(String, String)> {
    vec![
        (format!("password of {user}"), password.to_string()),
        (
            format!("Basic form of {user}'s password"),
            B64.encode(format!("{user}:{password}")),
        ),
    ]
}

fn world() -> World {
    let basic = Registry::basic_auth();
    let token = Registry::token();
    let ferro = Ferro::start();
    let inputs = support::temp_dir();
    let dir = inputs.path();
    // The encrypted key, made by pinsign; opened here independently to learn its secrets.
    let out = support::pinsign(dir)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", KEY_PASSWORD)
        .arg("generate-key-pair")
        .outcome();
    assert_eq!(out.code, 0, "{out}");
    let encrypted_pem = std::fs::read_to_string(dir.join("cosign.key")).unwrap();
    let opened = decrypt_cosign_key(&encrypted_pem, KEY_PASSWORD.as_bytes());
    let plain = TestKey::generate();
    let plain_pem = plain.private_pkcs8_pem();
    std::fs::write(dir.join("plain.pem"), &plain_pem).unwrap();
    std::fs::write(dir.join("password.txt"), format!("{KEY_PASSWORD}\n")).unwrap();

    let mut secrets = vec![
        ("key password".to_string(), KEY_PASSWORD.to_string()),
        (
            "wrong key password".to_string(),
            WRONG_KEY_PASSWORD.to_string(),
        ),
    ];
    secrets.extend(basic_forms(WRITER.name, WRITER.password));
    secrets.extend(basic_forms(WRITER.name, WRONG_REGISTRY_PASSWORD));
    secrets.extend(private_key_forms("cosign.key", &encrypted_pem, "encrypted"));
    secrets.extend(private_key_forms(
        "cosign.key",
        &opened.private_pkcs8_pem(),
        "decrypted PKCS#8",
    ));
    secrets.extend(private_key_forms("plain.pem", &plain_pem, "PKCS#8"));

    // Images to sign and verify (verify runs after sign in the table: signed by then).
    let mut images = BTreeMap::new();
    for (kind, reg) in [("basic", &basic), ("token", &token)] {
        let img = reg.endpoint().push_synthetic("secrets/app", Some("v1"), 5);
        assert!(!img.digest.is_empty());
        images.insert(kind, reg.image("secrets/app:v1"));
    }
    ferro
        .endpoint()
        .push_synthetic("secrets/app", Some("v1"), 6);
    images.insert("ferro", ferro.image("secrets/app:v1"));
    World {
        basic,
        token,
        ferro,
        inputs,
        encrypted_pem,
        plain_pem,
        images,
        secrets,
    }
}

/// Every file under `dir` with its content (files up to 64 MiB; larger ones are named).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let content = if meta.len() <= 64 << 20 {
                    std::fs::read(&path).unwrap_or_default()
                } else {
                    format!("<{} bytes>", meta.len()).into_bytes()
                };
                out.insert(path, content);
            }
        }
    }
    out
}

fn copy_inputs(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The places a secret was found: `stdout`, `stderr`, or a file path.
fn leaks(secrets: &[(String, String)], places: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, bytes) in places {
        let text = String::from_utf8_lossy(bytes);
        for (what, value) in secrets {
            if text.contains(value.as_str()) {
                found.push(format!("{what} in {place}"));
            }
        }
    }
    found
}

#[test]
fn no_command_prints_or_leaves_a_secret() {
    let world = world();
    let mut failures = Vec::new();
    for case in cases() {
        let root = support::temp_dir();
        let (home, cwd, tmp) = (
            root.path().join("home"),
            root.path().join("work"),
            root.path().join("tmp"),
        );
        for d in [&home, &cwd, &tmp] {
            std::fs::create_dir_all(d).unwrap();
        }
        copy_inputs(world.inputs.path(), &cwd);
        let mut cmd = support::pinsign_std(&home);
        cmd.current_dir(&cwd)
            .env("TMPDIR", &tmp)
            .env("PINSIGN_LOG", "trace")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .arg("-vv");
        let mut run = Run {
            home: home.clone(),
            cwd: cwd.clone(),
            tmp: tmp.clone(),
            cmd,
            _root: root,
        };
        (case.setup)(&world, &mut run);
        let before: BTreeMap<PathBuf, Vec<u8>> = [&run.home, &run.cwd, &run.tmp]
            .iter()
            .flat_map(|d| files(d))
            .collect();
        let out: Outcome = run.cmd.outcome();
        if out.code != case.code {
            failures.push(format!(
                "{}: exit {} instead of {}\n{out}",
                case.name, out.code, case.code
            ));
        }
        assert!(
            !out.stderr.is_empty(),
            "{}: -vv logs something on stderr",
            case.name
        );
        let mut places = vec![
            ("stdout".to_string(), out.stdout.clone().into_bytes()),
            ("stderr".to_string(), out.stderr.clone().into_bytes()),
        ];
        for (path, content) in [&run.home, &run.cwd, &run.tmp]
            .iter()
            .flat_map(|d| files(d))
        {
            if before.get(&path) != Some(&content) {
                places.push((path.display().to_string(), content));
            }
        }
        // What buildah was handed must be gone, wherever it was.
        for (path, _) in &places {
            if path.contains("pinsign-tool-") {
                failures.push(format!("{}: {path} is left behind", case.name));
            }
        }
        let mut secrets = world.secrets.clone();
        for token in world
            .token
            .token_server()
            .expect("the token registry has a token server")
            .issued_tokens()
        {
            let signature = token.rsplit('.').next().unwrap_or_default().to_string();
            secrets.push(("a bearer token".into(), token.clone()));
            secrets.push(("a bearer token's signature".into(), signature));
        }
        for leak in leaks(&secrets, &places) {
            failures.push(format!("{}: {leak}", case.name));
        }
    }
    // The token registry really issued tokens, so their absence above means something.
    let issued = world.token.token_server().unwrap().issued_tokens().len();
    assert!(issued >= 3, "only {issued} tokens issued");
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    drop(world.ferro);
}

/// The check itself finds what it looks for: a run that prints the password is caught.
#[test]
fn the_leak_check_catches_a_printed_secret() {
    let secrets = basic_forms("writer", "writer-secret");
    let places = vec![(
        "stderr".to_string(),
        format!("auth: Basic {}", B64.encode("writer:writer-secret")).into_bytes(),
    )];
    assert_eq!(
        leaks(&secrets, &places),
        vec!["Basic form of writer's password in stderr"]
    );
    let pem = TestKey::generate().private_pkcs8_pem();
    let forms = private_key_forms("k", &pem, "PKCS#8");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let places = vec![("log".to_string(), format!("key={body}").into_bytes())];
    assert!(!leaks(&forms, &places).is_empty());
}

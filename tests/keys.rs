//! The key commands, run as the real binary against cosign's own key files.
//!
//! Each test has its own temp directory; the child's environment has no password or
//! registry variables from the host. A generated key is opened here with an independent
//! implementation of cosign's format (PEM + JSON parsed here, scrypt and secretbox called
//! directly, PKCS#8 parsed by p256), not through pinsign's reader.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign/keys");

fn fixture(name: &str) -> PathBuf {
    Path::new(KEYS).join(name)
}

/// The binary with a clean environment: no passwords, no registry settings, no log filter.
fn clean_std(dir: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_pinsign"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("PINSIGN_")
            || key.starts_with("COSIGN_")
            || key == "REGISTRY_AUTH_FILE"
            || key == "DOCKER_CONFIG"
            || key == "XDG_RUNTIME_DIR"
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn pinsign(dir: &Path) -> Command {
    let mut cmd = Command::from_std(clean_std(dir));
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// Run with stdin connected to /dev/null (no terminal), killing the child after `limit`.
fn run_with_null_stdin(mut cmd: StdCommand, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pinsign");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pinsign did not finish within {limit:?} (waiting for a password?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The DER of the only PEM block in `pem` with `label`, parsed here by hand.
fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .unwrap_or_else(|| panic!("no {label} in {pem}"))
        + begin.len();
    let stop = pem[start..].find(&end).unwrap() + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    B64.decode(body).unwrap()
}

fn read_pem_der(path: &Path, label: &str) -> Vec<u8> {
    pem_der(&std::fs::read_to_string(path).unwrap(), label)
}

fn require_openssl() {
    let ok = StdCommand::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "these tests need openssl: apt-get install openssl");
}

fn openssl(dir: &Path, args: &[&str]) {
    require_openssl();
    let out = StdCommand::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// Decrypt a cosign encrypted key with scrypt and secretbox directly.
fn independent_decrypt(pem: &str, password: &[u8]) -> (serde_json::Value, Vec<u8>) {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let json_bytes = pem_der(pem, "ENCRYPTED SIGSTORE PRIVATE KEY");
    let json: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
    let n = json["kdf"]["params"]["N"].as_u64().unwrap();
    let r = json["kdf"]["params"]["r"].as_u64().unwrap() as u32;
    let p = json["kdf"]["params"]["p"].as_u64().unwrap() as u32;
    let salt = B64.decode(json["kdf"]["salt"].as_str().unwrap()).unwrap();
    let nonce = B64
        .decode(json["cipher"]["nonce"].as_str().unwrap())
        .unwrap();
    let ciphertext = B64.decode(json["ciphertext"].as_str().unwrap()).unwrap();
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p).unwrap();
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).unwrap();
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(&key));
    let plain = cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .expect("secretbox open");
    (json, plain)
}

fn stdout_pub_der(out: &Output) -> Vec<u8> {
    pem_der(&text(&out.stdout), "PUBLIC KEY")
}

// ---------------------------------------------------------------- reading cosign's keys

#[test]
fn every_encrypted_fixture_gives_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    for (stem, password) in [
        ("cosign-keys_test-pemsigstorekey", "hello"),
        ("cosign-keys_test-pemcosignkey", "hello"),
        ("sigstore-rs-cosign_generated_encrypted_empty_private", ""),
        ("sigstore-rs-ecdsa_encrypted_private", "123"),
        (
            "sigstore-rs-example-ECDSA_P256_ASN1_ENCRYPTED_PRIVATE_PEM",
            "password",
        ),
    ] {
        let out = pinsign(dir.path())
            .env("COSIGN_PASSWORD", password)
            .args(["public-key", "--key"])
            .arg(fixture(&format!("{stem}.key")))
            .output()
            .unwrap();
        assert!(out.status.success(), "{stem}: {}", text(&out.stderr));
        let expected = read_pem_der(&fixture(&format!("{stem}.derived.pub")), "PUBLIC KEY");
        assert_eq!(stdout_pub_der(&out), expected, "{stem}");
    }
}

#[test]
fn pinsign_password_wins_over_cosign_password() {
    let dir = tempfile::tempdir().unwrap();
    pinsign(dir.path())
        .env("PINSIGN_PASSWORD", "123")
        .env("COSIGN_PASSWORD", "wrong")
        .args(["public-key", "--key"])
        .arg(fixture("sigstore-rs-ecdsa_encrypted_private.key"))
        .assert()
        .success();
}

#[test]
fn empty_password_key_needs_cosign_password_set_empty() {
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("sigstore-rs-cosign_generated_encrypted_empty_private.key");
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "")
        .args(["public-key", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without COSIGN_PASSWORD there is no password at all: an error, not the empty one.
    let out = run_with_null_stdin(
        {
            let mut c = clean_std(dir.path());
            c.args(["public-key", "--key"]).arg(&key);
            c
        },
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no terminal"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sec1_inside_an_encrypted_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "hello")
        .args(["public-key", "--key"])
        .arg(fixture("cosign-keys_test-pemcosigneckey-sec1-inside.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("pinsign: error: "), "{err}");
    assert!(
        err.contains("cosign-keys_test-pemcosigneckey-sec1-inside.key"),
        "{err}"
    );
    assert!(err.contains("SEC1") && err.contains("not PKCS#8"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn plain_pkcs8_needs_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = clean_std(dir.path());
    cmd.args(["public-key", "--key"])
        .arg(fixture("cosign-keys_test-validecpkcs8.pem"));
    let out = run_with_null_stdin(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let der = read_pem_der(&fixture("cosign-keys_test-validecpkcs8.pem"), "PRIVATE KEY");
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der).unwrap();
    let expected = key.verifying_key().to_public_key_der().unwrap();
    assert_eq!(stdout_pub_der(&out), expected.as_bytes());
}

#[test]
fn public_key_of_a_public_key_and_outfile() {
    let dir = tempfile::tempdir().unwrap();
    let derived = fixture("sigstore-rs-ecdsa_encrypted_private.derived.pub");
    pinsign(dir.path())
        .env("COSIGN_PASSWORD", "123")
        .args(["public-key", "--outfile", "out.pub", "--key"])
        .arg(fixture("sigstore-rs-ecdsa_encrypted_private.key"))
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains("Public key written to out.pub"));
    assert_eq!(
        read_pem_der(&dir.path().join("out.pub"), "PUBLIC KEY"),
        read_pem_der(&derived, "PUBLIC KEY")
    );
}

#[test]
fn wrong_password_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "not-the-password")
        .args(["-v", "public-key", "--key"])
        .arg(fixture("cosign-keys_test-pemsigstorekey.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot decrypt") && err.contains("cosign-keys_test-pemsigstorekey.key"),
        "{err}"
    );
    assert!(
        err.contains("wrong password") && err.contains("COSIGN_PASSWORD"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
}

#[test]
fn no_terminal_and_no_password_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("cosign-keys_test-pemsigstorekey.key"),
        dir.path().join("cosign.key"),
    )
    .unwrap();
    let mut cmd = clean_std(dir.path());
    cmd.args(["public-key", "--key", "cosign.key"]);
    let out = run_with_null_stdin(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot read the password for cosign.key: no terminal"),
        "{err}"
    );
    assert!(
        err.contains("COSIGN_PASSWORD") && err.contains("--password-file"),
        "{err}"
    );

    // generate-key-pair as well, and it writes nothing.
    let mut cmd = clean_std(dir.path());
    cmd.args(["generate-key-pair", "--output-key-prefix", "new"]);
    let out = run_with_null_stdin(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no terminal"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("new.key").exists() && !dir.path().join("new.pub").exists());
}

#[test]
fn password_file_first_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "123\nignored\n").unwrap();
    let out = pinsign(dir.path())
        .args(["public-key", "--password-file", "pw", "--key"])
        .arg(fixture("sigstore-rs-ecdsa_encrypted_private.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        stdout_pub_der(&out),
        read_pem_der(
            &fixture("sigstore-rs-ecdsa_encrypted_private.derived.pub"),
            "PUBLIC KEY"
        )
    );
}

#[test]
fn key_from_env_var() {
    let dir = tempfile::tempdir().unwrap();
    let pem = std::fs::read_to_string(fixture("cosign-keys_test-pemcosignkey.key")).unwrap();
    let out = pinsign(dir.path())
        .env("COSIGN_PRIVATE_KEY", &pem)
        .env("COSIGN_PASSWORD", "hello")
        .args(["public-key", "--key", "env://COSIGN_PRIVATE_KEY"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        stdout_pub_der(&out),
        read_pem_der(
            &fixture("cosign-keys_test-pemcosignkey.derived.pub"),
            "PUBLIC KEY"
        )
    );

    // Unset and empty variables are named.
    let out = pinsign(dir.path())
        .args(["public-key", "--key", "env://COSIGN_PRIVATE_KEY"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("env://COSIGN_PRIVATE_KEY") && err.contains("not set"),
        "{err}"
    );
    let out = pinsign(dir.path())
        .env("COSIGN_PRIVATE_KEY", "")
        .args(["public-key", "--key", "env://COSIGN_PRIVATE_KEY"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("COSIGN_PRIVATE_KEY is empty"));

    // The wrong password names the env var too.
    let out = pinsign(dir.path())
        .env("COSIGN_PRIVATE_KEY", &pem)
        .env("COSIGN_PASSWORD", "nope")
        .args(["public-key", "--key", "env://COSIGN_PRIVATE_KEY"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("cannot decrypt env://COSIGN_PRIVATE_KEY: wrong password"));
}

#[test]
fn scrypt_parameters_outside_cosigns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Re-wrap a real key's envelope with N = 2^20 (would need 1 GiB).
    let pem = std::fs::read_to_string(fixture("cosign-keys_test-pemsigstorekey.key")).unwrap();
    let json = text(&pem_der(&pem, "ENCRYPTED SIGSTORE PRIVATE KEY"));
    assert!(json.contains("\"N\":32768"));
    let evil = json.replace("\"N\":32768", "\"N\":1048576");
    let evil_pem = format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        B64.encode(evil)
    );
    std::fs::write(dir.path().join("evil.key"), evil_pem).unwrap();
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "hello")
        .args(["public-key", "--key", "evil.key"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("evil.key") && err.contains("unsupported scrypt parameters N=1048576"),
        "{err}"
    );
}

#[test]
fn not_a_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.txt"), "hello\n").unwrap();
    let out = pinsign(dir.path())
        .args(["public-key", "--key", "junk.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("junk.txt") && err.contains("neither a PEM public key nor"),
        "{err}"
    );
    let out = pinsign(dir.path())
        .args(["public-key", "--key", "missing.key"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read key file missing.key"));
}

// ---------------------------------------------------------------- generating

#[test]
fn generated_key_opens_with_an_independent_implementation_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    pinsign(dir.path())
        .env("COSIGN_PASSWORD", "s3cret pass")
        .arg("generate-key-pair")
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains(
            "Private key written to cosign.key",
        ))
        .stderr(predicates::str::contains(
            "Public key written to cosign.pub",
        ));

    let pem = std::fs::read_to_string(dir.path().join("cosign.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    let (json, plain) = independent_decrypt(&pem, b"s3cret pass");
    assert_eq!(json["kdf"]["name"], "scrypt");
    assert_eq!(
        json["kdf"]["params"],
        serde_json::json!({"N": 32768, "r": 8, "p": 1})
    );
    assert_eq!(json["cipher"]["name"], "nacl/secretbox");
    assert_eq!(
        B64.decode(json["kdf"]["salt"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        B64.decode(json["cipher"]["nonce"].as_str().unwrap())
            .unwrap()
            .len(),
        24
    );

    // The plaintext is PKCS#8 P-256; its public half is cosign.pub.
    let secret = p256::ecdsa::SigningKey::from_pkcs8_der(&plain).unwrap();
    let pub_pem = std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap();
    assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let public = p256::ecdsa::VerifyingKey::from_public_key_pem(&pub_pem).unwrap();
    assert_eq!(secret.verifying_key(), &public);

    // pinsign's signer (over the decrypted PKCS#8) makes a DER signature p256 accepts.
    let signer = pinsign::keys::SigningKey::from_pkcs8_der(&plain, "cosign.key").unwrap();
    let payload = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cosign/payloads/busybox.payload.json"
    ))
    .unwrap();
    let sig_der = signer.sign(&payload);
    let sig = p256::ecdsa::DerSignature::from_bytes(&sig_der).unwrap();
    public
        .verify(&payload, &sig)
        .expect("signature verifies with cosign.pub");
    assert!(public.verify(b"other payload", &sig).is_err());

    // And pinsign reads its own key back.
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "s3cret pass")
        .args(["public-key", "--key", "cosign.key"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        stdout_pub_der(&out),
        public.to_public_key_der().unwrap().as_bytes()
    );
}

#[test]
fn file_modes() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    pinsign(dir.path())
        .env("COSIGN_PASSWORD", "")
        .args(["generate-key-pair", "--output-key-prefix", "m"])
        .assert()
        .success();
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("m.key"), 0o600);
    assert_eq!(mode("m.pub"), 0o644);
    // No temp files left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["m.key", "m.pub"]);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let gen = |force: bool| {
        let mut cmd = pinsign(dir.path());
        cmd.env("PINSIGN_PASSWORD", "pw").arg("generate-key-pair");
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    assert!(gen(false).status.success());
    let old_key = std::fs::read(dir.path().join("cosign.key")).unwrap();
    let old_pub = std::fs::read(dir.path().join("cosign.pub")).unwrap();

    let out = gen(false);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cosign.key already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("cosign.key")).unwrap(),
        old_key
    );
    assert_eq!(
        std::fs::read(dir.path().join("cosign.pub")).unwrap(),
        old_pub
    );

    // Only the .pub present: still refused, and no .key appears.
    std::fs::remove_file(dir.path().join("cosign.key")).unwrap();
    let out = gen(false);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cosign.pub already exists"));
    assert!(!dir.path().join("cosign.key").exists());
    assert_eq!(
        std::fs::read(dir.path().join("cosign.pub")).unwrap(),
        old_pub
    );

    let out = gen(true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(
        std::fs::read(dir.path().join("cosign.pub")).unwrap(),
        old_pub
    );
    assert!(dir.path().join("cosign.key").exists());
}

#[test]
fn password_and_private_key_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let password = "Zebra-Password-7391";
    let source = fixture("cosign-keys_test-validecpkcs8.pem");
    let source_pem = std::fs::read_to_string(&source).unwrap();
    let pkcs8 = pem_der(&source_pem, "PRIVATE KEY");
    let secret = p256::SecretKey::from_pkcs8_der(&pkcs8).unwrap();
    let scalar_hex = hex::encode(secret.to_bytes());
    let body_lines: Vec<&str> = source_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .collect();

    let mut outputs = vec![];
    outputs.push(
        pinsign(dir.path())
            .env("PINSIGN_PASSWORD", password)
            .args(["-vvv", "import-key-pair", "--key"])
            .arg(&source)
            .output()
            .unwrap(),
    );
    assert!(outputs[0].status.success(), "{}", text(&outputs[0].stderr));
    let written = std::fs::read_to_string(dir.path().join("import-cosign.key")).unwrap();
    outputs.push(
        pinsign(dir.path())
            .env("PINSIGN_PASSWORD", password)
            .args(["-vvv", "public-key", "--key", "import-cosign.key"])
            .output()
            .unwrap(),
    );
    outputs.push(
        pinsign(dir.path())
            .env("COSIGN_PASSWORD", format!("{password}-wrong"))
            .args(["-vvv", "public-key", "--key", "import-cosign.key"])
            .output()
            .unwrap(),
    );
    outputs.push(
        pinsign(dir.path())
            .env("COSIGN_PASSWORD", password)
            .args(["-vvv", "generate-key-pair", "--output-key-prefix", "g"])
            .output()
            .unwrap(),
    );
    let generated = std::fs::read_to_string(dir.path().join("g.key")).unwrap();
    for out in &outputs {
        for stream in [text(&out.stdout), text(&out.stderr)] {
            assert!(!stream.contains(password), "password leaked: {stream}");
            assert!(!stream.contains(&scalar_hex), "key leaked: {stream}");
            for line in &body_lines {
                assert!(!stream.contains(line), "key PEM leaked: {stream}");
            }
            for line in written.lines().chain(generated.lines()) {
                if !line.starts_with("-----") && line.len() > 16 {
                    assert!(!stream.contains(line), "encrypted key leaked: {stream}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------- importing

#[test]
fn import_pkcs8_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture("sigstore-rs-example-ECDSA_P256_ASN1_PRIVATE_PEM.key");
    pinsign(dir.path())
        .env("COSIGN_PASSWORD", "imp")
        .args(["import-key-pair", "--key"])
        .arg(&source)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "Private key written to import-cosign.key",
        ));
    let input =
        p256::ecdsa::SigningKey::from_pkcs8_der(&read_pem_der(&source, "PRIVATE KEY")).unwrap();
    let pem = std::fs::read_to_string(dir.path().join("import-cosign.key")).unwrap();
    let (_, plain) = independent_decrypt(&pem, b"imp");
    let output = p256::ecdsa::SigningKey::from_pkcs8_der(&plain).unwrap();
    assert_eq!(input.to_bytes(), output.to_bytes());
    assert_eq!(
        read_pem_der(&dir.path().join("import-cosign.pub"), "PUBLIC KEY"),
        input
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
    );
}

#[test]
fn import_sec1_from_p256_and_openssl() {
    let dir = tempfile::tempdir().unwrap();
    // A SEC1 key made here with p256, passed through env://.
    let secret = p256::SecretKey::generate();
    let sec1_pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
    assert!(sec1_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    pinsign(dir.path())
        .env("MY_KEY", sec1_pem.as_str())
        .env("COSIGN_PASSWORD", "pw")
        .args([
            "import-key-pair",
            "--key",
            "env://MY_KEY",
            "--output-key-prefix",
            "a",
        ])
        .assert()
        .success();
    let (_, plain) = independent_decrypt(
        &std::fs::read_to_string(dir.path().join("a.key")).unwrap(),
        b"pw",
    );
    let imported = p256::SecretKey::from_pkcs8_der(&plain).unwrap();
    assert_eq!(imported.to_bytes(), secret.to_bytes());

    // openssl's SEC1 output, with the EC PARAMETERS block it puts first.
    openssl(
        dir.path(),
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-out",
            "ossl.pem",
        ],
    );
    let ossl = std::fs::read_to_string(dir.path().join("ossl.pem")).unwrap();
    assert!(ossl.contains("EC PARAMETERS") && ossl.contains("EC PRIVATE KEY"));
    let expected = p256::SecretKey::from_sec1_der(&pem_der(&ossl, "EC PRIVATE KEY")).unwrap();
    pinsign(dir.path())
        .env("COSIGN_PASSWORD", "pw")
        .args([
            "import-key-pair",
            "--key",
            "ossl.pem",
            "--output-key-prefix",
            "b",
        ])
        .assert()
        .success();
    assert_eq!(
        read_pem_der(&dir.path().join("b.pub"), "PUBLIC KEY"),
        expected
            .public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
    );
}

#[test]
fn import_refuses_other_key_types_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    openssl(dir.path(), &["genrsa", "-out", "rsa-pkcs8.pem", "2048"]);
    openssl(
        dir.path(),
        &["genrsa", "-traditional", "-out", "rsa-pkcs1.pem", "2048"],
    );
    openssl(
        dir.path(),
        &[
            "ecparam",
            "-genkey",
            "-name",
            "secp384r1",
            "-noout",
            "-out",
            "p384-sec1.pem",
        ],
    );
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384-pkcs8.pem",
        ],
    );
    openssl(
        dir.path(),
        &["genpkey", "-algorithm", "ed25519", "-out", "ed25519.pem"],
    );
    for (file, expected) in [
        ("rsa-pkcs8.pem", "an RSA key"),
        ("rsa-pkcs1.pem", "RSA PRIVATE KEY"),
        ("p384-sec1.pem", "P-384"),
        ("p384-pkcs8.pem", "P-384"),
        ("ed25519.pem", "an Ed25519 key"),
    ] {
        let out = pinsign(dir.path())
            .env("COSIGN_PASSWORD", "pw")
            .args(["import-key-pair", "--key", file])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{file}");
        let err = text(&out.stderr);
        assert!(
            err.contains(file) && err.contains(expected),
            "{file}: {err}"
        );
        assert!(!dir.path().join("import-cosign.key").exists(), "{file}");
        // The same keys are refused for signing/public-key too.
        let out = pinsign(dir.path())
            .args(["public-key", "--key", file])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded inputs: every file pinsign reads is capped by what it can legitimately hold
// ---------------------------------------------------------------------------------------------

/// Run `pinsign ARGS` under a 1 GiB address-space limit (`ulimit -v`), with `env`: a command
/// that read `/dev/zero` whole would die of an allocation failure (or run for minutes) instead
/// of stopping with a clear error.
fn bounded(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = StdCommand::new("sh");
    cmd.current_dir(dir)
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_pinsign"))
        .args(args);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("PINSIGN_")
            || name.starts_with("COSIGN_")
            || name == "REGISTRY_AUTH_FILE"
            || name == "DOCKER_CONFIG"
            || name == "XDG_RUNTIME_DIR"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.envs(env.iter().copied());
    run_with_null_stdin(cmd, Duration::from_secs(30))
}

fn assert_refused(out: &Output, code: i32, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
    assert!(
        !err.contains("memory allocation") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_key_from_dev_zero_fails_fast_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["public-key", "--key", "/dev/zero"][..],
        &["import-key-pair", "--key", "/dev/zero"],
        &["sign-digest", "127.0.0.1:1/a:1", "--key", "/dev/zero"],
        &["verify", "127.0.0.1:1/a:1", "--key", "/dev/zero"],
    ] {
        let out = bounded(dir.path(), &[("COSIGN_PASSWORD", "pw")], args);
        assert_refused(&out, 1, &["/dev/zero is larger than 64 KiB", "key file"]);
    }
}

#[test]
fn an_oversized_env_key_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "A".repeat(64 * 1024 + 1);
    let out = bounded(
        dir.path(),
        &[("HUGE_KEY", &huge)],
        &["public-key", "--key", "env://HUGE_KEY"],
    );
    assert_refused(&out, 1, &["env://HUGE_KEY is larger than 64 KiB"]);
}

#[test]
fn a_password_file_from_dev_zero_fails_fast_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("cosign-keys_test-pemsigstorekey.key");
    let key = key.to_str().unwrap();
    for args in [
        &["public-key", "--key", key, "--password-file", "/dev/zero"][..],
        &["generate-key-pair", "--password-file", "/dev/zero"],
    ] {
        let out = bounded(dir.path(), &[], args);
        assert_refused(
            &out,
            1,
            &["password file /dev/zero", "longer than 4096 bytes"],
        );
    }
    assert!(!dir.path().join("cosign.key").exists());
}

#[test]
fn an_expect_digest_file_from_dev_zero_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("cosign-keys_test-validecpkcs8.pem");
    let out = bounded(
        dir.path(),
        &[],
        &[
            "sign-digest",
            "127.0.0.1:1/a:1",
            "--key",
            key.to_str().unwrap(),
            "--expect-digest",
            "/dev/zero",
        ],
    );
    assert_refused(
        &out,
        2,
        &["--expect-digest file /dev/zero", "larger than 1024 bytes"],
    );
}

#[test]
fn an_image_list_from_dev_zero_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("cosign-keys_test-pemsigstorekey.derived.pub");
    let out = bounded(
        dir.path(),
        &[],
        &[
            "verify",
            "--key",
            key.to_str().unwrap(),
            "--images-from",
            "/dev/zero",
        ],
    );
    assert_refused(&out, 2, &["/dev/zero line 1 is longer than 4096 bytes"]);
}

#[test]
fn an_auth_file_from_dev_zero_fails_fast_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // The auth file is read before the first request, so no registry needs to answer.
    let out = bounded(
        dir.path(),
        &[("REGISTRY_AUTH_FILE", "/dev/zero")],
        &["resolve-digest", "127.0.0.1:1/a:1"],
    );
    assert_refused(&out, 1, &["auth file /dev/zero", "larger than 1024 KiB"]);
}

// ---------------------------------------------------------------------------------------------
// Key types: the right words for signing and for verifying
// ---------------------------------------------------------------------------------------------

/// A P-384 key cannot sign, and import refuses it too: the error says so, instead of
/// advising an import that would fail.
#[test]
fn a_p384_sec1_key_is_not_told_to_import() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "ecparam",
            "-genkey",
            "-name",
            "secp384r1",
            "-noout",
            "-out",
            "p384.pem",
        ],
    );
    let out = pinsign(dir.path())
        .args(["sign-digest", "127.0.0.1:1/a:1", "--key", "p384.pem"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("p384.pem") && err.contains("P-384"), "{err}");
    assert!(!err.contains("import"), "{err}");
    // A P-256 SEC1 key still gets the advice, which works.
    openssl(
        dir.path(),
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            "p256.pem",
        ],
    );
    let out = pinsign(dir.path())
        .args(["sign-digest", "127.0.0.1:1/a:1", "--key", "p256.pem"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("import-key-pair --key p256.pem"));
}

/// `verify --key` with a key it cannot use says what verification takes, not what signing
/// takes ("pinsign signs only with ..." was the wrong verb).
#[test]
fn verify_refuses_unusable_keys_in_verification_terms() {
    let dir = tempfile::tempdir().unwrap();
    openssl(dir.path(), &["genrsa", "-out", "rsa.pem", "2048"]);
    openssl(
        dir.path(),
        &["genrsa", "-traditional", "-out", "rsa-pkcs1.pem", "2048"],
    );
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
    );
    openssl(
        dir.path(),
        &["pkey", "-in", "p384.pem", "-pubout", "-out", "p384.pub"],
    );
    for (file, needles) in [
        (
            "rsa.pem",
            &[
                "an RSA private key",
                "pass its public key",
                "RSA and Ed25519",
            ][..],
        ),
        ("rsa-pkcs1.pem", &["RSA PRIVATE KEY", "pass its public key"]),
        (
            "p384.pem",
            &["P-384", "verifies with ECDSA P-256, RSA and Ed25519"],
        ),
        (
            "p384.pub",
            &["an ECDSA P-384 public key", "ECDSA P-256, RSA and Ed25519"],
        ),
    ] {
        let out = pinsign(dir.path())
            .args(["verify", "127.0.0.1:1/a:1", "--key", file])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        for needle in needles {
            assert!(
                err.contains(file) && err.contains(needle),
                "{file}: {needle:?}: {err}"
            );
        }
        assert!(!err.contains("signs only"), "{file}: {err}");
    }
}

/// RSA and Ed25519 public keys verify cosign signatures end to end: a `.sig` layer signed
/// with openssl (Ed25519 over the payload; RSA PKCS#1 v1.5 over its SHA-256), written by
/// the independent cosign writer, verifies with the matching `.pub`.
#[test]
fn verify_accepts_rsa_and_ed25519_public_keys() {
    use crate::support::cosign_writer::{payload, push_sig_tag, Layer};
    let reg = crate::support::Registry::http();
    let ep = reg.endpoint();
    let image = ep.push_synthetic("keys/app", Some("v1"), 7);
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"],
    );
    openssl(
        dir.path(),
        &["pkey", "-in", "ed.pem", "-pubout", "-out", "ed.pub"],
    );
    openssl(dir.path(), &["genrsa", "-out", "rsa.pem", "2048"]);
    openssl(
        dir.path(),
        &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub"],
    );
    let body = payload(&ep.docker_ref("keys/app"), &image.digest, &[]);
    std::fs::write(dir.path().join("payload"), &body).unwrap();
    openssl(
        dir.path(),
        &[
            "pkeyutl", "-sign", "-rawin", "-inkey", "ed.pem", "-in", "payload", "-out", "ed.sig",
        ],
    );
    openssl(
        dir.path(),
        &[
            "dgst", "-sha256", "-sign", "rsa.pem", "-out", "rsa.sig", "payload",
        ],
    );
    let sig = |f: &str| B64.encode(std::fs::read(dir.path().join(f)).unwrap());
    push_sig_tag(
        &ep,
        "keys/app",
        &image.digest,
        &[
            Layer::new(body.clone(), &sig("ed.sig")),
            Layer::new(body.clone(), &sig("rsa.sig")),
        ],
    );
    for key in ["ed.pub", "rsa.pub"] {
        let mut cmd = pinsign(dir.path());
        cmd.args(reg.pinsign_flags())
            .args(["verify", &ep.image("keys/app:v1"), "--key", key]);
        let out = cmd.output().unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{key}: {}{stdout}",
            text(&out.stderr)
        );
        assert!(stdout.contains(&format!("by {key}")), "{key}: {stdout}");
    }
}

/// `COSIGN_PASSWORD=` (set, empty) writes a key encrypted with the empty password, as cosign
/// does; pinsign says so on stderr (cosign does not).
#[test]
fn an_empty_password_for_a_new_key_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "")
        .args(["generate-key-pair"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "pinsign: warning: the password for cosign.key (from COSIGN_PASSWORD) is empty"
        ),
        "{err}"
    );
    assert!(dir.path().join("cosign.key").exists());
    // A real password: no warning.
    let out = pinsign(dir.path())
        .env("COSIGN_PASSWORD", "pw")
        .args(["generate-key-pair", "--output-key-prefix", "other"])
        .output()
        .unwrap();
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
}

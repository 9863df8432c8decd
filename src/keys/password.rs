//! Private key passwords, from the first source that has one:
//!
//! 1. `--password-file FILE` (its first line, without the line ending): a flag given on
//!    this command line is the most explicit choice, so it wins over whatever the
//!    environment holds (a `COSIGN_PASSWORD` left in a CI job's environment for another
//!    key must not shadow it);
//! 2. `PINSIGN_PASSWORD` (when set and not empty: CI systems set a variable to the
//!    empty string when its secret is missing, so an empty one is skipped);
//! 3. `COSIGN_PASSWORD` (when set; set-but-empty is the empty password, as in cosign);
//! 4. a prompt, when stdin is a terminal (twice when writing a new key, as cosign does).
//!
//! Without any of them and without a terminal, an error says what to set: never a hang.
//! The password is wiped when dropped and never printed; messages name only its source.

use std::ffi::OsString;
use std::fmt;
use std::io::IsTerminal as _;

use anyhow::Context as _;
use zeroize::Zeroizing;

use super::PasswordSource;

pub const PINSIGN_PASSWORD: &str = "PINSIGN_PASSWORD";
pub const COSIGN_PASSWORD: &str = "COSIGN_PASSWORD";

/// A private key password and where it came from (for messages).
pub struct Password {
    bytes: Zeroizing<Vec<u8>>,
    origin: String,
}

/// Whether the password opens an existing key or protects a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Decrypt,
    Encrypt,
}

impl Password {
    /// A password from memory; `origin` says where it came from in messages.
    pub fn new(bytes: impl Into<Vec<u8>>, origin: impl Into<String>) -> Password {
        Password {
            bytes: Zeroizing::new(bytes.into()),
            origin: origin.into(),
        }
    }

    /// The password to decrypt `key_name` (a path or env://VAR, used in the prompt and errors).
    pub fn for_reading(args: &PasswordSource, key_name: &str) -> anyhow::Result<Password> {
        resolve(
            args,
            key_name,
            Purpose::Decrypt,
            &|v| std::env::var_os(v),
            &Tty,
        )
    }

    /// The password to encrypt a new key `key_name`; a prompt asks twice. An empty one is
    /// accepted, as cosign accepts it, with a warning on stderr (cosign gives none): the key
    /// is then as good as unencrypted.
    pub fn for_writing(args: &PasswordSource, key_name: &str) -> anyhow::Result<Password> {
        let password = resolve(
            args,
            key_name,
            Purpose::Encrypt,
            &|v| std::env::var_os(v),
            &Tty,
        )?;
        if let Some(warning) = empty_password_warning(&password, key_name) {
            eprintln!("pinsign: warning: {warning}");
        }
        Ok(password)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the password came from: `COSIGN_PASSWORD`, `--password-file F`, `the prompt`.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<redacted> from {})", self.origin)
    }
}

/// The warning for a new key protected by an empty password, if it is.
fn empty_password_warning(password: &Password, key_name: &str) -> Option<String> {
    password.bytes.is_empty().then(|| {
        format!(
            "the password for {key_name} (from {}) is empty: the key is encrypted with the \
             empty password, which anyone can open, so it is no safer than an unencrypted key",
            password.origin
        )
    })
}

/// The terminal, behind a trait so the order of sources is testable without one.
pub(crate) trait Prompter {
    fn is_terminal(&self) -> bool;
    fn prompt(&self, text: &str) -> std::io::Result<Zeroizing<String>>;
}

struct Tty;

impl Prompter for Tty {
    fn is_terminal(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn prompt(&self, text: &str) -> std::io::Result<Zeroizing<String>> {
        rpassword::prompt_password(text).map(Zeroizing::new)
    }
}

pub(crate) fn resolve(
    args: &PasswordSource,
    key_name: &str,
    purpose: Purpose,
    env: &dyn Fn(&str) -> Option<OsString>,
    tty: &dyn Prompter,
) -> anyhow::Result<Password> {
    use std::os::unix::ffi::OsStringExt as _;

    if let Some(path) = &args.file {
        let content = read_first_line(path).with_context(|| {
            format!(
                "cannot read the password file {} for {key_name}",
                path.display()
            )
        })?;
        let mut line: &[u8] = content.strip_suffix(b"\n").unwrap_or(&content);
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        tracing::debug!(
            "password for {key_name} from --password-file {}",
            path.display()
        );
        return Ok(Password::new(
            line.to_vec(),
            format!("--password-file {}", path.display()),
        ));
    }
    if let Some(value) = env(PINSIGN_PASSWORD).filter(|v| !v.is_empty()) {
        tracing::debug!("password for {key_name} from {PINSIGN_PASSWORD}");
        return Ok(Password::new(value.into_vec(), PINSIGN_PASSWORD));
    }
    if let Some(value) = env(COSIGN_PASSWORD) {
        tracing::debug!("password for {key_name} from {COSIGN_PASSWORD}");
        return Ok(Password::new(value.into_vec(), COSIGN_PASSWORD));
    }
    if !tty.is_terminal() {
        anyhow::bail!(
            "cannot read the password for {key_name}: no terminal; set COSIGN_PASSWORD \
             (or PINSIGN_PASSWORD) or pass --password-file"
        );
    }
    let failed = |e: std::io::Error| {
        anyhow::anyhow!("cannot read the password for {key_name} from the terminal: {e}")
    };
    match purpose {
        Purpose::Decrypt => {
            let first = tty
                .prompt(&format!("Enter password for private key {key_name}: "))
                .map_err(failed)?;
            Ok(Password::new(first.as_bytes(), "the prompt"))
        }
        Purpose::Encrypt => {
            let first = tty
                .prompt(&format!("Enter password for private key {key_name}: "))
                .map_err(failed)?;
            let again = tty
                .prompt(&format!(
                    "Enter password for private key {key_name} again: "
                ))
                .map_err(failed)?;
            if *first != *again {
                anyhow::bail!("the passwords for {key_name} do not match; nothing was written");
            }
            Ok(Password::new(first.as_bytes(), "the prompt"))
        }
    }
}

/// The longest first line a password file may have. Passwords are at most a few hundred
/// bytes; a file without a line break in its first 4 KiB (`/dev/zero`, a binary) is not a
/// password file.
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// The first line of a password file, with its line ending, reading no further than it
/// (and never more than [`MAX_PASSWORD_BYTES`] + 1 bytes). Wiped on drop.
fn read_first_line(path: &std::path::Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    use std::io::{BufRead as _, Read as _};
    let file = std::fs::File::open(path)?;
    let mut line = Zeroizing::new(Vec::with_capacity(128));
    std::io::BufReader::with_capacity(256, file.take(MAX_PASSWORD_BYTES as u64 + 1))
        .read_until(b'\n', &mut line)?;
    let content = line.strip_suffix(b"\n").unwrap_or(&line);
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    if content.len() > MAX_PASSWORD_BYTES {
        anyhow::bail!(
            "its first line is longer than {MAX_PASSWORD_BYTES} bytes; a password file holds \
             the password on its first line"
        );
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    struct FakeTty {
        terminal: bool,
        answers: RefCell<Vec<&'static str>>,
    }

    impl Prompter for FakeTty {
        fn is_terminal(&self) -> bool {
            self.terminal
        }
        fn prompt(&self, _text: &str) -> std::io::Result<Zeroizing<String>> {
            Ok(Zeroizing::new(
                self.answers.borrow_mut().remove(0).to_string(),
            ))
        }
    }

    fn no_tty() -> FakeTty {
        FakeTty {
            terminal: false,
            answers: RefCell::new(vec![]),
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).map(OsString::from)
    }

    fn get(pairs: &[(&str, &str)], args: &PasswordSource) -> anyhow::Result<Password> {
        resolve(
            args,
            "cosign.key",
            Purpose::Decrypt,
            &env_of(pairs),
            &no_tty(),
        )
    }

    #[test]
    fn order_of_sources() {
        let none = PasswordSource::default();
        let p = get(
            &[("PINSIGN_PASSWORD", "a"), ("COSIGN_PASSWORD", "b")],
            &none,
        )
        .unwrap();
        assert_eq!((p.as_bytes(), p.origin()), (&b"a"[..], "PINSIGN_PASSWORD"));
        let p = get(&[("COSIGN_PASSWORD", "b")], &none).unwrap();
        assert_eq!(p.as_bytes(), b"b");
        // An empty PINSIGN_PASSWORD is skipped; an empty COSIGN_PASSWORD is the empty password.
        let p = get(&[("PINSIGN_PASSWORD", ""), ("COSIGN_PASSWORD", "")], &none).unwrap();
        assert_eq!((p.as_bytes(), p.origin()), (&b""[..], "COSIGN_PASSWORD"));
    }

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\r\nsecond line\n").unwrap();
        let args = PasswordSource {
            file: Some(file.clone()),
        };
        let p = get(&[], &args).unwrap();
        assert_eq!(p.as_bytes(), b"s3cret");
        assert!(p.origin().contains("--password-file"));
        // A --password-file given explicitly wins over the environment variables.
        let p = get(
            &[("COSIGN_PASSWORD", "env"), ("PINSIGN_PASSWORD", "env2")],
            &args,
        )
        .unwrap();
        assert_eq!(p.as_bytes(), b"s3cret");
        assert!(p.origin().contains("--password-file"));
        std::fs::write(&file, "").unwrap();
        assert_eq!(get(&[], &args).unwrap().as_bytes(), b"");
        let missing = PasswordSource {
            file: Some(dir.path().join("nope")),
        };
        let e = format!("{:#}", get(&[], &missing).unwrap_err());
        assert!(e.contains("password file") && e.contains("nope"), "{e}");
    }

    #[test]
    fn password_file_is_read_only_up_to_its_first_line() {
        let zero = PasswordSource {
            file: Some("/dev/zero".into()),
        };
        let e = format!("{:#}", get(&[], &zero).unwrap_err());
        assert!(
            e.contains("/dev/zero") && e.contains("longer than 4096 bytes"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        let args = PasswordSource {
            file: Some(file.clone()),
        };
        // A long first line is refused; a short one followed by anything is fine.
        std::fs::write(&file, vec![b'x'; MAX_PASSWORD_BYTES + 1]).unwrap();
        assert!(get(&[], &args).is_err());
        std::fs::write(&file, vec![b'x'; MAX_PASSWORD_BYTES]).unwrap();
        assert_eq!(
            get(&[], &args).unwrap().as_bytes().len(),
            MAX_PASSWORD_BYTES
        );
        let mut text = b"pw\r\n".to_vec();
        text.extend(std::iter::repeat_n(b'y', 1 << 20));
        std::fs::write(&file, text).unwrap();
        assert_eq!(get(&[], &args).unwrap().as_bytes(), b"pw");
    }

    #[test]
    fn no_terminal_is_a_clear_error() {
        let e = get(&[], &PasswordSource::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cosign.key") && e.contains("no terminal"), "{e}");
        assert!(
            e.contains("COSIGN_PASSWORD") && e.contains("--password-file"),
            "{e}"
        );
    }

    #[test]
    fn prompt_asks_twice_when_writing() {
        let tty = FakeTty {
            terminal: true,
            answers: RefCell::new(vec!["pw", "pw"]),
        };
        let p = resolve(
            &PasswordSource::default(),
            "k",
            Purpose::Encrypt,
            &env_of(&[]),
            &tty,
        );
        assert_eq!(p.unwrap().as_bytes(), b"pw");
        let tty = FakeTty {
            terminal: true,
            answers: RefCell::new(vec!["pw", "other"]),
        };
        let e = resolve(
            &PasswordSource::default(),
            "k",
            Purpose::Encrypt,
            &env_of(&[]),
            &tty,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("do not match") && !e.contains("other"), "{e}");
        let tty = FakeTty {
            terminal: true,
            answers: RefCell::new(vec!["once"]),
        };
        let p = resolve(
            &PasswordSource::default(),
            "k",
            Purpose::Decrypt,
            &env_of(&[]),
            &tty,
        );
        assert_eq!(p.unwrap().as_bytes(), b"once");
    }

    #[test]
    fn an_empty_password_for_a_new_key_is_warned_about() {
        let p = Password::new("", COSIGN_PASSWORD);
        let w = empty_password_warning(&p, "cosign.key").unwrap();
        assert!(
            w.contains("cosign.key") && w.contains("from COSIGN_PASSWORD") && w.contains("empty"),
            "{w}"
        );
        assert!(empty_password_warning(&Password::new("x", COSIGN_PASSWORD), "k").is_none());
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Password::new("hunter2", "COSIGN_PASSWORD");
        let d = format!("{p:?}");
        assert!(
            !d.contains("hunter2") && d.contains("COSIGN_PASSWORD"),
            "{d}"
        );
    }
}

//! Certificates made with `openssl` in a registry's temp dir: a CA, a server certificate for
//! `IP:127.0.0.1` and `DNS:localhost` (accepted by rustls and Go), and a token-signing certificate.

use super::{require_tool, run};
use std::path::{Path, PathBuf};
use std::process::Command;

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = pinsign test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[signer_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A test CA in `dir` (files `ca.crt`, `ca.key`).
pub struct Ca {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A certificate issued by a [`Ca`]: PEM files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    /// Makes a P-256 CA in `dir` (created if needed).
    pub fn create(dir: &Path) -> Ca {
        std::fs::create_dir_all(dir).expect("create pki dir");
        let cnf = dir.join("openssl.cnf");
        std::fs::write(&cnf, OPENSSL_CNF).expect("write openssl.cnf");
        let ca = Ca {
            dir: dir.to_path_buf(),
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
        };
        run(openssl()
            .args(["req", "-x509", "-new", "-config"])
            .arg(&cnf)
            .args(["-extensions", "ca_ext", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650"])
            .args(["-subj", "/CN=pinsign test CA", "-keyout"])
            .arg(&ca.key)
            .arg("-out")
            .arg(&ca.cert));
        ca
    }

    /// A server certificate for `IP:127.0.0.1` and `DNS:localhost` (`server.crt`, `server.key`).
    pub fn issue_server(&self) -> Issued {
        self.issue("server", "/CN=localhost", "server_ext")
    }

    /// A token-signing certificate (`token-signer.crt`, `token-signer.key`, PKCS#8 key).
    pub fn issue_token_signer(&self) -> Issued {
        self.issue(
            "token-signer",
            "/CN=pinsign test token signer",
            "signer_ext",
        )
    }

    fn issue(&self, name: &str, subject: &str, extensions: &str) -> Issued {
        let cnf = self.dir.join("openssl.cnf");
        let csr = self.dir.join(format!("{name}.csr"));
        let issued = Issued {
            cert: self.dir.join(format!("{name}.crt")),
            key: self.dir.join(format!("{name}.key")),
        };
        run(openssl()
            .args(["req", "-new", "-config"])
            .arg(&cnf)
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-nodes", "-subj", subject, "-keyout"])
            .arg(&issued.key)
            .arg("-out")
            .arg(&csr));
        run(openssl()
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&self.cert)
            .arg("-CAkey")
            .arg(&self.key)
            .args(["-CAcreateserial", "-days", "3650", "-extfile"])
            .arg(&cnf)
            .args(["-extensions", extensions, "-out"])
            .arg(&issued.cert));
        issued
    }
}

fn openssl() -> Command {
    let mut cmd = Command::new(require_tool("openssl"));
    cmd.env_remove("OPENSSL_CONF");
    cmd
}

/// The DER bytes of the first `CERTIFICATE` block in a PEM file.
pub fn pem_cert_der(path: &Path) -> Vec<u8> {
    use base64::Engine;
    let pem = std::fs::read_to_string(path).expect("read certificate");
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("certificate PEM body is base64")
}

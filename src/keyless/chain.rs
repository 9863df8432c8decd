//! The certificate chain check: the leaf chains, link by link, to a certificate authority of
//! the trusted root whose `validFor` covers the signing time T.
//!
//! The trust anchor is the trusted root file: the CA entry's `certChain` (issuing certificate
//! first, root last) is the whole path. The `dev.sigstore.cosign/chain` annotation (or a
//! bundle's chain) is only a hint: an attacker controls it, so it never adds a certificate to
//! the path; the report says whether it matched.
//!
//! For each CA entry: the leaf must name the entry's first certificate as issuer and carry
//! its signature, and every certificate of the entry must be signed by the next (the
//! root's own signature is not checked: it is trusted by being in the file). Then: the
//! entry's `validFor` covers T; every CA certificate is valid at T, has basicConstraints
//! cA (and keyCertSign when it has keyUsage) and a pathLenConstraint that allows the
//! CAs below it. Another entry is tried when one fails; the report names the most specific
//! failure (a CA that signed but was not valid at T says more than "no CA").

use super::certificate::{FulcioCertificate, KeyUsageBit, ParsedCertificate};
use super::report::{Check, KeylessError};
use super::time::format_utc;
use super::trust_root::{CertificateAuthority, TrustedRoot};

/// The chain the leaf verified through.
#[derive(Debug)]
pub struct VerifiedChain<'r> {
    /// The CA entry of the trusted root.
    pub authority: &'r CertificateAuthority,
    /// The leaf's issuer (the entry's first certificate), whose key the SCT names.
    pub issuer: &'r ParsedCertificate,
}

impl VerifiedChain<'_> {
    /// `leaf -> CN=sigstore-intermediate,O=sigstore.dev -> CN=sigstore,O=sigstore.dev`.
    pub fn describe(&self) -> String {
        let path: Vec<String> = self
            .authority
            .chain()
            .iter()
            .map(ParsedCertificate::subject)
            .collect();
        format!(
            "{} CA (validFor {}): leaf -> {}",
            self.authority.uri(),
            self.authority.valid_for(),
            path.join(" -> ")
        )
    }
}

/// Verify the leaf's chain to a CA of `root` at time `t`.
pub fn verify_chain<'r>(
    leaf: &FulcioCertificate,
    root: &'r TrustedRoot,
    t: i64,
) -> Result<VerifiedChain<'r>, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::CertificateChain, message);
    if root.certificate_authorities().is_empty() {
        return Err(fail(format!(
            "the trusted root ({}) lists no certificate authority",
            root.source()
        )));
    }
    let mut best: Option<String> = None;
    for ca in root.certificate_authorities() {
        let Some(issuer) = ca.chain().first() else {
            continue;
        };
        if let Err(why) = leaf.certificate().is_signed_by(issuer) {
            if leaf.certificate().issuer_der() == issuer.subject_der() {
                best.get_or_insert(format!(
                    "certificate names {} of the {} CA as its issuer, but {why}",
                    issuer.subject(),
                    ca.uri()
                ));
            }
            continue;
        }
        if let Err(why) = links_hold(ca) {
            best.get_or_insert(why);
            continue;
        }
        match constraints_at(ca, t) {
            Ok(()) => {
                return Ok(VerifiedChain {
                    authority: ca,
                    issuer,
                })
            }
            Err(why) => best = Some(why),
        }
    }
    Err(fail(best.unwrap_or_else(|| {
        format!(
            "certificate (issued by {}) does not chain to any certificate authority of {}",
            leaf.certificate().issuer(),
            root.source()
        )
    })))
}

/// Every certificate of the entry is signed by the next one.
fn links_hold(ca: &CertificateAuthority) -> Result<(), String> {
    for pair in ca.chain().windows(2) {
        if let Err(why) = pair[0].is_signed_by(&pair[1]) {
            return Err(format!(
                "the {} CA's chain in the trusted root is broken: {} {why}",
                ca.uri(),
                pair[0].subject()
            ));
        }
    }
    Ok(())
}

/// The time window and the CA constraints, for a path that verified.
fn constraints_at(ca: &CertificateAuthority, t: i64) -> Result<(), String> {
    if !ca.valid_for().covers(t) {
        return Err(format!(
            "certificate chains to the {} CA, but that CA's validFor ({}) does not cover the \
             signing time {}",
            ca.uri(),
            ca.valid_for(),
            format_utc(t)
        ));
    }
    for (below, cert) in ca.chain().iter().enumerate() {
        if !cert.valid_at(t) {
            return Err(format!(
                "CA certificate {} was not valid at the signing time {} (valid {} to {})",
                cert.subject(),
                format_utc(t),
                format_utc(cert.not_before()),
                format_utc(cert.not_after())
            ));
        }
        if !cert.is_ca() {
            return Err(format!(
                "certificate {} issues certificates but is not a CA (basicConstraints)",
                cert.subject()
            ));
        }
        if !cert.key_usage_allows(KeyUsageBit::KeyCertSign) {
            return Err(format!(
                "CA certificate {} has keyUsage without keyCertSign",
                cert.subject()
            ));
        }
        // `below` CA certificates sit between this one and the leaf.
        if let Some(max) = cert.path_len_constraint() {
            if below > usize::from(max) {
                return Err(format!(
                    "CA certificate {} allows {max} CA certificates below it, the chain has \
                     {below}",
                    cert.subject()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keyless/legacy/"
    );

    fn leaf(dir: &str) -> FulcioCertificate {
        let pem = std::fs::read_to_string(format!("{LEGACY}{dir}/certificate.pem")).unwrap();
        FulcioCertificate::from_pem(&pem).unwrap()
    }

    #[test]
    fn real_leaves_chain_to_the_ca_of_their_time() {
        let root = TrustedRoot::public_good().unwrap();
        // 2026 leaf: the intermediate of CA[1].
        let chain = verify_chain(&leaf("gha-go-bazel-v0.0.30"), &root, 1_772_216_446).unwrap();
        assert_eq!(chain.authority.chain().len(), 2);
        assert_eq!(
            chain.issuer.subject(),
            "CN=sigstore-intermediate,O=sigstore.dev"
        );
        assert!(chain.describe().contains("-> CN=sigstore,O=sigstore.dev"));
        // 2021 leaf: issued directly by the 2021 root of CA[0].
        let old = verify_chain(&leaf("email-kubewarden-2021"), &root, 1_634_714_717).unwrap();
        assert_eq!(old.authority.chain().len(), 1);
    }

    #[test]
    fn a_ca_outside_its_window_is_named() {
        let root = TrustedRoot::public_good().unwrap();
        // The 2021 leaf at a 2026 time: CA[0]'s validFor ended in 2022.
        let e = verify_chain(&leaf("email-kubewarden-2021"), &root, 1_772_216_446).unwrap_err();
        assert_eq!(e.check(), Check::CertificateChain);
        assert!(
            e.message()
                .contains("validFor (2021-03-07T03:20:29Z to 2022-12-31T23:59:59.999Z)"),
            "{e}"
        );
        // A 2026 leaf at a 2021 time: CA[1] starts 2022-04-13.
        let e = verify_chain(&leaf("gha-go-bazel-v0.0.30"), &root, 1_634_714_717).unwrap_err();
        assert!(
            e.message()
                .contains("does not cover the signing time 2021-10-20T07:25:17Z"),
            "{e}"
        );
    }

    #[test]
    fn the_staging_root_does_not_anchor_production_leaves() {
        let staging = TrustedRoot::from_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keyless/trust/trusted_root.staging.json"
        )))
        .unwrap();
        let e = verify_chain(&leaf("gha-go-bazel-v0.0.30"), &staging, 1_772_216_446).unwrap_err();
        // Staging's intermediate has production's name, not its key: the message says so.
        assert!(
            e.message().contains(
                "names CN=sigstore-intermediate,O=sigstore.dev of the https://fulcio.sigstage.dev \
                 CA as its issuer, but its signature (ECDSA with SHA-384) does not verify"
            ),
            "{e}"
        );
    }
}

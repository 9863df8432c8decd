//! The exact to-be-signed bytes of a certificate, and its RFC 6962 precertificate form.
//!
//! A certificate's signature is over the TBSCertificate bytes *as issued*, so they are cut
//! out of the DER rather than re-encoded from parsed fields. An embedded SCT, on the other
//! hand, is over the TBSCertificate *without* the SCT extension (RFC 6962 §3.2: the CT log
//! signed the precertificate before the SCT existed), which has to be rebuilt: every other
//! element is copied byte for byte and only the extensions list is re-encoded.
//!
//! This is a minimal DER reader (definite lengths, low tag numbers: all X.509 needs) so the
//! byte ranges are explicit; the extension list itself is decoded and encoded by `x509-cert`.

use der::{Decode as _, Encode as _};
use x509_cert::ext::Extension;

/// A malformed DER structure, with what was being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER: {0}")]
pub struct DerError(&'static str);

/// One TLV: its tag byte, and the byte ranges of the whole element and of its contents.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
}

/// Read the TLV at the start of `input`; returns it and the rest.
fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError("unexpected end"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("high tag numbers are not used in certificates"));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError("missing length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DerError("unsupported length encoding"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 || rest[0] == 0 {
            return Err(DerError("non-minimal length"));
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(DerError("element longer than its input"));
    }
    let header = input.len() - rest.len();
    Ok((
        Tlv {
            tag,
            whole: &input[..header + len],
            contents: &rest[..len],
        },
        &rest[len..],
    ))
}

/// DER-encode a TLV with `tag` around `contents`.
fn write_tlv(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

const SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT` (constructed, context-specific 3): TBSCertificate's extensions.
const EXTENSIONS_TAG: u8 = 0xa3;

/// The TBSCertificate element of a DER certificate, exactly as signed.
pub fn tbs_bytes(certificate_der: &[u8]) -> Result<&[u8], DerError> {
    let (outer, rest) = read_tlv(certificate_der)?;
    if outer.tag != SEQUENCE || !rest.is_empty() {
        return Err(DerError("a certificate is one SEQUENCE"));
    }
    let (tbs, _) = read_tlv(outer.contents)?;
    if tbs.tag != SEQUENCE {
        return Err(DerError("TBSCertificate is not a SEQUENCE"));
    }
    Ok(tbs.whole)
}

/// The TBSCertificate with the extension `without` removed, re-encoded: what a CT log signed
/// for a precertificate (RFC 6962 §3.2). Every other element stays byte for byte.
pub fn tbs_without_extension(
    tbs_der: &[u8],
    without: &der::asn1::ObjectIdentifier,
) -> Result<Vec<u8>, DerError> {
    let (tbs, rest) = read_tlv(tbs_der)?;
    if tbs.tag != SEQUENCE || !rest.is_empty() {
        return Err(DerError("TBSCertificate is not one SEQUENCE"));
    }
    let mut contents = Vec::with_capacity(tbs.contents.len());
    let mut input = tbs.contents;
    while !input.is_empty() {
        let (element, rest) = read_tlv(input)?;
        input = rest;
        if element.tag != EXTENSIONS_TAG {
            contents.extend_from_slice(element.whole);
            continue;
        }
        let extensions = Vec::<Extension>::from_der(element.contents)
            .map_err(|_| DerError("extensions do not decode"))?;
        let kept: Vec<Extension> = extensions
            .into_iter()
            .filter(|e| e.extn_id != *without)
            .collect();
        if kept.is_empty() {
            continue;
        }
        let encoded = kept
            .to_der()
            .map_err(|_| DerError("extensions do not encode"))?;
        write_tlv(EXTENSIONS_TAG, &encoded, &mut contents);
    }
    let mut out = Vec::with_capacity(contents.len() + 6);
    write_tlv(SEQUENCE, &contents, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trip_and_bounds() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let contents = vec![7u8; len];
            let mut out = Vec::new();
            write_tlv(SEQUENCE, &contents, &mut out);
            let (tlv, rest) = read_tlv(&out).unwrap();
            assert!(rest.is_empty());
            assert_eq!(tlv.contents.len(), len);
            assert_eq!(tlv.whole.len(), out.len());
        }
        assert!(read_tlv(&[0x30, 0x81, 0x05]).is_err(), "non-minimal length");
        assert!(read_tlv(&[0x30, 0x05, 1, 2]).is_err(), "truncated");
        assert!(read_tlv(&[0x30, 0x80]).is_err(), "indefinite length");
        assert!(read_tlv(&[]).is_err());
    }

    #[test]
    fn tbs_is_what_x509_cert_encodes() {
        let pem = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keyless/legacy/gha-go-bazel-v0.0.30/certificate.pem"
        ));
        let cert = <x509_cert::Certificate as der::DecodePem>::from_pem(pem).unwrap();
        let der = cert.to_der().unwrap();
        let tbs = tbs_bytes(&der).unwrap();
        assert_eq!(tbs, cert.tbs_certificate().to_der().unwrap().as_slice());
        // Removing an extension the certificate does not have changes nothing.
        let none = der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4");
        assert_eq!(tbs_without_extension(tbs, &none).unwrap(), tbs);
        // Removing the SCT list leaves a TBS that parses and lacks just that extension.
        let sct = der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
        let pre = tbs_without_extension(tbs, &sct).unwrap();
        let parsed = x509_cert::TbsCertificate::from_der(&pre).unwrap();
        let before = cert.tbs_certificate().extensions().unwrap().len();
        assert_eq!(parsed.extensions().unwrap().len(), before - 1);
        assert!(parsed
            .extensions()
            .unwrap()
            .iter()
            .all(|e| e.extn_id != sct));
    }
}

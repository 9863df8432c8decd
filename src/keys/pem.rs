//! PEM blocks in key texts: lenient about line width, CRLF and surrounding text (keys
//! pasted into CI secrets arrive in all shapes), strict about the base64 itself.
//! Decoded bytes are wiped on drop since they may be private keys.

use base64::Engine as _;
use zeroize::Zeroizing;

/// One decoded PEM block.
pub struct PemBlock {
    pub label: String,
    pub der: Zeroizing<Vec<u8>>,
}

/// All PEM blocks in `text`, in order. A block whose body is not valid base64 or that
/// has no END line is an error naming its label (never its content).
pub fn blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            return Err("a PEM BEGIN line is not terminated".to_string());
        };
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(stop) = body_start.find(&end_marker) else {
            return Err(format!("the {label} PEM block has no END line"));
        };
        let mut body = Zeroizing::new(String::new());
        for line in body_start[..stop].lines() {
            // RFC 1421 headers ("Proc-Type: ...") are not base64; skip them.
            if line.contains(':') {
                continue;
            }
            body.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("the {label} PEM block is not valid base64"))?;
        out.push(PemBlock {
            label,
            der: Zeroizing::new(der),
        });
        rest = &body_start[stop + end_marker.len()..];
    }
    Ok(out)
}

/// PEM text for `der` under `label`, 64 characters a line, as Go's `pem.Encode` writes it.
pub fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 80));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_crlf() {
        let der: Vec<u8> = (0..=200u8).collect();
        let text = encode("PRIVATE KEY", &der);
        let crlf = format!("junk before\r\n{}", text.replace('\n', "\r\n"));
        let got = blocks(&crlf).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].label, "PRIVATE KEY");
        assert_eq!(&got[0].der[..], &der[..]);
    }

    #[test]
    fn several_blocks_and_errors() {
        let text = format!(
            "{}{}",
            *encode("EC PARAMETERS", b"ab"),
            *encode("EC PRIVATE KEY", b"cd")
        );
        let got = blocks(&text).unwrap();
        assert_eq!(got[1].label, "EC PRIVATE KEY");
        assert!(blocks("-----BEGIN X-----\n!!!\n-----END X-----\n").is_err());
        assert!(blocks("-----BEGIN X-----\nYWI=\n").is_err());
        assert!(blocks("no pem here").unwrap().is_empty());
    }
}

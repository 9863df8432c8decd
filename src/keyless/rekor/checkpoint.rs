//! Rekor checkpoints: the log's signed statement of its tree size and root hash, in the
//! signed-note format (transparency-dev `formats/log/README.md`, golang.org/x/mod/sumdb/note).
//!
//! ```text
//! rekor.sigstore.dev - 1193050959916656506      <- origin
//! 1139201557                                     <- tree size
//! 5TL0Mxvnr3yIzxCbPpqTBgL43oHrw/9aGPCWOwBEnXs=   <- root hash (base64)
//!                                                <- (optional extra lines, then a blank line)
//! — rekor.sigstore.dev wNI9ajBFAiEA2Zt...        <- "— NAME base64(key hint[4] || signature)"
//! ```
//!
//! The signature is over the note text exactly as written (up to and including the newline
//! before the blank line), so the text is kept, never re-serialized. A signature line counts
//! only when its 4-byte key hint is the log's (for Rekor v1, the first bytes of its log id,
//! the SHA-256 of its key) and it verifies with that log's key.

use base64::Engine as _;

use crate::keyless::trust_root::TransparencyLog;

/// Checkpoints larger than this are refused (a Rekor checkpoint is ~200 bytes).
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

/// Why a checkpoint does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint is not a signed note: {0}")]
pub struct CheckpointError(String);

/// One signature line of a signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's name (`rekor.sigstore.dev`).
    pub name: String,
    /// The first four bytes of the signer's key hash.
    pub key_hint: [u8; 4],
    pub signature: Vec<u8>,
}

/// A parsed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    signed_text: String,
    origin: String,
    tree_size: u64,
    root_hash: [u8; 32],
    extra: Vec<String>,
    signatures: Vec<NoteSignature>,
}

impl Checkpoint {
    /// Parse a signed-note checkpoint.
    pub fn parse(envelope: &str) -> Result<Checkpoint, CheckpointError> {
        let fail = |why: &str| CheckpointError(why.to_string());
        if envelope.len() > MAX_CHECKPOINT_BYTES {
            return Err(fail("longer than 16 KiB"));
        }
        if envelope.chars().any(|c| c.is_control() && c != '\n') {
            return Err(fail("contains control characters"));
        }
        let split = envelope
            .rfind("\n\n")
            .ok_or_else(|| fail("no blank line before the signatures"))?;
        let (text, signatures) = (&envelope[..=split], &envelope[split + 2..]);
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| fail("no origin line"))?;
        let tree_size = lines
            .next()
            .and_then(|l| {
                (!l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| l.parse::<u64>().ok())
                    .flatten()
            })
            .ok_or_else(|| fail("the second line is not a decimal tree size"))?;
        let root_hash: [u8; 32] = lines
            .next()
            .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| fail("the third line is not a base64 SHA-256 root hash"))?;
        let extra = lines.map(str::to_string).collect();
        if !signatures.ends_with('\n') {
            return Err(fail("the last signature line has no newline"));
        }
        let signatures = signatures
            .lines()
            .map(parse_signature_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(fail("no signature lines"));
        }
        Ok(Checkpoint {
            signed_text: text.to_string(),
            origin: origin.to_string(),
            tree_size,
            root_hash,
            extra,
            signatures,
        })
    }

    /// The first line: the log's origin string (`rekor.sigstore.dev - <tree id>`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    pub fn root_hash(&self) -> &[u8; 32] {
        &self.root_hash
    }

    /// Lines after the root hash (none in Rekor v1 checkpoints today).
    pub fn extra_lines(&self) -> &[String] {
        &self.extra
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The exact bytes the signatures are over.
    pub fn signed_text(&self) -> &str {
        &self.signed_text
    }

    /// Check that `log` signed this checkpoint: a signature line with the log's key hint
    /// verifies with the log's key. `Err` says why not.
    pub fn verify_signed_by(&self, log: &TransparencyLog) -> Result<(), String> {
        let key = log
            .key()
            .map_err(|why| format!("log {} cannot verify: {why}", log.name()))?;
        let id = log.log_id().as_bytes();
        let hint: [u8; 4] = match id.get(..4).and_then(|h| h.try_into().ok()) {
            Some(h) => h,
            None => {
                return Err(format!(
                    "log {} has a log id shorter than 4 bytes",
                    log.name()
                ))
            }
        };
        let mut candidates = self
            .signatures
            .iter()
            .filter(|s| s.key_hint == hint)
            .peekable();
        if candidates.peek().is_none() {
            return Err(format!(
                "the checkpoint carries no signature by the key of {} (key hint {})",
                log.name(),
                hex::encode(hint)
            ));
        }
        let scheme = key.natural_scheme();
        if candidates.any(|s| key.verify(scheme, self.signed_text.as_bytes(), &s.signature)) {
            Ok(())
        } else {
            Err(format!(
                "the checkpoint's signature does not verify with the key of {}",
                log.name()
            ))
        }
    }
}

/// `— NAME BASE64` (an em dash, a space, a name without spaces, a space, base64 of the key
/// hint and the signature).
fn parse_signature_line(line: &str) -> Result<NoteSignature, CheckpointError> {
    let fail = |why: &str| CheckpointError(format!("signature line {line:?}: {why}"));
    let rest = line
        .strip_prefix("\u{2014} ")
        .ok_or_else(|| fail("does not start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| fail("has no name and signature"))?;
    if name.is_empty() || b64.contains(' ') {
        return Err(fail("malformed"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| fail("signature is not base64"))?;
    if bytes.len() < 5 {
        return Err(fail("signature is too short"));
    }
    let (hint, signature) = bytes.split_at(4);
    Ok(NoteSignature {
        name: name.to_string(),
        key_hint: [hint[0], hint[1], hint[2], hint[3]],
        signature: signature.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From the cosign v3 kubewarden bundle (tests/fixtures/keyless/bundles).
    const REAL: &str = "rekor.sigstore.dev - 1193050959916656506\n1139201557\n\
        5TL0Mxvnr3yIzxCbPpqTBgL43oHrw/9aGPCWOwBEnXs=\n\n\u{2014} rekor.sigstore.dev \
        wNI9ajBFAiEA2ZtI6/Od0hQZ45WjHDtg7dzPOX6athjTQU9CwYBPClICIHaNmJ9dVWyL4pa8Za4VKB96uqFLjvMVsI7vOZl4Vq81\n";

    #[test]
    fn parses_a_real_rekor_checkpoint() {
        let c = Checkpoint::parse(REAL).unwrap();
        assert_eq!(c.origin(), "rekor.sigstore.dev - 1193050959916656506");
        assert_eq!(c.tree_size(), 1_139_201_557);
        assert_eq!(
            hex::encode(c.root_hash()),
            "e532f4331be7af7c88cf109b3e9a930602f8de81ebc3ff5a18f0963b00449d7b"
        );
        assert!(c.extra_lines().is_empty());
        assert_eq!(c.signatures().len(), 1);
        assert_eq!(c.signatures()[0].name, "rekor.sigstore.dev");
        assert_eq!(hex::encode(c.signatures()[0].key_hint), "c0d23d6a");
        assert!(c.signed_text().ends_with("=\n"));
        assert!(!c.signed_text().contains('\u{2014}'));
    }

    #[test]
    fn extra_lines_and_several_signatures() {
        let note = "origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nTimestamp: 1\n\n\
            \u{2014} a AQIDBAU=\n\u{2014} b BQQDAgEA\n";
        let c = Checkpoint::parse(note).unwrap();
        assert_eq!(c.extra_lines(), ["Timestamp: 1"]);
        assert_eq!(c.signatures().len(), 2);
        assert_eq!(c.signatures()[1].key_hint, [5, 4, 3, 2]);
        assert_eq!(
            c.signed_text(),
            "origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nTimestamp: 1\n"
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        let h = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for bad in [
            String::new(),
            format!("o\n5\n{h}\n"),                            // no signatures
            format!("o\nfive\n{h}\n\n\u{2014} a AQIDBAU=\n"),  // size
            format!("o\n-5\n{h}\n\n\u{2014} a AQIDBAU=\n"),    // size
            "o\n5\nAAAA\n\n\u{2014} a AQIDBAU=\n".to_string(), // short hash
            format!("\n5\n{h}\n\n\u{2014} a AQIDBAU=\n"),      // no origin
            format!("o\n5\n{h}\n\n- a AQIDBAU=\n"),            // not an em dash
            format!("o\n5\n{h}\n\n\u{2014} a AQID\n"),         // too short
            format!("o\n5\n{h}\n\n\u{2014} a AQIDBAU="),       // no final newline
            format!("o\r\n5\n{h}\n\n\u{2014} a AQIDBAU=\n"),   // control character
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?} was accepted");
        }
    }
}

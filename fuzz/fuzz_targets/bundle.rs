//! Sigstore bundles and in-toto statements: no panic on any input, as a bundle or as the
//! statement inside one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::bundle::{Bundle, Statement};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Bundle::parse(data) {
        let _ = (b.version(), b.content_kind(), b.verification_material());
        if let Some(envelope) = b.dsse_envelope() {
            let _ = envelope.pae();
            statement(&envelope.payload);
        }
    }
    statement(data);
});

fn statement(bytes: &[u8]) {
    if let Ok(s) = Statement::parse(bytes) {
        let _ = s.subject_digests();
        for subject in &s.subjects {
            let _ = subject.annotations_text();
            let _ = subject.sha256();
        }
    }
}

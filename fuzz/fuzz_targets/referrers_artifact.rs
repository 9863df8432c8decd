//! The OCI 1.1 signature referrer parser: no panic, and a parsed artifact's subject check
//! accepts exactly its own subject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::signature::parse_referrers_artifact;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse_referrers_artifact(data) {
        assert!(m.check_subject(&m.subject.digest).is_ok());
        assert!(m.check_subject(&m.digest).is_err() || m.digest == m.subject.digest);
        let _ = m.layers.iter().map(|l| l.key()).count();
    }
});

//! Sigstore `trusted_root.json`: no panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::keyless::TrustedRoot;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = TrustedRoot::from_json(data, "fuzz.json") {
        let _ = format!("{root:?}");
    }
});

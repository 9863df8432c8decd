//! Kyverno policy files (YAML, several documents): no panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::policy::parse_policies;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = parse_policies(text, "fuzz.yaml") {
        let _ = format!("{file:?}");
    }
});

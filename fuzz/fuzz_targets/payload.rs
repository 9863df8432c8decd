//! The simple-signing payload parser: no panic, and the annotations view never fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::signature::SimpleSigning;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = SimpleSigning::parse(data) {
        let _ = p.annotations();
        // What parsed serialises and parses back to the same document.
        let bytes = serde_json::to_vec(&p).expect("a parsed payload serialises");
        let again = SimpleSigning::parse(&bytes).expect("a serialised payload parses");
        assert_eq!(again, p);
    }
});

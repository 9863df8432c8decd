//! Image references, digests and tags: no panic on any input, and what parses displays
//! as text that parses back to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::reference::{Digest, ImageRef, Tag};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ImageRef::parse(text) {
        let shown = r.to_string();
        let again = ImageRef::parse(&shown).unwrap_or_else(|e| {
            panic!("{text:?} displays as {shown:?}, which does not parse: {e}")
        });
        assert_eq!(again.repository(), r.repository(), "{text:?}");
        assert_eq!(again.tag(), r.tag(), "{text:?}");
        assert_eq!(again.digest(), r.digest(), "{text:?}");
        assert_eq!(again.to_string(), shown, "{text:?}");
        let _ = r.manifest_reference();
        let _ = r.effective_tag();
    }
    if let Ok(d) = Digest::parse(text) {
        assert_eq!(d.as_str(), text);
        assert_eq!(Digest::parse(&d.to_string()).as_ref(), Ok(&d));
        assert_eq!(d.hex().len(), 64);
        assert!(Tag::parse(Tag::signature_of(&d).as_str()).is_ok());
    }
    if let Ok(t) = Tag::parse(text) {
        assert_eq!(Tag::parse(&t.to_string()).as_ref(), Ok(&t));
    }
});

//! The referrers index (referrers API answer or referrers tag) and bundle referrer
//! manifests: no panic, and merging into a parsed index never drops an entry.
//!
//! The input is one document, or two separated by a NUL byte (the tag now, and what an
//! earlier write was based on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::bundle::{
    bundle_referrers, merge_referrers, missing_referrers, parse_bundle_referrer,
    parse_referrers_index, ReferrersIndex,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse_bundle_referrer(data) {
        assert!(m.check_subject(&m.subject.digest).is_ok());
        let _ = m.layer_version();
    }
    let (a, b) = match data.iter().position(|&x| x == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(current) = parse_referrers_index(a) else {
        return;
    };
    let _ = bundle_referrers(&current);
    let out = merge_referrers(Some(&current), None, &[]);
    assert!(!out.changed);
    let written = reparse(&out.index);
    assert_eq!(digests(&written), digests(&current));
    assert_eq!(merge_referrers(Some(&written), None, &[]).index, out.index);

    let Some(previous) = b.and_then(|b| parse_referrers_index(b).ok()) else {
        return;
    };
    let out = merge_referrers(Some(&current), Some(&previous), &[]);
    let written = reparse(&out.index);
    let got = digests(&written);
    for d in digests(&current).iter().chain(digests(&previous).iter()) {
        assert!(got.contains(d), "{d} was dropped");
    }
    assert!(missing_referrers(Some(&written), Some(&previous), &[]).is_empty());
});

fn digests(index: &ReferrersIndex) -> Vec<String> {
    index.entries().iter().map(|e| e.digest.clone()).collect()
}

fn reparse(bytes: &[u8]) -> ReferrersIndex {
    parse_referrers_index(bytes).unwrap_or_else(|e| {
        panic!(
            "the merged index does not parse: {e}\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

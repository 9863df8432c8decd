//! The `.sig` manifest parser and the merge: no panic, and a merge never drops a layer.
//!
//! The input is one manifest, or two separated by a NUL byte (what the tag holds now and
//! what an earlier write was based on). Whatever parses is merged; the result must parse
//! again and hold every layer of both, in order: the first manifest's exactly as they
//! were, then the second's that the first lacked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::signature::{merge, parse_sig_manifest, remerge, LayerKey, SigManifest};

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&x| x == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(current) = parse_sig_manifest(a) else {
        return;
    };
    let _ = current.extra_members().count();

    // Appending nothing changes nothing and drops nothing.
    let out = merge(Some(&current), &[]);
    assert!(!out.changed && out.added.is_empty());
    let written = reparse(&out.manifest);
    assert_eq!(written.layer_keys(), current.layer_keys());
    assert_eq!(written.digest(), &out.digest);
    // Idempotent: merging what was written writes the same bytes.
    assert_eq!(merge(Some(&written), &[]).manifest, out.manifest);

    let Some(previous) = b.and_then(|b| parse_sig_manifest(b).ok()) else {
        return;
    };
    let out = remerge(Some(&current), Some(&previous), &[]);
    let written = reparse(&out.manifest);
    let keys = written.layer_keys();
    let mut expected: Vec<LayerKey> = current.layer_keys();
    for k in previous.layer_keys() {
        if !expected.contains(&k) {
            expected.push(k);
        }
    }
    assert_eq!(keys, expected);
    assert_eq!(out.changed, keys.len() > current.layers().len());
    // Every blob the manifest names is listed once.
    for k in &keys {
        assert_eq!(out.blobs.iter().filter(|b| b.digest == k.digest).count(), 1);
    }
});

fn reparse(bytes: &[u8]) -> SigManifest {
    parse_sig_manifest(bytes).unwrap_or_else(|e| {
        panic!(
            "the merged manifest does not parse: {e}\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

//! Key texts: PEM blocks, cosign's encrypted envelope, and the classification of a key
//! file as public, plain private or encrypted (never decrypted here: scrypt is slow by
//! design). No panic; a key that loads has a fingerprint and round-trips through PEM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::keys::encrypted::Sealed;
use pinsign::keys::pem;
use pinsign::keys::signing::inspect_key_text;
use pinsign::keys::PublicKey;

fuzz_target!(|data: &[u8]| {
    let _ = Sealed::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(blocks) = pem::blocks(text) {
            for b in &blocks {
                let again = pem::blocks(&pem::encode(&b.label, &b.der)).expect("own PEM parses");
                assert_eq!(again.len(), 1);
                assert_eq!(&again[0].der[..], &b.der[..]);
                let _ = Sealed::parse(&b.der);
            }
        }
    }
    match inspect_key_text(data, "fuzz.key") {
        Ok(Some(key)) => {
            assert!(key.fingerprint().starts_with("SHA256:"));
            let back = PublicKey::from_pem(key.to_pem().as_bytes(), "again").expect("own PEM");
            assert_eq!(back.spki_der(), key.spki_der());
            assert!(!key.verify(b"payload", &[]));
        }
        Ok(None) => {}
        Err(e) => assert!(e.to_string().contains("fuzz.key"), "{e}"),
    }
});

//! Auth files (`auth.json`, `config.json`): no panic, and an error never quotes the file's
//! content (which holds passwords).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinsign::registry::auth::parse_auth_file;

fuzz_target!(|data: &[u8]| {
    let file = std::path::Path::new("/fuzz/auth.json");
    for (registry, path) in [
        ("reg.example", "team/app"),
        ("index.docker.io", "library/alpine"),
        ("127.0.0.1:5000", "a"),
    ] {
        match parse_auth_file(data, file, registry, path) {
            Ok(Some(c)) => {
                // Debug shows the user name and the source, never the password.
                let shown = format!("{c:?}");
                assert_eq!(
                    shown,
                    format!(
                        "Credentials({} from {}, password hidden)",
                        c.username, c.source
                    )
                );
                let _ = c.basic_header();
            }
            Ok(None) => {}
            Err(e) => {
                let msg = format!("{e:#}");
                assert!(msg.contains("/fuzz/auth.json"), "{msg}");
            }
        }
    }
});

//! Keyless verification of a container image's `.sig` layer: the layer's own checks (media
//! type, blob digest), the keyless checks on its certificate, Rekor bundle and signature
//! ([`verify_legacy`], which also checks that the payload names the image's digest), and the
//! annotations a policy requires in the payload.

use std::collections::BTreeMap;

use super::identity::IdentityPolicy;
use super::legacy::{verify_legacy, LegacySignature};
use super::trust_root::TrustedRoot;
use super::verify::KeylessVerified;
use crate::reference::Digest;
use crate::signature::{self, FetchedLayer, SignatureCheck, SimpleSigning};

/// What keyless verification checks against: who must have signed, and the trust material
/// (a Sigstore trusted root; the public-good one unless told).
#[derive(Clone, Debug)]
pub struct KeylessTrust {
    pub policy: IdentityPolicy,
    pub root: TrustedRoot,
}

/// Judge one `.sig` layer as a keyless signature of `image_digest`. The verdict is in the
/// [`SignatureCheck`] (no key fingerprint: the signer is the certificate's identity), and the
/// keyless facts (identity, issuer, when, which log) come back when every check held.
pub fn judge_layer(
    image_digest: &Digest,
    layer: &FetchedLayer,
    trust: &KeylessTrust,
    required: &BTreeMap<String, String>,
) -> (SignatureCheck, Option<KeylessVerified>) {
    let parsed = SimpleSigning::parse(&layer.blob).ok();
    let mut check = signature::new_check(layer, parsed.as_ref());
    let result = (|| {
        signature::check_layer_blob(layer)?;
        let legacy = LegacySignature::from_annotations(&layer.blob, layer.descriptor.annotations())
            .map_err(|e| e.to_string())?;
        let verified = verify_legacy(&legacy, Some(image_digest), &trust.root, &trust.policy)
            .map_err(|e| e.to_string())?;
        if let Some(payload) = &parsed {
            signature::check_payload(payload, image_digest, required)?;
        }
        Ok::<_, String>(verified)
    })();
    match result {
        Ok(verified) => {
            check.verified = true;
            (check, Some(verified))
        }
        Err(reason) => {
            check.reason = Some(reason);
            (check, None)
        }
    }
}

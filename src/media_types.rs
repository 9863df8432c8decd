//! Every media type pinsign reads or writes, defined once for the whole crate.

/// OCI image manifest (what pinsign writes for signatures and artifacts).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest (read, never written).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (read, never written).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config: the config of a `.sig` manifest.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config (accepted in a Docker-typed `.sig` manifest).
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// A cosign signature layer (the simple-signing payload blob).
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// `artifactType` (and config media type) of a cosign signature referrer (OCI 1.1).
pub const SIG_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// A Sigstore bundle, v0.3 in the newer spelling: what cosign v3 and pinsign write.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Every bundle media type starts with this; `cosign verify` picks bundle layers by it.
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// DSSE `payloadType` of an in-toto Statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The OCI empty descriptor's media type (`{}`): the config of an artifact with no config,
/// such as a bundle referrer.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

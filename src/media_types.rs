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

//! The images running in a cluster, from `kubectl get pods -A -o json`: pure parsing, no I/O
//! but the bounded read.
//!
//! Accepted: a `List` of Pods (what `kubectl get pods -o json` prints), a `PodList` (the API's
//! own list), or a single `Pod` (`kubectl get pod NAME -o json`). For every container, init
//! container and ephemeral container, the digest comes from, in this order:
//!
//! 1. the spec's image, when it names a digest (`repo@sha256:...`, as Kyverno's
//!    `mutateDigest` leaves it): exactly what was admitted;
//! 2. the matching `status.*Statuses[].imageID`, when it is a registry digest
//!    (`repo@sha256:...`, with or without Docker's `docker-pullable://` prefix): what the
//!    node pulled. The spec's repository is kept (signatures live beside the image the pod
//!    names), with the digest from the status;
//! 3. otherwise (no status yet, an empty `imageID`, or a local image ID such as
//!    `docker://sha256:...` or a bare `sha256:...`, which names the image config, not a
//!    manifest), the spec's image as written, for the registry to resolve.
//!
//! Only the fields read here are parsed (serde skips the rest), so a large cluster's JSON
//! costs little memory; the input is capped at [`MAX_PODS_JSON_BYTES`].

use std::io::Read as _;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::batch::ListSource;
use crate::error::UsageError;
use crate::reference::{Digest, ImageRef};

/// The largest pods JSON read (a cluster of 10,000 pods prints about 100 MB).
pub const MAX_PODS_JSON_BYTES: u64 = 256 * 1024 * 1024;

/// Where the digest of a deployed image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestFrom {
    /// The pod spec names a digest.
    Spec,
    /// The container status's `imageID`.
    ImageId,
    /// Neither: the spec's tag is resolved through the registry.
    Resolve,
}

/// One container's image.
#[derive(Debug, Clone)]
pub struct DeployedImage {
    /// The spec's image, as written (what reports show as the input).
    pub spec_image: String,
    /// What to pin: `repo@digest` when the digest is known, else the spec's image.
    pub image: ImageRef,
    pub from: DigestFrom,
    /// `pod NS/NAME container C` (or `init container`, `ephemeral container`).
    pub source: String,
}

/// What a pods JSON held.
#[derive(Debug, Clone, Default)]
pub struct Deployed {
    pub images: Vec<DeployedImage>,
    pub pods: usize,
    /// Items of a `List` that are not Pods (skipped), and containers without an image.
    pub warnings: Vec<String>,
}

/// Read `--deployed-from` (a file, or stdin for `-`), at most [`MAX_PODS_JSON_BYTES`].
pub fn read(source: &ListSource) -> Result<Vec<u8>, UsageError> {
    let name = source_name(source);
    let cannot =
        |e: std::io::Error| UsageError::new(format!("cannot read --deployed-from {name}: {e}"));
    let mut bytes = Vec::new();
    match source {
        ListSource::Stdin => std::io::stdin()
            .lock()
            .take(MAX_PODS_JSON_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?,
        ListSource::File(path) => std::fs::File::open(path)
            .and_then(|f| f.take(MAX_PODS_JSON_BYTES + 1).read_to_end(&mut bytes))
            .map_err(cannot)?,
    };
    if bytes.len() as u64 > MAX_PODS_JSON_BYTES {
        return Err(UsageError::new(format!(
            "--deployed-from {name} is larger than {} MiB; split it (e.g. one kubectl get pods -n NAMESPACE -o json per namespace)",
            MAX_PODS_JSON_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// `stdin` or the path, for messages.
pub fn source_name(source: &ListSource) -> String {
    match source {
        ListSource::Stdin => "stdin".to_string(),
        ListSource::File(p) => p.display().to_string(),
    }
}

#[derive(Deserialize)]
struct Top<'a> {
    kind: Option<String>,
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
    spec: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct KindOnly {
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Pod {
    #[serde(default)]
    metadata: Metadata,
    spec: Option<PodSpec>,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: String,
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    init_containers: Vec<Container>,
    #[serde(default)]
    ephemeral_containers: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    name: String,
    image: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodStatus {
    #[serde(default)]
    container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    init_container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    ephemeral_container_statuses: Vec<ContainerStatus>,
}

#[derive(Deserialize)]
struct ContainerStatus {
    #[serde(default)]
    name: String,
    #[serde(rename = "imageID", default)]
    image_id: Option<String>,
}

/// Parse a pods JSON (see the module header). `name` names the input in errors. Errors
/// are usage errors (exit 2): not JSON, not a Pod / PodList / List, a malformed Pod, or an
/// image reference pinsign cannot read.
pub fn parse(bytes: &[u8], name: &str) -> Result<Deployed, UsageError> {
    let hint = "give the output of `kubectl get pods -A -o json`";
    let top: Top = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_data() {
            "is not a Kubernetes object"
        } else {
            "is not JSON"
        };
        UsageError::new(format!("--deployed-from {name} {what} ({e}); {hint}"))
    })?;
    let mut out = Deployed::default();
    let single = |out: &mut Deployed| -> Result<(), UsageError> {
        let pod: Pod = serde_json::from_slice(bytes).map_err(|e| {
            UsageError::new(format!(
                "--deployed-from {name} is not a readable Pod ({e}); {hint}"
            ))
        })?;
        add_pod(&pod, name, out)
    };
    match (top.kind.as_deref(), top.items) {
        (Some("List") | Some("PodList") | None, Some(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let kind: KindOnly = serde_json::from_str(item.get()).map_err(|e| {
                    UsageError::new(format!(
                        "--deployed-from {name}: item {} is not an object ({e})",
                        i + 1
                    ))
                })?;
                match kind.kind.as_deref() {
                    None | Some("Pod") => {}
                    Some(other) => {
                        out.warnings.push(format!(
                            "{name}: item {} is a {other}, not a Pod; skipped",
                            i + 1
                        ));
                        continue;
                    }
                }
                let pod: Pod = serde_json::from_str(item.get()).map_err(|e| {
                    UsageError::new(format!(
                        "--deployed-from {name}: item {} is not a readable Pod ({e}); {hint}",
                        i + 1
                    ))
                })?;
                add_pod(&pod, name, &mut out)?;
            }
        }
        (Some(kind @ ("List" | "PodList")), None) => {
            return Err(UsageError::new(format!(
                "--deployed-from {name} is a {kind} without items; {hint}"
            )))
        }
        (Some("Pod"), None) => single(&mut out)?,
        (None, None) if top.spec.is_some() => single(&mut out)?,
        (Some(kind), _) => {
            return Err(UsageError::new(format!(
                "--deployed-from {name} is a {kind}, not a Pod, PodList or List of Pods; {hint}"
            )))
        }
        (None, _) => {
            return Err(UsageError::new(format!(
                "--deployed-from {name} is neither a Pod nor a list of Pods (no kind, items or spec); {hint}"
            )))
        }
    }
    Ok(out)
}

fn add_pod(pod: &Pod, name: &str, out: &mut Deployed) -> Result<(), UsageError> {
    let pod_name = match &pod.metadata.namespace {
        Some(ns) => format!("{ns}/{}", pod.metadata.name),
        None => pod.metadata.name.clone(),
    };
    let Some(spec) = &pod.spec else {
        out.warnings
            .push(format!("{name}: pod {pod_name} has no spec; skipped"));
        return Ok(());
    };
    out.pods += 1;
    let groups = [
        (
            "container",
            &spec.containers,
            &pod.status.container_statuses,
        ),
        (
            "init container",
            &spec.init_containers,
            &pod.status.init_container_statuses,
        ),
        (
            "ephemeral container",
            &spec.ephemeral_containers,
            &pod.status.ephemeral_container_statuses,
        ),
    ];
    for (what, containers, statuses) in groups {
        for c in containers {
            let source = format!("pod {pod_name} {what} {}", c.name);
            let Some(spec_image) = c.image.as_deref().map(str::trim).filter(|i| !i.is_empty())
            else {
                out.warnings
                    .push(format!("{name}: {source} has no image; skipped"));
                continue;
            };
            let spec_ref = ImageRef::parse(spec_image)
                .map_err(|e| UsageError::new(format!("--deployed-from {name}: {source}: {e}")))?;
            let status_digest = statuses
                .iter()
                .find(|s| s.name == c.name)
                .and_then(|s| s.image_id.as_deref())
                .and_then(digest_of_image_id);
            let (image, from) = match (spec_ref.digest(), status_digest) {
                (Some(_), _) => (spec_ref.clone(), DigestFrom::Spec),
                (None, Some(digest)) => {
                    let pinned = format!("{}@{digest}", spec_ref.repository());
                    let image = ImageRef::parse(&pinned).map_err(|e| {
                        UsageError::new(format!("--deployed-from {name}: {source}: {e}"))
                    })?;
                    (image, DigestFrom::ImageId)
                }
                (None, None) => (spec_ref.clone(), DigestFrom::Resolve),
            };
            out.images.push(DeployedImage {
                spec_image: spec_image.to_string(),
                image,
                from,
                source,
            });
        }
    }
    Ok(())
}

/// The registry digest in a container status's `imageID`, if it holds one:
/// `repo@sha256:...`, optionally behind `docker-pullable://`. A local image ID
/// (`docker://sha256:...`, a bare `sha256:...`) names the config, not a manifest: `None`.
pub fn digest_of_image_id(id: &str) -> Option<Digest> {
    let id = id.trim();
    let id = id.strip_prefix("docker-pullable://").unwrap_or(id);
    if id.contains("://") {
        return None;
    }
    let (_, digest) = id.rsplit_once('@')?;
    Digest::parse(digest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn pod(
        ns: &str,
        name: &str,
        spec: serde_json::Value,
        status: serde_json::Value,
    ) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": spec, "status": status,
        })
    }

    fn list(items: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1", "kind": "List", "items": items,
            "metadata": {"resourceVersion": ""}
        }))
        .unwrap()
    }

    #[test]
    fn image_ids() {
        let d = |s: &str| digest_of_image_id(s).map(|d| d.to_string());
        assert_eq!(
            d(&format!("docker-pullable://reg.example/app@{D1}")).as_deref(),
            Some(D1)
        );
        assert_eq!(
            d(&format!("reg.example:5000/team/app@{D1}")).as_deref(),
            Some(D1)
        );
        assert_eq!(
            d(&format!("docker.io/library/nginx@{D2}")).as_deref(),
            Some(D2)
        );
        assert_eq!(
            d(&format!("docker://{D1}")),
            None,
            "a local Docker image ID"
        );
        assert_eq!(d(D1), None, "a bare ID names the config");
        assert_eq!(d(""), None);
        assert_eq!(d("reg.example/app@sha256:12"), None);
    }

    #[test]
    fn kubectl_list_with_containers_init_and_ephemeral() {
        let bytes = list(vec![
            pod(
                "prod",
                "web-1",
                serde_json::json!({
                    "initContainers": [{"name": "migrate", "image": "reg.example/team/migrate:2"}],
                    "containers": [
                        {"name": "app", "image": "reg.example/team/app:1.0"},
                        {"name": "sidecar", "image": format!("reg.example/team/proxy@{D3}")},
                        {"name": "pending", "image": "reg.example/team/slow:3"},
                    ],
                    "ephemeralContainers": [{"name": "debug", "image": "busybox:1.36"}],
                }),
                serde_json::json!({
                    "initContainerStatuses": [{"name": "migrate", "image": "reg.example/team/migrate:2",
                        "imageID": format!("docker-pullable://reg.example/team/migrate@{D2}")}],
                    "containerStatuses": [
                        {"name": "sidecar", "imageID": format!("reg.example/team/proxy@{D1}")},
                        {"name": "app", "imageID": format!("reg.example/team/app@{D1}")},
                        {"name": "pending", "imageID": ""},
                    ],
                    "ephemeralContainerStatuses": [{"name": "debug", "imageID": format!("docker://{D2}")}],
                }),
            ),
            serde_json::json!({"kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": []}}),
        ]);
        let got = parse(&bytes, "pods.json").unwrap();
        assert_eq!(got.pods, 1);
        assert_eq!(
            got.warnings,
            vec!["pods.json: item 2 is a Service, not a Pod; skipped"]
        );
        let seen: Vec<(String, String, DigestFrom)> = got
            .images
            .iter()
            .map(|i| (i.source.clone(), i.image.to_string(), i.from))
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "pod prod/web-1 container app".into(),
                    format!("reg.example/team/app@{D1}"),
                    DigestFrom::ImageId
                ),
                // The spec's digest wins over what the status says.
                (
                    "pod prod/web-1 container sidecar".into(),
                    format!("reg.example/team/proxy@{D3}"),
                    DigestFrom::Spec
                ),
                (
                    "pod prod/web-1 container pending".into(),
                    "reg.example/team/slow:3".into(),
                    DigestFrom::Resolve
                ),
                (
                    "pod prod/web-1 init container migrate".into(),
                    format!("reg.example/team/migrate@{D2}"),
                    DigestFrom::ImageId
                ),
                (
                    "pod prod/web-1 ephemeral container debug".into(),
                    "index.docker.io/library/busybox:1.36".into(),
                    DigestFrom::Resolve
                ),
            ]
        );
        assert_eq!(got.images[0].spec_image, "reg.example/team/app:1.0");
    }

    #[test]
    fn pod_list_and_single_pod() {
        let p = pod(
            "default",
            "one",
            serde_json::json!({"containers": [{"name": "c", "image": "reg.example/a:1"}]}),
            serde_json::json!({}),
        );
        // The API's PodList: items carry no kind.
        let mut item = p.clone();
        item.as_object_mut().unwrap().remove("kind");
        let pod_list = serde_json::json!({"kind": "PodList", "apiVersion": "v1", "items": [item]});
        let got = parse(&serde_json::to_vec(&pod_list).unwrap(), "x").unwrap();
        assert_eq!(got.images.len(), 1);
        assert_eq!(got.images[0].from, DigestFrom::Resolve);
        // A single Pod, as kubectl get pod NAME -o json prints it.
        let got = parse(&serde_json::to_vec(&p).unwrap(), "x").unwrap();
        assert_eq!((got.pods, got.images.len()), (1, 1));
        // An empty list is fine (no pods).
        assert_eq!(parse(&list(vec![]), "x").unwrap().images.len(), 0);
    }

    #[test]
    fn bad_input_is_a_usage_error_naming_the_file() {
        for (bytes, needle) in [
            (&b"not json"[..], "pods.json is not JSON"),
            (b"{\"kind\": \"List\", \"items\": [", "pods.json is not JSON"),
            (b"[1, 2]", "pods.json is not a Kubernetes object"),
            (b"{\"kind\": \"Deployment\", \"spec\": {}}", "is a Deployment, not a Pod, PodList or List of Pods"),
            (b"{\"apiVersion\": \"v1\"}", "neither a Pod nor a list of Pods"),
            (b"{\"kind\": \"List\", \"items\": [{\"kind\": \"Pod\", \"spec\": {\"containers\": 3}}]}", "item 1 is not a readable Pod"),
            (b"{\"kind\": \"List\", \"items\": [{\"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"Bad/Image:1\"}]}}]}", "container c"),
        ] {
            let e = parse(bytes, "pods.json").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle:?} in {e}");
            assert!(e.contains("pods.json"), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, b"{}").unwrap();
        assert_eq!(read(&ListSource::File(f)).unwrap(), b"{}");
        let e = read(&ListSource::File(dir.path().join("missing.json"))).unwrap_err();
        assert!(e.to_string().contains("cannot read --deployed-from"), "{e}");
    }
}

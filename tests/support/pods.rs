//! `kubectl get pods -A -o json` documents for rotation tests: a `List` of Pods, with
//! containers, init containers and their statuses as the kubelet reports them.

use serde_json::{json, Value};

/// How a container's status names what the node runs.
#[derive(Clone, Debug)]
pub enum Status {
    /// `imageID: docker-pullable://REPO@DIGEST` (Docker / cri-dockerd).
    DockerPullable(String),
    /// `imageID: REPO@DIGEST` (containerd, CRI-O).
    Containerd(String),
    /// No status entry yet (the container is still being created): the image is resolved.
    Missing,
}

/// One container: its name, the spec's image, and its status.
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub status: Status,
}

impl Container {
    pub fn new(name: &str, image: &str, status: Status) -> Container {
        Container {
            name: name.to_string(),
            image: image.to_string(),
            status,
        }
    }
}

/// A Pod object with `containers` and `init` containers.
pub fn pod(namespace: &str, name: &str, containers: &[Container], init: &[Container]) -> Value {
    let spec = |cs: &[Container]| -> Vec<Value> {
        cs.iter()
            .map(|c| json!({"name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent"}))
            .collect()
    };
    let statuses = |cs: &[Container]| -> Vec<Value> {
        cs.iter()
            .filter_map(|c| {
                let id = match &c.status {
                    Status::DockerPullable(pinned) => format!("docker-pullable://{pinned}"),
                    Status::Containerd(pinned) => pinned.clone(),
                    Status::Missing => return None,
                };
                Some(json!({"name": c.name, "image": c.image, "imageID": id, "ready": true,
                    "restartCount": 0, "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}))
            })
            .collect()
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
        "spec": {"containers": spec(containers), "initContainers": spec(init), "nodeName": "node-1"},
        "status": {"phase": "Running", "containerStatuses": statuses(containers),
            "initContainerStatuses": statuses(init)},
    })
}

/// The `List` kubectl prints.
pub fn list(pods: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "items": pods,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }))
    .expect("JSON")
}

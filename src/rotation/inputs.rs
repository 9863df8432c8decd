//! The digest list: images named in `--images-from` (or as arguments) and images running in
//! the cluster (`--deployed-from`), deduplicated, pinned through the registry, deduplicated
//! again by digest, and cut to this job's `--shard`.

use crate::batch::{run_ordered, Shard};
use crate::reference::ImageRef;
use crate::registry::{PinnedImage, Registry, RegistryError};

use super::pods::{Deployed, DigestFrom};

/// One image to work on, before pinning.
#[derive(Debug, Clone)]
pub struct Input {
    /// As the user (or the pod spec) wrote it.
    pub text: String,
    /// What to pin: for a running container whose status names a digest, `repo@digest`.
    pub image: ImageRef,
    /// Where it was named (a list, `pod NS/NAME container C`, ...), each once.
    pub sources: Vec<String>,
    /// True when the digest comes from a container status's `imageID`.
    pub from_image_id: bool,
}

/// Images given by reference, from `source` ("--images-from list.txt", "the command line").
pub fn from_list(images: Vec<ImageRef>, source: &str) -> Vec<Input> {
    images
        .into_iter()
        .map(|image| Input {
            text: image.original().to_string(),
            image,
            sources: vec![source.to_string()],
            from_image_id: false,
        })
        .collect()
}

/// Images running in pods.
pub fn from_deployed(deployed: Deployed) -> Vec<Input> {
    deployed
        .images
        .into_iter()
        .map(|d| Input {
            text: d.spec_image,
            image: d.image,
            sources: vec![d.source],
            from_image_id: d.from == DigestFrom::ImageId,
        })
        .collect()
}

/// One input per normalised reference (`repo:tag`, `repo@digest`), first occurrence
/// first, every source kept.
pub fn dedupe(inputs: Vec<Input>) -> Vec<Input> {
    let mut out: Vec<Input> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for input in inputs {
        let key = input.image.to_string();
        match index.get(&key) {
            Some(&i) => merge_sources(&mut out[i].sources, input.sources),
            None => {
                index.insert(key, out.len());
                out.push(input);
            }
        }
    }
    out
}

fn merge_sources(into: &mut Vec<String>, more: Vec<String>) {
    for s in more {
        if !into.contains(&s) {
            into.push(s);
        }
    }
}

/// An input after pinning.
#[derive(Debug)]
pub struct Pinned {
    pub input: Input,
    pub result: Result<PinnedImage, RegistryError>,
}

/// Pin every input (a tag is resolved, a digest checked to exist), `concurrency` at once.
pub async fn pin_all(
    registry: &Registry,
    inputs: Vec<Input>,
    concurrency: usize,
    progress: &crate::output::Progress,
) -> Vec<Pinned> {
    run_ordered(
        inputs,
        concurrency,
        progress,
        |input| async move {
            let result = registry.resolve(&input.image).await;
            Pinned { input, result }
        },
        |p| p.result.is_err(),
        |_| {},
    )
    .await
}

/// One entry per pinned image (`repo@digest`), sources merged; failures kept as they are.
pub fn dedupe_pinned(pinned: Vec<Pinned>) -> Vec<Pinned> {
    let mut out: Vec<Pinned> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for p in pinned {
        let key = match &p.result {
            Ok(image) => image.to_string(),
            Err(_) => {
                out.push(p);
                continue;
            }
        };
        match index.get(&key) {
            Some(&i) => merge_sources(&mut out[i].input.sources, p.input.sources),
            None => {
                index.insert(key, out.len());
                out.push(p);
            }
        }
    }
    out
}

/// The images `shard` takes (by digest; an image that could not be pinned by the hash of
/// its text), and how many the other shards take.
pub fn take_shard(pinned: Vec<Pinned>, shard: Shard) -> (Vec<Pinned>, usize) {
    let total = pinned.len();
    let mine: Vec<Pinned> = pinned
        .into_iter()
        .filter(|p| match &p.result {
            Ok(image) => shard.takes(image.digest()),
            Err(_) => shard.takes_name(&p.input.image.to_string()),
        })
        .collect();
    let others = total - mine.len();
    (mine, others)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keeps_the_first_and_every_source() {
        let r = |s: &str| ImageRef::parse(s).unwrap();
        let mut inputs = from_list(vec![r("reg.example/a:1"), r("reg.example/b:1")], "list.txt");
        inputs.extend(from_list(
            vec![r("reg.example/a:1"), r("reg.example/a:2")],
            "pods",
        ));
        inputs.extend(from_list(vec![r("reg.example/a:1")], "list.txt"));
        let got = dedupe(inputs);
        let names: Vec<String> = got.iter().map(|i| i.image.to_string()).collect();
        assert_eq!(
            names,
            ["reg.example/a:1", "reg.example/b:1", "reg.example/a:2"]
        );
        assert_eq!(got[0].sources, ["list.txt", "pods"]);
    }
}

//! Batch plumbing shared by `sign-digest` and `verify`: where the image list comes from,
//! and running one async job per image with bounded concurrency.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use clap::Args;
use futures::StreamExt;

use crate::error::UsageError;
use crate::reference::ImageRef;

/// The images a batch command works on.
#[derive(Debug, Clone, Args)]
pub struct ImageListArgs {
    /// Images: REG/REPO:TAG (pinned through the registry first) or REG/REPO@sha256:...
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,

    /// Read more images from FILE, or stdin with '-': one per line, '#' starts a comment.
    #[arg(long, value_name = "FILE|-")]
    pub images_from: Option<String>,

    /// How many images to work on at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

impl ImageListArgs {
    /// All images, parsed; any malformed one is a usage error naming it (and its line).
    pub fn collect(&self) -> anyhow::Result<Vec<ImageRef>> {
        let mut texts: Vec<(String, Option<String>)> =
            self.images.iter().map(|s| (s.clone(), None)).collect();
        match self.images_from.as_deref() {
            None => {}
            Some("-") => {
                let stdin = std::io::stdin();
                texts
                    .extend(read_list(stdin.lock(), "stdin").context("reading images from stdin")?);
            }
            Some(path) => {
                let file = std::fs::File::open(Path::new(path)).map_err(|e| {
                    UsageError::new(format!("cannot read --images-from {path}: {e}"))
                })?;
                texts.extend(
                    read_list(std::io::BufReader::new(file), path)
                        .with_context(|| format!("reading images from {path}"))?,
                );
            }
        }
        if texts.is_empty() {
            return Err(UsageError::new(
                "no images given: name them as arguments or with --images-from FILE",
            )
            .into());
        }
        texts
            .into_iter()
            .map(|(text, place)| {
                ImageRef::parse(&text).map_err(|e| match place {
                    Some(place) => anyhow::Error::new(e).context(place),
                    None => e.into(),
                })
            })
            .collect()
    }
}

fn read_list(reader: impl BufRead, name: &str) -> std::io::Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        let text = line.split('#').next().unwrap_or("").trim();
        if !text.is_empty() {
            out.push((text.to_string(), Some(format!("{name} line {}", i + 1))));
        }
    }
    Ok(out)
}

/// Run `job` on every item, at most `concurrency` at once, and return the results in
/// input order. Ticks `bar` as items finish.
pub async fn run_all<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    bar: &indicatif::ProgressBar,
    job: F,
) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let mut results: Vec<(usize, R)> = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| {
            let fut = job(item);
            async move {
                let r = fut.await;
                bar.inc(1);
                (i, r)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_skips_comments_and_blanks() {
        let input = "# header\nreg.example/a:1\n\n  reg.example/b@sha256:0000000000000000000000000000000000000000000000000000000000000000  # pinned\n";
        let got = read_list(input.as_bytes(), "list.txt").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "reg.example/a:1");
        assert_eq!(got[1].1.as_deref(), Some("list.txt line 4"));
    }

    #[tokio::test]
    async fn run_all_keeps_order() {
        let bar = indicatif::ProgressBar::hidden();
        let out = run_all(vec![30u64, 10, 20], 3, &bar, |ms| async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            ms
        })
        .await;
        assert_eq!(out, vec![30, 10, 20]);
    }
}

//! Batch plumbing shared by the commands that work on many images: where the image list
//! comes from, and running one async job per image with bounded concurrency.

use std::io::{BufRead, Read as _};
use std::path::PathBuf;

use futures::StreamExt;

use crate::error::UsageError;
use crate::reference::ImageRef;

/// The longest line an image list may have: a reference is at most a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 4096;

/// The images a batch works on and how many at once. Plain data, filled in by the CLI.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Images named on the command line.
    pub images: Vec<String>,
    /// More images, one per line, from a file or stdin.
    pub images_from: Option<ListSource>,
    /// How many images to work on at once (at least 1).
    pub concurrency: usize,
}

/// Where `--images-from` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    Stdin,
    File(PathBuf),
}

impl ListSource {
    /// `-` is stdin, anything else a path.
    pub fn parse(arg: &str) -> ListSource {
        if arg == "-" {
            ListSource::Stdin
        } else {
            ListSource::File(PathBuf::from(arg))
        }
    }

    fn name(&self) -> String {
        match self {
            ListSource::Stdin => "stdin".to_string(),
            ListSource::File(p) => p.display().to_string(),
        }
    }
}

impl BatchOptions {
    /// All images, parsed; any malformed one is a usage error naming it (and its line).
    pub fn collect(&self) -> anyhow::Result<Vec<ImageRef>> {
        let mut texts: Vec<(String, Option<String>)> =
            self.images.iter().map(|s| (s.clone(), None)).collect();
        match &self.images_from {
            None => {}
            Some(ListSource::Stdin) => {
                let stdin = std::io::stdin();
                texts.extend(read_list(stdin.lock(), "stdin")?);
            }
            Some(source @ ListSource::File(path)) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    UsageError::new(format!("cannot read --images-from {}: {e}", source.name()))
                })?;
                texts.extend(read_list(std::io::BufReader::new(file), &source.name())?);
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

/// Read an image list line by line (`#` starts a comment), never holding more than one
/// line of at most [`MAX_LINE_BYTES`]: a list from `/dev/zero` or a binary file is a
/// clear usage error, not an allocation failure.
fn read_list(
    mut reader: impl BufRead,
    name: &str,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = std::io::Read::by_ref(&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| UsageError::new(format!("cannot read --images-from {name}: {e}")))?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(UsageError::new(format!(
                "--images-from {name} line {number} is longer than {MAX_LINE_BYTES} bytes; it does not hold one image reference per line"
            ))
            .into());
        }
        let text = std::str::from_utf8(&line).map_err(|_| {
            UsageError::new(format!("--images-from {name} line {number} is not text"))
        })?;
        let text = text.split('#').next().unwrap_or("").trim();
        if !text.is_empty() {
            out.push((text.to_string(), Some(format!("{name} line {number}"))));
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

    #[test]
    fn endless_or_binary_lists_are_usage_errors() {
        let zeros = std::io::repeat(0).take(10 * 1024 * 1024);
        let e = read_list(std::io::BufReader::new(zeros), "/dev/zero").unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
        let e = read_list(&b"a\n\xff\xfe\n"[..], "bin").unwrap_err();
        assert!(e.to_string().contains("line 2 is not text"), "{e}");
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

//! Batch plumbing shared by the commands that work on many images: where the image list
//! comes from, running one async job per image with bounded concurrency (results reported
//! in input order while the progress shows live, [`run_ordered`]; a job waiting out a settle
//! window lends its slot to the next image, [`idle`]), and [`Shard`], a stable share of the
//! work for one of N parallel jobs.

use std::io::{BufRead, Read as _};
use std::path::PathBuf;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::UsageError;
use crate::reference::{Digest, ImageRef};

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
                "no images given: name them as IMAGE arguments or with --images-from FILE",
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

/// The most jobs a work list can be split into.
pub const MAX_SHARDS: u32 = 1024;

/// `--shard I/N`: job `I` of `N` takes the digests whose share is `I`. The share depends on
/// the digest alone (its first 64 bits, taken modulo `N`), never on the list's order or
/// length, so `N` jobs given the same images in any order cover each digest exactly once. A
/// sha256 digest is uniformly distributed, so the shares are even.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based, at most `count`.
    index: u32,
    count: u32,
}

impl Shard {
    /// Every digest: one job doing all the work.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parse `I/N` (1 <= I <= N <= [`MAX_SHARDS`]); errors are usage errors naming the value.
    pub fn parse(text: &str) -> Result<Shard, UsageError> {
        let bad = |why: &str| {
            UsageError::new(format!(
                "--shard {text:?}: {why}; write I/N, e.g. 1/4 for the first of 4 jobs"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let index: u32 = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(bad(&format!("N must be from 1 to {MAX_SHARDS}")));
        }
        if index == 0 || index > count {
            return Err(bad("I must be from 1 to N"));
        }
        Ok(Shard { index, count })
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// True when this job takes `digest`.
    pub fn takes(&self, digest: &Digest) -> bool {
        self.share_of(digest) == self.index
    }

    /// For work that has no digest (an image that could not be pinned): the share of the
    /// sha256 of its name, so exactly one job reports it.
    pub fn takes_name(&self, name: &str) -> bool {
        self.takes(&Digest::of(name.as_bytes()))
    }

    /// The 1-based share `digest` belongs to.
    pub fn share_of(&self, digest: &Digest) -> u32 {
        let prefix = digest.hex().get(..16).unwrap_or("0");
        let value = u64::from_str_radix(prefix, 16).unwrap_or(0);
        (value % u64::from(self.count)) as u32 + 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl serde::Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How many more jobs than `concurrency` [`run_ordered`] keeps in flight (the extra ones
/// are waiting out a settle window, or waiting for a slot).
const PACED_IN_FLIGHT: usize = 8;

tokio::task_local! {
    /// The slot of the [`run_ordered`] job being polled.
    static SLOT: Slot;
}

/// One job's hold on the batch's slots.
#[derive(Clone)]
struct Slot {
    slots: Arc<Semaphore>,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl Slot {
    async fn take(&self) {
        // The semaphore is never closed; without a permit the job simply runs unpaced.
        if let Ok(permit) = self.slots.clone().acquire_owned().await {
            *lock(&self.held) = Some(permit);
        }
    }

    fn give_back(&self) {
        lock(&self.held).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wait for `pause` (a sleep in which the job sends nothing, such as a settle window) without
/// holding the job's slot when it runs under [`run_ordered`], so that another image works
/// meanwhile; the slot is taken again before the job goes on. Elsewhere it just waits.
pub async fn idle<F: std::future::Future>(pause: F) -> F::Output {
    let slot = SLOT.try_with(Slot::clone).ok();
    if let Some(s) = &slot {
        s.give_back();
    }
    let out = pause.await;
    if let Some(s) = &slot {
        s.take().await;
    }
    out
}

/// Run `job` on every item, at most `concurrency` working at once, and return the results in
/// input order. A job in an [`idle`] pause gives its slot to the next one (signing waits out
/// a settle window per image, and that wait should not hold back the batch); at most
/// `concurrency` × [`PACED_IN_FLIGHT`] jobs are in flight.
///
/// `report` sees each result in input order too, as soon as every earlier item has finished:
/// text output keeps the order of the list (a log reads like the list) while `progress` shows
/// every finished item at once, failures (`failed`) counted, and its interval lines keep
/// coming while a slow item holds the others back.
pub async fn run_ordered<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    progress: &crate::output::Progress,
    job: F,
    failed: impl Fn(&R) -> bool,
    mut report: impl FnMut(&R),
) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let concurrency = concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let total = items.len();
    let mut results: Vec<Option<R>> = (0..total).map(|_| None).collect();
    let mut next = 0;
    let mut finished = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| {
            let fut = job(item);
            let slot = Slot {
                slots: slots.clone(),
                held: Arc::new(Mutex::new(None)),
            };
            async move {
                slot.take().await;
                let r = SLOT.scope(slot.clone(), fut).await;
                slot.give_back();
                (i, r)
            }
        })
        .buffer_unordered(concurrency.saturating_mul(PACED_IN_FLIGHT));
    let period = progress
        .tick_interval()
        .unwrap_or(std::time::Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = finished.next() => {
                let Some((i, result)) = item else { break };
                progress.done(failed(&result));
                results[i] = Some(result);
                while let Some(Some(ready)) = results.get(next) {
                    progress.suspend(|| report(ready));
                    next += 1;
                }
            }
            _ = ticker.tick() => progress.tick(),
        }
    }
    progress.finish();
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn run_ordered_reports_in_input_order() {
        let progress = crate::output::Progress::new(1, "test");
        let mut seen = Vec::new();
        let out = run_ordered(
            vec![40u64, 5, 20, 1],
            4,
            &progress,
            |ms| async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                ms
            },
            |_| false,
            |r| seen.push(*r),
        )
        .await;
        assert_eq!(out, vec![40, 5, 20, 1]);
        assert_eq!(seen, vec![40, 5, 20, 1]);
    }

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
    async fn paced_jobs_work_at_most_n_at_once_and_lend_their_slot_while_idle() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;
        let progress = crate::output::Progress::new(1, "test");
        let busy = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let pausing = Arc::new(AtomicUsize::new(0));
        let most_pausing = Arc::new(AtomicUsize::new(0));
        let out = run_ordered(
            (0..16u64).collect(),
            2,
            &progress,
            |i| {
                let (busy, most) = (busy.clone(), most.clone());
                let (pausing, most_pausing) = (pausing.clone(), most_pausing.clone());
                async move {
                    let work = |busy: &AtomicUsize, most: &AtomicUsize| {
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                    };
                    work(&busy, &most);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    busy.fetch_sub(1, Ordering::SeqCst);
                    // A long pause that holds no slot.
                    idle(async {
                        let now = pausing.fetch_add(1, Ordering::SeqCst) + 1;
                        most_pausing.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        pausing.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await;
                    work(&busy, &most);
                    busy.fetch_sub(1, Ordering::SeqCst);
                    i
                }
            },
            |_| false,
            |_| {},
        )
        .await;
        assert_eq!(out, (0..16).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
        // Pausing jobs hold no slot: more of them pause at once than there are slots.
        assert!(most_pausing.load(Ordering::SeqCst) > 2, "{most_pausing:?}");
        // Outside a paced batch, idle just waits.
        assert_eq!(idle(async { 7 }).await, 7);
    }

    #[test]
    fn shard_parse() {
        assert_eq!(Shard::parse("1/1").unwrap(), Shard::ALL);
        let s = Shard::parse("2/3").unwrap();
        assert_eq!(
            (s.index(), s.count(), s.to_string()),
            (2, 3, "2/3".to_string())
        );
        for bad in ["", "1", "0/2", "3/2", "1/0", "a/2", "1/b", "-1/2", "1/1025"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.to_string().contains("--shard"), "{bad}: {e}");
        }
    }

    #[test]
    fn shards_cover_every_digest_exactly_once_in_any_order() {
        let digests: Vec<Digest> = (0..500u32).map(|i| Digest::of(&i.to_be_bytes())).collect();
        for n in [1u32, 2, 3, 7, 16] {
            let shards: Vec<Shard> = (1..=n)
                .map(|i| Shard::parse(&format!("{i}/{n}")).unwrap())
                .collect();
            let mut sizes = vec![0usize; n as usize];
            for d in &digests {
                let takers: Vec<&Shard> = shards.iter().filter(|s| s.takes(d)).collect();
                assert_eq!(takers.len(), 1, "{d} in {n} shards");
                sizes[(takers[0].index() - 1) as usize] += 1;
            }
            // Even shares: none is less than half its fair size.
            let fair = digests.len() / n as usize;
            assert!(sizes.iter().all(|&s| s * 2 >= fair), "{n}: {sizes:?}");
        }
        // Stable: the share is a function of the digest, not of position or list.
        let s = Shard::parse("2/5").unwrap();
        let forward: Vec<bool> = digests.iter().map(|d| s.takes(d)).collect();
        let backward: Vec<bool> = digests.iter().rev().map(|d| s.takes(d)).collect();
        assert_eq!(forward, backward.into_iter().rev().collect::<Vec<_>>());
        let fixed = Digest::parse(&format!("sha256:{}", "0".repeat(63) + "5")).unwrap();
        assert_eq!(Shard::parse("1/4").unwrap().share_of(&fixed), 1);
        let fixed = Digest::parse(&format!(
            "sha256:{}{}",
            "0".repeat(15) + "6",
            "0".repeat(48)
        ))
        .unwrap();
        assert_eq!(Shard::parse("1/4").unwrap().share_of(&fixed), 3);
        assert!(Shard::ALL.takes_name("anything"));
    }
}

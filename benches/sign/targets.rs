//! The performance targets (issue 16), measured side by side in one run: for the binary under
//! test and, with `PINSIGN_BENCH_BASELINE=/path/to/an/older/pinsign`, for that binary too, on the
//! same registries, one scenario after the other. Nothing here asserts a time: it measures and
//! prints one markdown table (`| target | goal | <binary> | ... |`).
//!
//! Every scenario uses fresh images, so every signature is new. Registries: Distribution 2.8
//! (plain, and token auth with the harness's token server) and ferro-oci-server (referrers API),
//! each behind a counting proxy; a second proxy with 50-150 ms per request stands for a distant
//! registry. Peak RSS comes from GNU time (`/usr/bin/time -f %M`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{check, ms, run, KeyPair, Target};
use crate::support::{self, cosign_writer, images, RegistryKind};

/// A pinsign binary to measure, with its column label.
pub struct Bin {
    pub label: String,
    pub path: PathBuf,
}

/// Fresh signatures timed one process each (the median is reported).
const FRESH_RUNS: usize = 5;
/// `build-push --sign` and bare buildah, each timed this many times (median).
const BUILD_RUNS: usize = 3;
/// Images of the "batch against processes" scenario.
const BATCH: usize = 50;
/// Layers of the large `.sig` manifest, and how many distinct payloads they have.
const WIDE_LAYERS: usize = 300;
const WIDE_PAYLOADS: usize = 150;

/// What one binary measured.
#[derive(Default)]
struct Results {
    fresh_wall: Vec<Duration>,
    fresh_requests: usize,
    fresh_token_requests: (usize, usize),
    batch_wall: Duration,
    loop_wall: Duration,
    build_push_sign: Vec<Duration>,
    bare_buildah: Vec<Duration>,
    sign_big: Option<(Duration, u64)>,
    verify_big: Option<(Duration, u64)>,
    verify_small_rss: Option<u64>,
    bundle_requests: Vec<(String, usize, usize)>,
    token_repos: (usize, usize, usize),
    wide_verify: Option<(Duration, usize)>,
    version: Duration,
}

/// Runs every scenario for every binary; `big` is the size of the large batches (1,000).
pub fn measure(bins: &[Bin], keys: &KeyPair, big: usize) -> String {
    let mut plain = Target::start(RegistryKind::Http);
    let mut token = Target::start(RegistryKind::TokenHttp);
    let mut ferro = Target::ferro();
    let mut slow = Target::start(RegistryKind::Http);
    slow.proxy.delay(
        "*",
        "/",
        Duration::from_millis(50),
        Duration::from_millis(150),
    );
    let mut all = Vec::new();
    for bin in bins {
        eprintln!("=== targets: {} ({}) ===", bin.label, bin.path.display());
        let mut r = Results::default();
        fresh(&mut plain, &mut token, bin, keys, &mut r);
        batch(&mut plain, bin, keys, &mut r);
        build_push(&plain, bin, keys, &mut r);
        large(&mut plain, bin, keys, big, &mut r);
        bundles(&mut plain, &mut ferro, bin, keys, &mut r);
        token_batch(&mut token, bin, keys, &mut r);
        wide(&mut slow, bin, keys, &mut r);
        r.version = average(20, || {
            let mut c = cmd(bin, keys, None);
            c.arg("--version");
            let out = run(c);
            check(&out, "--version");
        });
        all.push(r);
    }
    table(bins, &all, big)
}

/// `bin` with the harness's clean environment, the benchmark key's password and, with an
/// endpoint, its registry flags and credentials.
fn cmd(bin: &Bin, keys: &KeyPair, target: Option<&support::Endpoint>) -> std::process::Command {
    let mut c = support::pinsign_std_at(&bin.path, keys.home());
    c.env("COSIGN_PASSWORD", super::PASSWORD)
        .stdin(std::process::Stdio::null());
    if let Some(ep) = target {
        ep.configure_pinsign_std(&mut c);
    }
    c
}

/// `bin ARGS` under GNU time: its wall time and peak RSS in KiB.
fn timed(
    bin: &Bin,
    keys: &KeyPair,
    ep: &support::Endpoint,
    args: &[&str],
    what: &str,
) -> (Duration, u64) {
    let rss_file = keys.home().join("rss.txt");
    let mut c = support::pinsign_std_at(Path::new("/usr/bin/time"), keys.home());
    c.env("COSIGN_PASSWORD", super::PASSWORD)
        .stdin(std::process::Stdio::null())
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(&bin.path);
    ep.configure_pinsign_std(&mut c);
    // Registry flags are global: accepted after the subcommand too.
    c.args(args);
    let started = Instant::now();
    let out = run(c);
    let wall = started.elapsed();
    check(&out, what);
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    (wall, rss)
}

fn average(n: u32, mut work: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..n {
        work();
    }
    started.elapsed() / n
}

fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn fresh(plain: &mut Target, token: &mut Target, bin: &Bin, keys: &KeyPair, r: &mut Results) {
    let images = plain.push("fresh", FRESH_RUNS, false);
    for (i, image) in images.iter().enumerate() {
        let ep = plain.proxy.endpoint();
        let m = plain.measure(1, 1, || {
            let mut c = cmd(bin, keys, Some(&ep));
            c.args(["sign-digest", "--key", &keys.key, &image.pinned]);
            check(&run(c), "sign-digest (fresh)");
        });
        r.fresh_wall.push(m.wall);
        if i == 0 {
            r.fresh_requests = m.requests;
        }
    }
    let image = token.push("fresh-token", 1, false).remove(0);
    let ep = token.proxy.endpoint();
    let m = token.measure(1, 1, || {
        let mut c = cmd(bin, keys, Some(&ep));
        c.args(["sign-digest", "--key", &keys.key, &image.pinned]);
        check(&run(c), "sign-digest (fresh, token registry)");
    });
    r.fresh_token_requests = (m.requests, m.tokens);
    eprintln!(
        "fresh: {:?}; {} requests; token registry {} (+{})",
        r.fresh_wall, r.fresh_requests, m.requests, m.tokens
    );
}

fn batch(plain: &mut Target, bin: &Bin, keys: &KeyPair, r: &mut Results) {
    let ep = plain.proxy.endpoint();
    let batch = plain.push("c8", BATCH, false);
    let pinned: Vec<&str> = batch.iter().map(|i| i.pinned.as_str()).collect();
    r.batch_wall = plain
        .measure(1, BATCH, || {
            let mut c = cmd(bin, keys, Some(&ep));
            c.args(["sign-digest", "--key", &keys.key, "--concurrency", "8"])
                .args(&pinned);
            check(&run(c), "sign-digest (batch of 50, --concurrency 8)");
        })
        .wall;
    let separate = plain.push("processes", BATCH, false);
    r.loop_wall = plain
        .measure(BATCH, BATCH, || {
            for image in &separate {
                let mut c = cmd(bin, keys, Some(&ep));
                c.args(["sign-digest", "--key", &keys.key, &image.pinned]);
                check(&run(c), "sign-digest (one of 50 processes)");
            }
        })
        .wall;
    eprintln!("batch {:?}, 50 processes {:?}", r.batch_wall, r.loop_wall);
}

fn build_push(plain: &Target, bin: &Bin, keys: &KeyPair, r: &mut Results) {
    let store = images::store();
    let ep = plain.upstream.clone();
    let work = support::temp_dir();
    static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(7000);
    for _ in 0..BUILD_RUNS {
        let seed = SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ctx = work.path().join(format!("ctx-{seed}"));
        images::write_context(&ctx, seed);
        let mut c = cmd(bin, keys, Some(&ep));
        c.envs(store.env()).args([
            "build-push",
            "--image",
            &format!("{}/bench/bp-{seed}:v1", ep.host),
            "--context",
            ctx.to_str().expect("UTF-8 path"),
            "--sign",
            "--key",
            &keys.key,
            "-q",
        ]);
        let started = Instant::now();
        check(&run(c), "build-push --sign");
        r.build_push_sign.push(started.elapsed());

        let seed = SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ctx = work.path().join(format!("ctx-{seed}"));
        images::write_context(&ctx, seed);
        let local = format!("localhost/bench-bare-{seed}");
        let started = Instant::now();
        support::run(store.buildah().args([
            "build",
            "--quiet",
            "--format",
            "oci",
            "--tag",
            &local,
            ctx.to_str().expect("UTF-8 path"),
        ]));
        support::run(store.buildah().args([
            "push",
            "--quiet",
            "--format",
            "oci",
            "--tls-verify=false",
            &local,
            &format!("docker://{}/bench/bare-{seed}:v1", ep.host),
        ]));
        r.bare_buildah.push(started.elapsed());
        let _ = store.buildah().args(["rmi", &local]).output();
    }
    eprintln!(
        "build-push --sign {:?}, bare buildah {:?}",
        r.build_push_sign, r.bare_buildah
    );
}

fn large(plain: &mut Target, bin: &Bin, keys: &KeyPair, big: usize, r: &mut Results) {
    let ep = plain.proxy.endpoint();
    let images = plain.push("big", big, false);
    let list = keys.home().join("big.txt");
    let text: String = images.iter().map(|i| format!("{}\n", i.pinned)).collect();
    std::fs::write(&list, text).expect("write image list");
    let list = list.to_str().expect("UTF-8 path").to_string();
    let sign = timed(
        bin,
        keys,
        &ep,
        &[
            "sign-digest",
            "--key",
            &keys.key,
            "--concurrency",
            "32",
            "--images-from",
            &list,
            "-q",
        ],
        "sign-digest of the large batch",
    );
    let verify = timed(
        bin,
        keys,
        &ep,
        &[
            "verify",
            "--key",
            &keys.public,
            "--concurrency",
            "32",
            "--images-from",
            &list,
            "-q",
        ],
        "verify of the large batch",
    );
    let small: Vec<&str> = images
        .iter()
        .take((big / 10).max(1))
        .map(|i| i.pinned.as_str())
        .collect();
    let mut args = vec!["verify", "--key", &keys.public, "--concurrency", "32", "-q"];
    args.extend(small);
    let verify_small = timed(
        bin,
        keys,
        &ep,
        &args,
        "verify of a tenth of the large batch",
    );
    eprintln!("large: sign {sign:?}, verify {verify:?}, a tenth {verify_small:?}");
    r.sign_big = Some(sign);
    r.verify_big = Some(verify);
    r.verify_small_rss = Some(verify_small.1);
}

fn bundles(plain: &mut Target, ferro: &mut Target, bin: &Bin, keys: &KeyPair, r: &mut Results) {
    for t in [plain, ferro] {
        let image = t.push("bundle", 1, false).remove(0);
        let ep = t.proxy.endpoint();
        let sign = t.measure(1, 1, || {
            let mut c = cmd(bin, keys, Some(&ep));
            c.args([
                "sign-digest",
                "--format",
                "bundle",
                "--key",
                &keys.key,
                &image.pinned,
            ]);
            check(&run(c), "sign-digest --format bundle");
        });
        let verify = t.measure(1, 1, || {
            let mut c = cmd(bin, keys, Some(&ep));
            c.args(["verify", "--key", &keys.public, &image.tagged]);
            check(&run(c), "verify of a bundle");
        });
        r.bundle_requests
            .push((t.name.to_string(), sign.requests, verify.requests));
    }
}

fn token_batch(token: &mut Target, bin: &Bin, keys: &KeyPair, r: &mut Results) {
    let ep = token.proxy.endpoint();
    let images = token.push("repos", BATCH, false);
    let pinned: Vec<&str> = images.iter().map(|i| i.pinned.as_str()).collect();
    let sign = token.measure(1, BATCH, || {
        let mut c = cmd(bin, keys, Some(&ep));
        c.args(["sign-digest", "--key", &keys.key, "--concurrency", "8"])
            .args(&pinned);
        check(&run(c), "sign-digest over 50 repositories");
    });
    let verify = token.measure(1, BATCH, || {
        let mut c = cmd(bin, keys, Some(&ep));
        c.args(["verify", "--key", &keys.public, "--concurrency", "8"])
            .args(&pinned);
        check(&run(c), "verify over 50 repositories");
    });
    r.token_repos = (sign.tokens, verify.tokens, sign.requests);
    eprintln!("token batch: {:?}", r.token_repos);
}

fn wide(slow: &mut Target, bin: &Bin, keys: &KeyPair, r: &mut Results) {
    let image = slow.push("wide", 1, false).remove(0);
    let upstream = slow.upstream.clone();
    let key_pem = std::fs::read_to_string(&keys.key).expect("read the benchmark key");
    let key = cosign_writer::decrypt_cosign_key(&key_pem, super::PASSWORD.as_bytes());
    let digest = image
        .pinned
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .expect("pinned");
    let repo = image
        .pinned
        .split_once('/')
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(repo, _)| repo.to_string())
        .expect("repository");
    // The payload names the repository as pinsign sees it (through the proxy).
    let reference = format!("{}/{repo}", slow.proxy.host());
    let layers: Vec<cosign_writer::Layer> = (0..WIDE_LAYERS)
        .map(|i| {
            let n = (i % WIDE_PAYLOADS).to_string();
            let payload = cosign_writer::payload(&reference, &digest, &[("n", &n)]);
            cosign_writer::Layer::signed(&key, payload)
        })
        .collect();
    cosign_writer::push_sig_tag(&upstream, &repo, &digest, &layers);
    let ep = slow.proxy.endpoint();
    let m = slow.measure(1, 1, || {
        let mut c = cmd(bin, keys, Some(&ep));
        c.args(["verify", "--key", &keys.public, "-q", &image.pinned]);
        check(&run(c), "verify of a .sig with hundreds of layers");
    });
    let blob_gets = m.by_kind.get("GET blob").copied().unwrap_or_default();
    eprintln!("wide verify: {:?}, {blob_gets} blob GETs", m.wall);
    r.wide_verify = Some((m.wall, blob_gets));
}

fn table(bins: &[Bin], all: &[Results], big: usize) -> String {
    let mut out = String::new();
    out.push_str("### Targets (issue 16)\n\n| target | goal |");
    for b in bins {
        out.push_str(&format!(" {} |", b.label));
    }
    out.push_str(&format!("\n|---|---|{}\n", "---|".repeat(bins.len())));
    type Cell = Box<dyn Fn(&Results) -> String>;
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
    let rows: Vec<(String, &str, Cell)> = vec![
        (
            format!("fresh signature, one process (median of {FRESH_RUNS})"),
            "≤ 0.15 s",
            Box::new(move |r| secs(median(&r.fresh_wall))),
        ),
        (
            "fresh signature: registry requests, plain / token registry (+ token requests)"
                .into(),
            "≤ 10 + 1 token",
            Box::new(|r| {
                format!(
                    "{} / {} (+{})",
                    r.fresh_requests, r.fresh_token_requests.0, r.fresh_token_requests.1
                )
            }),
        ),
        (
            format!("{BATCH} fresh signatures: one process `--concurrency 8` / {BATCH} processes"),
            "≥ 20×",
            Box::new(move |r| {
                format!(
                    "{} / {} = **{:.1}×**",
                    secs(r.batch_wall),
                    secs(r.loop_wall),
                    r.loop_wall.as_secs_f64() / r.batch_wall.as_secs_f64().max(1e-9)
                )
            }),
        ),
        (
            format!(
                "`build-push --sign` of a one-file image / bare `buildah build && buildah push` (median of {BUILD_RUNS})"
            ),
            "≤ 1.5×",
            Box::new(move |r| {
                let a = median(&r.build_push_sign);
                let b = median(&r.bare_buildah);
                format!(
                    "{} / {} = **{:.2}×**",
                    secs(a),
                    secs(b),
                    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
                )
            }),
        ),
        (
            format!("`verify` of {big} signed digests, `--concurrency 32`: wall, peak RSS ({} digests: RSS)", (big / 10).max(1)),
            "≤ 10 s, flat memory",
            Box::new(move |r| match (r.verify_big, r.verify_small_rss) {
                (Some((wall, rss)), Some(small)) => {
                    format!("{}, {} ({})", secs(wall), mib(rss), mib(small))
                }
                _ => "-".into(),
            }),
        ),
        (
            format!("`sign-digest` of {big} digests, `--concurrency 32`: wall, peak RSS"),
            "report",
            Box::new(move |r| match r.sign_big {
                Some((wall, rss)) => format!("{}, {}", secs(wall), mib(rss)),
                None => "-".into(),
            }),
        ),
        (
            "bundle: fresh `sign-digest --format bundle` / `verify` requests".into(),
            "counted",
            Box::new(|r| {
                r.bundle_requests
                    .iter()
                    .map(|(name, s, v)| format!("{name}: {s} / {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        (
            format!("token requests: {BATCH} images in {BATCH} repositories, sign / verify (one process)"),
            "one token for several scopes",
            Box::new(|r| format!("{} / {}", r.token_repos.0, r.token_repos.1)),
        ),
        (
            format!(
                "`verify` of a `.sig` with {WIDE_LAYERS} layers ({WIDE_PAYLOADS} distinct payloads) through a 50-150 ms proxy (blob GETs)"
            ),
            "bounded concurrency, deduped",
            Box::new(move |r| match r.wide_verify {
                Some((wall, gets)) => format!("{} ({gets})", secs(wall)),
                None => "-".into(),
            }),
        ),
        (
            "`pinsign --version` (average of 20)".into(),
            "< 5 ms",
            Box::new(|r| format!("{:.1} ms", r.version.as_secs_f64() * 1000.0)),
        ),
    ];
    for (name, goal, cell) in rows {
        out.push_str(&format!("| {name} | {goal} |"));
        for r in all {
            out.push_str(&format!(" {} |", cell(r)));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\nFresh signatures, one process each, all {FRESH_RUNS} runs: {}\n",
        bins.iter()
            .zip(all)
            .map(|(b, r)| format!(
                "{}: {}",
                b.label,
                r.fresh_wall
                    .iter()
                    .map(|d| ms(*d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    out
}

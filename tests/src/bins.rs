//! Finding (and if needed building or installing) the binaries the tests run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{bail, Context};

/// The binaries an end-to-end test runs.
#[derive(Debug, Clone)]
pub struct Bins {
    /// `blyand` (the node and CLI).
    pub blyand: PathBuf,
    /// `cometbft` v0.38.
    pub cometbft: PathBuf,
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

impl Bins {
    /// Locates the binaries once per test process:
    /// - `blyand`: `$BLYAND_BIN`, else `<workspace>/target/debug/blyand`, built with
    ///   `cargo build -p blyan-app --bin blyand` when missing or older than a source file
    ///   of the crates it is made of;
    /// - `cometbft`: `$COMETBFT_BIN`, else `<workspace>/.bin/cometbft`, installed with
    ///   `localnet/install.sh` when missing.
    pub fn get() -> anyhow::Result<Bins> {
        static BINS: OnceLock<Result<Bins, String>> = OnceLock::new();
        BINS.get_or_init(|| Self::locate().map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(anyhow::Error::msg)
    }

    fn locate() -> anyhow::Result<Bins> {
        let root = workspace_root();
        let blyand = match std::env::var_os("BLYAND_BIN") {
            Some(p) => PathBuf::from(p),
            None => {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("target"));
                let bin = target.join("debug").join("blyand");
                if needs_build(&bin, &root) {
                    build_blyand(&root)?;
                }
                bin
            }
        };
        if !blyand.is_file() {
            bail!("blyand binary not found at {}", blyand.display());
        }
        let cometbft = match std::env::var_os("COMETBFT_BIN") {
            Some(p) => PathBuf::from(p),
            None => {
                let bin = root.join(".bin").join("cometbft");
                if !bin.is_file() {
                    install_cometbft(&root)?;
                }
                bin
            }
        };
        if !cometbft.is_file() {
            bail!(
                "cometbft binary not found at {} (run localnet/install.sh or set COMETBFT_BIN)",
                cometbft.display()
            );
        }
        Ok(Bins { blyand, cometbft })
    }
}

/// True when `bin` is missing or older than the `Cargo.toml` or a `src/**.rs` file of a
/// crate it is built from (their `tests/` and `benches/` do not count).
fn needs_build(bin: &Path, root: &Path) -> bool {
    needs_build_from(bin, root, &["app", "chain", "client", "proto", "genesis"])
}

/// True when `bin` is missing or older than the `Cargo.toml` or a `src/**.rs` file of one
/// of `crates` (directories under the workspace root).
pub(crate) fn needs_build_from(bin: &Path, root: &Path, crates: &[&str]) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return true;
    };
    crates.iter().any(|c| {
        let manifest = root.join(c).join("Cargo.toml");
        let manifest_newer = std::fs::metadata(manifest)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > built);
        manifest_newer || newer_than(&root.join(c).join("src"), built)
    })
}

fn newer_than(dir: &Path, t: SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            newer_than(&path, t)
        } else {
            path.extension().is_some_and(|x| x == "rs")
                && e.metadata().and_then(|m| m.modified()).is_ok_and(|m| m > t)
        }
    })
}

/// A second `blyand` build with the `blyan-app` cargo `feature` on (e.g.
/// `upgrade-demo-v2`, the "new binary" of a software upgrade), copied to
/// `<target>/debug/blyand-<feature>`. It shares the target directory, so only the app
/// crate recompiles; the default `target/debug/blyand` is rebuilt afterwards (a relink at
/// most), since cargo puts every build of the binary there.
pub fn blyand_with_feature(feature: &str) -> anyhow::Result<PathBuf> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let default = target.join("debug").join("blyand");
    let dest = target.join("debug").join(format!("blyand-{feature}"));
    cargo_build_args(
        &root,
        "blyand",
        &["-p", "blyan-app", "--bin", "blyand", "--features", feature],
    )?;
    // A copy, not a link: the next build replaces `default`.
    let tmp = dest.with_extension("tmp");
    std::fs::copy(&default, &tmp)
        .with_context(|| format!("copying {} to {}", default.display(), tmp.display()))?;
    std::fs::rename(&tmp, &dest)?;
    build_blyand(&root)?;
    Ok(dest)
}

fn build_blyand(root: &Path) -> anyhow::Result<()> {
    cargo_build(root, "blyan-app", "blyand")
}

/// Runs `cargo build -p <package> --bin <bin>` in the workspace.
pub(crate) fn cargo_build(root: &Path, package: &str, bin: &str) -> anyhow::Result<()> {
    cargo_build_args(root, bin, &["-p", package, "--bin", bin])
}

/// Runs `cargo build <args>` in the workspace (`what` names it in messages).
fn cargo_build_args(root: &Path, what: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!(
        "blyan-tests: building {what} (cargo build {})...",
        args.join(" ")
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build").args(args).current_dir(root);
    // Cargo gives this test process the variables of *this* package (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, ...). Build scripts that declare `rerun-if-env-changed` on them
    // (ring does) would see them change and rebuild every time: start from a clean slate.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        let per_package = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CFG_",
            "CARGO_BIN_EXE_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&k.as_ref());
        if per_package {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .with_context(|| format!("running cargo build for {what}"))?;
    if !status.success() {
        bail!("cargo build {} failed: {status}", args.join(" "));
    }
    Ok(())
}

fn install_cometbft(root: &Path) -> anyhow::Result<()> {
    eprintln!("blyan-tests: installing cometbft (localnet/install.sh)...");
    let status = Command::new(root.join("localnet").join("install.sh"))
        .current_dir(root)
        .status()
        .context("running localnet/install.sh")?;
    if !status.success() {
        bail!("localnet/install.sh failed: {status}");
    }
    Ok(())
}

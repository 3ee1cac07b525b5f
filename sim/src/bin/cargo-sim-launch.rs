//! The `cargo sim` launcher (see `.cargo/config.toml`): a cargo alias cannot
//! set `RUSTFLAGS`, so the alias runs this tiny normal-flavour binary, which
//! runs `cargo run --release -p redsim-sim --bin redsim-sim -- <args>` with
//! `RUSTFLAGS="--cfg madsim"` and `CARGO_TARGET_DIR=<workspace>/target-sim`
//! (the simulation flavour in its own target dir, so the two flavours never
//! rebuild each other). Invariants: arguments are forwarded untouched and
//! the simulator's exit code is the launcher's (the process is replaced on
//! Unix), so `cargo sim ...` exits 2/3/4/101 exactly as `redsim-sim` does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // The workspace root is the parent of this crate's manifest dir.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.parent().unwrap_or(crate_dir).to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let target = std::env::var_os("REDSIM_SIM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target-sim"));
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !rustflags.contains("--cfg madsim") {
        if !rustflags.is_empty() {
            rustflags.push(' ');
        }
        rustflags.push_str("--cfg madsim");
    }
    let built = target.join("release").join("redsim-sim").exists();
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root).arg("run");
    if built {
        // Rebuilds are quick and their progress is noise; errors still show.
        cmd.arg("--quiet");
    } else {
        eprintln!(
            "cargo sim: building the simulator in {} (the first build takes a few minutes)",
            target.display()
        );
    }
    cmd.args(["--release", "-p", "redsim-sim", "--bin", "redsim-sim", "--"])
        .args(std::env::args_os().skip(1))
        .env("RUSTFLAGS", rustflags)
        .env("CARGO_TARGET_DIR", &target)
        // It would override RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        eprintln!("cargo sim: cannot run {}: {err}", cargo.to_string_lossy());
        std::process::exit(1);
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(st) => std::process::exit(st.code().unwrap_or(101)),
        Err(e) => {
            eprintln!("cargo sim: cannot run {}: {e}", cargo.to_string_lossy());
            std::process::exit(1);
        }
    }
}

//! Records the commit the recipes are built from (`POLYCLIP_COMMIT`), part of every stage's reuse key: a stage
//! trained by other code is retrained, not silently reused. Outside a git checkout it is `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=POLYCLIP_COMMIT={commit}");
    // Re-run when HEAD moves (only for paths that exist: a missing one would re-run every build).
    let git = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.git");
    for path in ["HEAD", "refs/heads", "packed-refs"] {
        let path = git.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

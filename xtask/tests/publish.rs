//! Publishing is one step away: every publishable crate of the workspace passes
//! `cargo publish --dry-run`, in dependency order (`--workspace` packages them in that order
//! and verifies each against the others' packaged versions, as crates.io would see them:
//! a path dependency without a version, a file outside a package, a missing description
//! or licence fails here).

use std::process::Command;

#[test]
fn every_publishable_crate_passes_cargo_publish_dry_run_in_dependency_order() {
    let root = cov_testkit::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "publish",
            "--workspace",
            "--dry-run",
            "--allow-dirty",
            "--target-dir",
        ])
        .arg(root.join("target/publish-check"));
    cov_testkit::clear_build_environment(&mut command);
    let output = command.output().expect("running cargo publish");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cargo publish --dry-run failed:\n{stderr}"
    );
    let packaged: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("Packaging "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let position = |name: &str| {
        packaged
            .iter()
            .position(|packaged| *packaged == name)
            .unwrap_or_else(|| panic!("{name} was not packaged: {packaged:?}\n{stderr}"))
    };
    for (dependency, dependent) in [
        ("cov-proto", "cov-transport"),
        ("cov-core", "cov-collector"),
        ("cov-trace", "cov-wire"),
        ("cov-wire", "cov-sdk"),
        ("cov-collector", "cov-sdk"),
        ("cov-report", "cov-cli"),
        ("cov-postgres", "cov-sdk"),
        ("cov-report", "cov-driver"),
        ("cov-driver", "cov-cli"),
    ] {
        assert!(
            position(dependency) < position(dependent),
            "{dependency} must be packaged before {dependent}: {packaged:?}"
        );
    }
    for unpublished in ["cov-testkit", "xtask", "demo-service", "rates-service"] {
        assert!(
            !packaged.contains(&unpublished),
            "{unpublished}: {packaged:?}"
        );
    }
}

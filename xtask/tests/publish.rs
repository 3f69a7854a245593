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
    // Packages and builds of an earlier run carry the same version, and cargo never rebuilds
    // a registry package of a version it built: it would verify against yesterday's code.
    let check_dir = root.join("target/publish-check");
    if check_dir.exists() {
        std::fs::remove_dir_all(&check_dir).expect("removing the earlier run's packages");
    }
    // Cargo also extracts the packaged crates into its home, under a temporary registry
    // of its own (`registry/src/-<hash>/`), and reuses them for the same version.
    remove_extracted_packages();
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

/// Removes the earlier runs' extracted copies of this workspace's packages from cargo's
/// home: only the temporary registries `cargo publish --dry-run` makes (their directory
/// names start with `-`), only crates of this workspace (`cov-*`).
fn remove_extracted_packages() {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo"))
        });
    let Some(sources) = cargo_home.map(|home| home.join("registry/src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return;
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for extracted in crates.flatten() {
            if extracted.file_name().to_string_lossy().starts_with("cov-") {
                std::fs::remove_dir_all(extracted.path())
                    .expect("removing an earlier run's extracted package");
            }
        }
    }
}

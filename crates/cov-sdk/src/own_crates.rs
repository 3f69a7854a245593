//! The SDK's own crates, left out of the application's coverage by what they are: each
//! crate's source directory, as cargo gave it when the crate was built
//! (`env!("CARGO_MANIFEST_DIR")`, exported as `SOURCE_DIR`). A checkout of this repository,
//! a path or git dependency and a vendored copy are all recognised, whatever their
//! directory names; a test checks that the list is cov-sdk's whole dependency closure among
//! the workspace's crates (`cargo metadata`), so a new crate of the SDK cannot be forgotten.

use std::path::{Path, PathBuf};

/// Every crate of the SDK a service links, with its source directory.
pub(crate) fn source_dirs() -> Vec<(&'static str, PathBuf)> {
    let this = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        ("cov-sdk", this.to_path_buf()),
        ("cov-core", PathBuf::from(cov_core::SOURCE_DIR)),
        ("cov-collector", PathBuf::from(cov_collector::SOURCE_DIR)),
        ("cov-proto", PathBuf::from(cov_proto::SOURCE_DIR)),
        ("cov-trace", PathBuf::from(cov_trace::SOURCE_DIR)),
        ("cov-wire", PathBuf::from(cov_wire::SOURCE_DIR)),
        ("cov-transport", PathBuf::from(cov_transport::SOURCE_DIR)),
        #[cfg(feature = "postgres")]
        ("cov-postgres", PathBuf::from(cov_postgres::SOURCE_DIR)),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// cov-sdk's normal (not dev, not build) dependencies among the workspace's crates,
    /// transitively, with cov-sdk itself: name → source directory, per `cargo metadata`.
    fn closure_per_cargo_metadata() -> BTreeMap<String, PathBuf> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let output = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest)
            .output()
            .expect("running cargo metadata");
        assert!(
            output.status.success(),
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
        let members: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .expect("workspace_members")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        let packages: BTreeMap<&str, (&str, PathBuf)> = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|package| {
                let manifest = Path::new(package["manifest_path"].as_str().expect("path"));
                (
                    package["id"].as_str().expect("id"),
                    (
                        package["name"].as_str().expect("name"),
                        manifest.parent().expect("a directory").to_path_buf(),
                    ),
                )
            })
            .collect();
        let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
            .as_array()
            .expect("resolve.nodes")
            .iter()
            .map(|node| (node["id"].as_str().expect("id"), node))
            .collect();
        let root = packages
            .iter()
            .find(|(id, (name, _))| *name == "cov-sdk" && members.contains(*id))
            .map(|(id, _)| *id)
            .expect("cov-sdk is a workspace member");
        let mut closure = BTreeMap::new();
        let mut pending = vec![root];
        while let Some(id) = pending.pop() {
            let (name, dir) = &packages[id];
            if closure.insert((*name).to_owned(), dir.clone()).is_some() {
                continue;
            }
            for dep in nodes[id]["deps"].as_array().expect("deps") {
                let normal = dep["dep_kinds"]
                    .as_array()
                    .expect("dep_kinds")
                    .iter()
                    .any(|kind| kind["kind"].is_null());
                let dep_id = dep["pkg"].as_str().expect("pkg");
                if normal && members.contains(dep_id) {
                    pending.push(dep_id);
                }
            }
        }
        closure
    }

    #[test]
    fn the_own_crates_are_cov_sdks_dependency_closure_among_the_workspace_crates() {
        let expected = closure_per_cargo_metadata();
        let listed: BTreeMap<String, PathBuf> = source_dirs()
            .into_iter()
            .map(|(name, dir)| (name.to_owned(), dir))
            .collect();
        assert_eq!(
            listed.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "add every crate cov-sdk links to own_crates::source_dirs (with its SOURCE_DIR)"
        );
        for (name, dir) in &expected {
            assert_eq!(
                listed[name].canonicalize().ok(),
                dir.canonicalize().ok(),
                "{name}'s source directory"
            );
        }
    }
}

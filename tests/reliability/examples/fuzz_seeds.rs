//! Writes the fuzzers' seed inputs into the directory given as the only argument, one
//! subdirectory per target (`cargo xtask fuzz` runs this first).

use cov_reliability::seeds::{Material, TARGETS};

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: fuzz_seeds DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let material = Material::from_workload();
    for target in TARGETS {
        let target_dir = dir.join(target);
        std::fs::create_dir_all(&target_dir)
            .unwrap_or_else(|error| panic!("creating {}: {error}", target_dir.display()));
        for (index, seed) in material.seeds(target).iter().enumerate() {
            let path = target_dir.join(format!("seed-{index}"));
            std::fs::write(&path, seed)
                .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        }
    }
    println!("fuzz seeds written to {}", dir.display());
}

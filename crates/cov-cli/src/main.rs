//! The `drift-cov` command; everything is in the library ([`cov_cli::main`]).

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    cov_cli::main()
}

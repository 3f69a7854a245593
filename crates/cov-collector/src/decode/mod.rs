//! The decoder stages, one module per input: public with the `decode` feature, for the fuzz
//! targets, the benches and the robustness tests that check each stage on its own; they
//! follow LLVM's formats and change with them. A service calls
//! [`Collector`](crate::Collector), [`offline`](crate::offline), [`llvm_lcov`](crate::llvm_lcov) and
//! the [`Engine`](crate::Engine); the types those take ([`CoverageMapping`](mapping::CoverageMapping),
//! [`RawProfile`](profraw::RawProfile), the errors) are re-exported at the crate root.
//!
//! - [`sections`] reads `__llvm_covmap`, `__llvm_covfun` and `__llvm_prf_names` from an
//!   executable with the `object` crate;
//! - [`covmap`], [`covfun`] and [`names`] decode those three sections;
//! - [`mapping`] applies llvm-cov's reader rules to them, giving one
//!   [`CoverageMapping`](mapping::CoverageMapping);
//! - [`profraw`] decodes raw profiles (versions 9 to 11, from one table of layouts) and
//!   data records, from a file or from live memory.

pub mod covfun;
pub mod covmap;
pub mod mapping;
pub mod names;
pub mod profraw;
pub mod sections;

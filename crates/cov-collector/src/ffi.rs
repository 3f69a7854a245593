//! The binding to LLVM's profile runtime (compiler-rt `profile`): the only module with
//! `unsafe`.
//!
//! rustc links the profile runtime into a program only when it is built with
//! `-C instrument-coverage`, and the runtime's symbols are hidden, so neither a plain
//! `extern "C"` declaration (a link error in uninstrumented builds) nor `dlsym` (never finds
//! them) works. Instead a small `global_asm!` block declares each symbol `.weak` and stores
//! its address in a pointer table: the linker fills in the address when the runtime is
//! linked and 0 when it is not. Undefined weak references never pull an archive member in,
//! so this costs nothing in uninstrumented programs and works on stable Rust with GNU ld,
//! rust-lld and LTO. The weak references are `.hidden` too, so an absent symbol resolves
//! to 0 at static link time and needs no dynamic relocation.
//!
//! Supported: x86_64 and aarch64 Linux (ELF). On every other target the module still
//! compiles and [`runtime`] reports [`RuntimeError::UnsupportedPlatform`].
//!
//! The safe surface is [`ProfileRuntime`]: the three data sections of the running program as
//! `'static` slices (the counters as [`AtomicU64`], since instrumented code increments them
//! concurrently) plus the two runtime functions this crate calls.

use std::sync::atomic::AtomicU64;

/// Why the profile runtime cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RuntimeError {
    /// This target has no weak-symbol binding (only x86_64 and aarch64 Linux do).
    UnsupportedPlatform,
    /// The profile runtime is not linked: the program was not built with
    /// `-C instrument-coverage`.
    NotInstrumented,
    /// The runtime is linked but the bounds it reports for a section are inconsistent.
    Malformed {
        /// The section, e.g. `__llvm_prf_cnts`.
        section: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The running program's profile data, borrowed from the linked runtime for the whole life
/// of the process.
#[derive(Clone, Copy)]
pub(crate) struct ProfileRuntime {
    /// `__llvm_prf_data`: one record per instrumented function.
    pub(crate) data: &'static [u8],
    /// Address of the first byte of [`ProfileRuntime::data`]; data records locate their
    /// counters relative to their own address.
    pub(crate) data_address: u64,
    /// `__llvm_prf_cnts`: every counter of the program, incremented concurrently by
    /// instrumented code. Only ever read with atomic loads.
    pub(crate) counters: &'static [AtomicU64],
    /// Address of the first counter.
    pub(crate) counters_address: u64,
    /// `__llvm_prf_names`: the (possibly zlib-compressed) function names.
    pub(crate) names: &'static [u8],
    /// What `__llvm_profile_get_version()` returned: the raw profile version in the low 32
    /// bits, variant flags above.
    pub(crate) version: u64,
    set_dumped: unsafe extern "C" fn(),
}

impl std::fmt::Debug for ProfileRuntime {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ProfileRuntime")
            .field("data_bytes", &self.data.len())
            .field("n_counters", &self.counters.len())
            .field("names_bytes", &self.names.len())
            .field("version", &format_args!("{:#x}", self.version))
            .finish()
    }
}

impl ProfileRuntime {
    /// Marks the profile as already written, so the runtime's at-exit handler does not
    /// write `default_*.profraw`.
    pub(crate) fn set_dumped(&self) {
        // SAFETY: `set_dumped` is `__llvm_profile_set_dumped`, `void(void)` in compiler-rt;
        // it only sets a flag in the runtime and is safe to call at any time, from any thread.
        unsafe { (self.set_dumped)() }
    }
}

/// Whether the profile runtime is linked into this program (it was built with
/// `-C instrument-coverage`) on a supported platform.
pub(crate) fn is_linked() -> bool {
    runtime().is_ok()
}

/// The running program's profile runtime, or why there is none.
pub(crate) fn runtime() -> Result<ProfileRuntime, RuntimeError> {
    // SAFETY: `weak::symbols` returns the linker-resolved addresses of the runtime's own
    // symbols (or null), in the documented order, with the bound functions already called.
    unsafe { runtime_from(weak::symbols()) }
}

/// The profile runtime described by a symbol table in [`weak::symbols`]'s layout.
///
/// # Safety
///
/// Every non-null entry must be what [`weak::symbols`] documents for its position: the
/// section bounds of this process's profile data and the addresses of the runtime's
/// functions. `None` (unsupported platform) and tables with a null entry are always safe.
unsafe fn runtime_from(
    symbols: Option<[*const u8; weak::N_SYMBOLS]>,
) -> Result<ProfileRuntime, RuntimeError> {
    let symbols = symbols.ok_or(RuntimeError::UnsupportedPlatform)?;
    let [
        begin_data,
        end_data,
        begin_counters,
        end_counters,
        begin_names,
        end_names,
        get_version,
        set_dumped,
    ] = symbols;
    if symbols.iter().any(|address| address.is_null()) {
        return Err(RuntimeError::NotInstrumented);
    }
    let data_len = section_len(begin_data, end_data, 8, "__llvm_prf_data")?;
    let names_len = section_len(begin_names, end_names, 1, "__llvm_prf_names")?;
    let counters_len = section_len(begin_counters, end_counters, 8, "__llvm_prf_cnts")?;
    if !counters_len.is_multiple_of(8) {
        return Err(RuntimeError::Malformed {
            section: "__llvm_prf_cnts",
            problem: "is not a whole number of 64-bit counters",
        });
    }
    // SAFETY: per this function's contract, each `begin..end` pair here and below is the
    // linker-provided `__start_`/`__stop_` bounds of one of this executable's loaded
    // sections (returned by the runtime's `__llvm_profile_begin_*`/`end_*`), checked above
    // to be ordered and aligned; the sections are mapped for the whole life of the process.
    // `__llvm_prf_data` is never written after relocation (rustc uses no value profiling)
    // and `__llvm_prf_names` is read-only, so shared byte slices are sound.
    let data = unsafe { std::slice::from_raw_parts(begin_data, data_len) };
    // SAFETY: as above.
    let names = unsafe { std::slice::from_raw_parts(begin_names, names_len) };
    // SAFETY: as above, for `__llvm_prf_cnts`: writable, 8-aligned and a whole number of
    // u64 counters long. `AtomicU64` has the size and alignment of `u64`, and an
    // `AtomicU64` slice may alias memory that other code mutates: instrumented code
    // increments these counters with atomic read-modify-write instructions (rustc emits
    // `lock inc` on x86_64) and we only ever load them atomically, so no access is a
    // non-atomic race on our side.
    let counters =
        unsafe { std::slice::from_raw_parts(begin_counters.cast::<AtomicU64>(), counters_len / 8) };
    // SAFETY: `get_version` is the address of `__llvm_profile_get_version`, declared in
    // compiler-rt as `uint64_t __llvm_profile_get_version(void)`, which matches this type.
    let get_version: unsafe extern "C" fn() -> u64 = unsafe { std::mem::transmute(get_version) };
    // SAFETY: `set_dumped` is the address of `__llvm_profile_set_dumped`, declared in
    // compiler-rt as `void __llvm_profile_set_dumped(void)`, which matches this type.
    let set_dumped: unsafe extern "C" fn() = unsafe { std::mem::transmute(set_dumped) };
    // SAFETY: `__llvm_profile_get_version` takes no arguments and returns a constant.
    let version = unsafe { get_version() };
    Ok(ProfileRuntime {
        data,
        data_address: begin_data as u64,
        counters,
        counters_address: begin_counters as u64,
        names,
        version,
        set_dumped,
    })
}

/// The length in bytes between two section bounds, checked to be ordered and aligned.
fn section_len(
    begin: *const u8,
    end: *const u8,
    alignment: usize,
    section: &'static str,
) -> Result<usize, RuntimeError> {
    let (begin_address, end_address) = (begin as usize, end as usize);
    if end_address < begin_address {
        return Err(RuntimeError::Malformed {
            section,
            problem: "ends before it starts",
        });
    }
    if !begin_address.is_multiple_of(alignment) {
        return Err(RuntimeError::Malformed {
            section,
            problem: "is misaligned",
        });
    }
    Ok(end_address - begin_address)
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod weak {
    //! The weak references, emitted as assembly so that stable Rust can declare them.

    /// Number of entries in the table, in the order of [`symbols`]'s result.
    pub(super) const N_SYMBOLS: usize = 8;

    // The table lives in `.data.rel.ro` (writable until relocation, then read-only): the
    // addresses are link-time constants or 0. `.8byte` is understood by the assemblers of
    // both architectures. The table symbol is hidden and carries the crate version, so it
    // never escapes the executable or clashes with another copy of this crate.
    core::arch::global_asm!(
        ".weak __llvm_profile_begin_data",
        ".hidden __llvm_profile_begin_data",
        ".weak __llvm_profile_end_data",
        ".hidden __llvm_profile_end_data",
        ".weak __llvm_profile_begin_counters",
        ".hidden __llvm_profile_begin_counters",
        ".weak __llvm_profile_end_counters",
        ".hidden __llvm_profile_end_counters",
        ".weak __llvm_profile_begin_names",
        ".hidden __llvm_profile_begin_names",
        ".weak __llvm_profile_end_names",
        ".hidden __llvm_profile_end_names",
        ".weak __llvm_profile_get_version",
        ".hidden __llvm_profile_get_version",
        ".weak __llvm_profile_set_dumped",
        ".hidden __llvm_profile_set_dumped",
        ".pushsection .data.rel.ro.cov_collector_profile_runtime_symbols,\"aw\"",
        ".p2align 3",
        ".globl cov_collector_0_1_profile_runtime_symbols",
        ".hidden cov_collector_0_1_profile_runtime_symbols",
        "cov_collector_0_1_profile_runtime_symbols:",
        ".8byte __llvm_profile_begin_data",
        ".8byte __llvm_profile_end_data",
        ".8byte __llvm_profile_begin_counters",
        ".8byte __llvm_profile_end_counters",
        ".8byte __llvm_profile_begin_names",
        ".8byte __llvm_profile_end_names",
        ".8byte __llvm_profile_get_version",
        ".8byte __llvm_profile_set_dumped",
        ".popsection",
    );

    unsafe extern "C" {
        /// The pointer table above; an entry is null when its symbol is not linked.
        static cov_collector_0_1_profile_runtime_symbols: [*const u8; N_SYMBOLS];
    }

    /// The addresses of `__llvm_profile_begin_data`, `end_data`, `begin_counters`,
    /// `end_counters`, `begin_names`, `end_names`, `get_version` and `set_dumped`, in this
    /// order; null where the symbol is not linked.
    ///
    /// The `begin`/`end` entries are functions returning the section bounds; they are
    /// called here, so the result holds the bounds themselves.
    pub(super) fn symbols() -> Option<[*const u8; N_SYMBOLS]> {
        // SAFETY: the table is defined by the `global_asm!` above with exactly `N_SYMBOLS`
        // 8-byte, 8-aligned entries and is never written after relocation.
        let mut table = unsafe { cov_collector_0_1_profile_runtime_symbols };
        for entry in &mut table[..6] {
            if !entry.is_null() {
                // SAFETY: a non-null entry among the first six is one of compiler-rt's
                // `const char *__llvm_profile_{begin,end}_{data,counters,names}(void)` bound
                // functions (declared returning pointers of other types, all thin pointers
                // with the same ABI), which take no arguments and have no side effects.
                let bound: unsafe extern "C" fn() -> *const u8 =
                    unsafe { std::mem::transmute(*entry) };
                // SAFETY: see above; calling it only returns a linker-provided address.
                *entry = unsafe { bound() };
            }
        }
        Some(table)
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod weak {
    //! No binding on this target.

    /// Number of entries of the table on supported targets.
    pub(super) const N_SYMBOLS: usize = 8;

    /// Always `None`: this target is unsupported.
    pub(super) fn symbols() -> Option<[*const u8; N_SYMBOLS]> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_table_means_an_unsupported_platform() {
        // SAFETY: `None` is always safe: nothing is dereferenced.
        let result = unsafe { runtime_from(None) };
        assert_eq!(result.err(), Some(RuntimeError::UnsupportedPlatform));
    }

    #[test]
    fn null_symbols_mean_not_instrumented() {
        let mut table = [std::ptr::null::<u8>(); weak::N_SYMBOLS];
        // SAFETY: a table with a null entry is always safe: nothing is dereferenced.
        let result = unsafe { runtime_from(Some(table)) };
        assert_eq!(result.err(), Some(RuntimeError::NotInstrumented));
        // One missing symbol is enough to refuse the rest.
        let byte = 0u8;
        table[..weak::N_SYMBOLS - 1].fill(&raw const byte);
        // SAFETY: the last entry is still null, so nothing is dereferenced.
        let result = unsafe { runtime_from(Some(table)) };
        assert_eq!(result.err(), Some(RuntimeError::NotInstrumented));
    }

    #[test]
    fn section_len_rejects_reversed_and_misaligned_bounds() {
        let bytes = [0u64; 4];
        let range = bytes.as_ptr_range();
        let (begin, end) = (range.start.cast::<u8>(), range.end.cast::<u8>());
        assert_eq!(section_len(begin, end, 8, "__llvm_prf_data"), Ok(32));
        assert_eq!(
            section_len(end, begin, 8, "__llvm_prf_data"),
            Err(RuntimeError::Malformed {
                section: "__llvm_prf_data",
                problem: "ends before it starts"
            })
        );
        assert_eq!(
            section_len(begin.wrapping_add(1), end, 8, "__llvm_prf_cnts"),
            Err(RuntimeError::Malformed {
                section: "__llvm_prf_cnts",
                problem: "is misaligned"
            })
        );
    }
}

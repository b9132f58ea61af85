//! Links glibc targets' unwinder (libgcc_eh) into the binary instead of loading
//! libgcc_s.so.1 at start-up. Loading it costs a mapping, its relocations and its
//! constructor, which reads a dozen CPUID leaves: in a VM each one traps to the hypervisor
//! (about 5 µs), and one program's whole listing takes about 1.5 ms (docs/benchmarks.md).
//! Whole-archive, because std's references to the unwinder come later on the link line:
//! the shared library then satisfies nothing and `--as-needed` drops it.

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    // A static build links libgcc_eh already.
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && !static_crt
    {
        println!("cargo::rustc-link-lib=static:+whole-archive=gcc_eh");
    }
    println!("cargo::rerun-if-changed=crates/cli/build.rs");
}

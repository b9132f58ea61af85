
mod sysroot;

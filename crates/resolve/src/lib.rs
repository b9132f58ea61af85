//! Map the names a program needs to files in a root, as glibc's loader does.

pub mod cache;

//! What a closure pulls in, object by object: the package that ships each (the root's dpkg
//! database, or a `.note.package` note) and its licence, how each is hardened, what is risky
//! in its search paths, which dependencies it never binds to, which symbols nothing provides,
//! and the newest library versions it needs. Read from files alone: nothing runs, and a
//! sysroot of another architecture audits as the host does.

pub mod packages;

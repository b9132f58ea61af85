//! SIGINT and SIGTERM while an image is written: the writers stop at their next chunk and
//! remove what they wrote; depclose exits 128 + the signal.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::error::Error;

/// Set by SIGINT or SIGTERM; the writers check it (`WriteOptions::cancel`).
pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The signal that set [`INTERRUPTED`], for the exit code.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// How long the writers get to clean up before the handler does it for them.
const GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// The exit code for the signal that interrupted this run, if one did.
pub(crate) fn exit_code() -> Option<u8> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(u8::try_from(128 + signal).unwrap_or(u8::MAX)),
    }
}

/// Stop here if a signal asked to.
pub(crate) fn check() -> Result<(), Error> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

/// On SIGINT or SIGTERM: ask the writers to stop. Should the process not be done within
/// [`GRACE`] (a blocked write), remove this process's temporary files in `dirs` (their names
/// carry its pid: `depclose_pack::temp_prefix`) and exit.
pub(crate) fn clean_up_on_signal(dirs: Vec<PathBuf>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        let Some(signal) = signals.forever().next() else {
            return;
        };
        SIGNAL.store(signal, Ordering::SeqCst);
        INTERRUPTED.store(true, Ordering::SeqCst);
        std::thread::sleep(GRACE);
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                if depclose_pack::is_own_temp(&e.file_name().to_string_lossy()) {
                    let path = e.path();
                    let _ = if e.file_type().is_ok_and(|t| t.is_dir()) {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        }
        std::process::exit(128 + signal);
    });
}

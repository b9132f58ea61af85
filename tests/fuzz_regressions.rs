//! The fuzz targets' committed inputs (`fuzz/regressions/TARGET/`: each crash the fuzzer
//! found, minimized, and a few inputs of its corpus), replayed on stable through the same
//! code the targets run (`fuzz/targets.rs`): each ends with a result or an error, within a
//! time bound, and no panic.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

#[path = "../fuzz/targets.rs"]
mod targets;

/// Far above what any input takes (the slowest unpack a few milliseconds in release), low
/// enough that a hang fails the test rather than stalling it.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn fuzz_regressions_end_within_bounds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for (name, target) in targets::TARGETS {
        let mut inputs: Vec<_> = std::fs::read_dir(dir.join(name))
            .unwrap_or_else(|e| panic!("fuzz/regressions/{name}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "fuzz/regressions/{name} is empty");
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            // On a thread, so that a hang is reported as one.
            let (tx, rx) = mpsc::channel();
            let target = *target;
            std::thread::spawn(move || {
                let _ = tx.send(target(&data));
            });
            match rx.recv_timeout(BOUND) {
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{}: no answer within {BOUND:?}", input.display())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{}: the target panicked", input.display())
                }
            }
        }
    }
}

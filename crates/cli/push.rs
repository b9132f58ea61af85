//! `--push REF`: the image written, then pushed to its registry (`depclose_pack::push`).

use std::path::Path;

use depclose_pack::{ImageArchive, ImageConfig, PushOptions, ReferrersVia, Tree, WriteOptions};

use crate::config::PushSpec;
use crate::error::Error;
use crate::interrupt;

/// Pushes `written` (the `--emit FILE` just written) or, without one, the image written to
/// a temporary file in the temp directory (named by `depclose_pack::temp_prefix`, so an
/// interrupt removes it; dropped when the push is done).
pub(crate) fn run(
    spec: &PushSpec,
    written: Option<&Path>,
    tree: &Tree,
    config: &ImageConfig,
    options: &WriteOptions<'_>,
) -> Result<(), Error> {
    let temp_dir = std::env::temp_dir();
    let temp;
    let path = match written {
        Some(path) => path,
        None => {
            let mut file =
                depclose_pack::temp_file_in(&temp_dir, "push").map_err(|source| Error::Io {
                    path: temp_dir.clone(),
                    source,
                })?;
            tree.write_image_to(config, file.as_file_mut(), &temp_dir, options)
                .map_err(|e| match e {
                    depclose_pack::Error::Write { source } => Error::Io {
                        path: file.path().to_path_buf(),
                        source,
                    },
                    other => other.into(),
                })?;
            temp = file;
            temp.path()
        }
    };
    interrupt::check()?;
    let archive = ImageArchive::open(path)?;
    let push_options = PushOptions {
        insecure: spec.insecure,
        docker_config: spec.docker_config.as_deref(),
        progress: Some(&progress),
        cancel: Some(&interrupt::INTERRUPTED),
    };
    let summary = depclose_pack::push(&archive, &spec.reference, &push_options)?;
    for r in &summary.referrers {
        let via = match &r.via {
            ReferrersVia::Api => "the registry's referrers API".to_owned(),
            ReferrersVia::FallbackTag(tag) => format!("tag {tag}"),
        };
        eprintln!(
            "depclose: pushed referrer {} ({}) of {}, found through {via}",
            r.digest, r.artifact_type, r.subject
        );
    }
    eprintln!(
        "depclose: pushed {}: {} ({} blobs uploaded, {} already there)",
        spec.reference, summary.manifest_digest, summary.blobs_uploaded, summary.blobs_skipped
    );
    Ok(())
}

fn progress(done: u64, total: u64) {
    crate::image::show_progress("pushing", done, total);
}

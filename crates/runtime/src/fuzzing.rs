//! Entry points for the fuzz targets (`fuzz/`) and their replay in the test suite: the
//! configuration readers the recipes use, each fed files held in memory. Not a stable
//! interface.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::files::MemFiles;
use crate::glibc::GconvModules;
use crate::{ConfigError, apache, nginx};

/// `input` split at NUL bytes: the first part is `main`, part `i` is `dir/i.conf`, so that
/// one input can hold a configuration and the files its includes name.
fn files(input: &[u8], main: &str, dir: &str) -> MemFiles {
    let mut files = BTreeMap::new();
    for (i, part) in input.split(|&b| b == 0).enumerate() {
        let path = if i == 0 {
            PathBuf::from(main)
        } else {
            Path::new(dir).join(format!("{i}.conf"))
        };
        files.insert(path, part.to_vec());
    }
    MemFiles(files)
}

/// httpd's configuration read from `input` (split at NUL bytes: the main file is
/// `/srv/httpd/httpd.conf`, the others `/srv/httpd/conf.d/N.conf`), and what it uses.
pub fn apache_config(input: &[u8]) -> Result<apache::Uses, ConfigError> {
    let files = files(input, "/srv/httpd/httpd.conf", "/srv/httpd/conf.d");
    let env = BTreeMap::from([("APACHE_RUN_DIR".to_owned(), "/run/apache2".to_owned())]);
    let mut options = apache::Options::new(apache::Defaults::upstream(), env);
    options.server_root = PathBuf::from("/srv/httpd");
    options.config_file = PathBuf::from("httpd.conf");
    Ok(apache::read(&files, &options)?.uses())
}

/// nginx's configuration read from `input` (split at NUL bytes: the main file is
/// `/etc/nginx/nginx.conf`, the others `/etc/nginx/conf.d/N.conf`), and what it uses.
pub fn nginx_config(input: &[u8]) -> Result<nginx::Uses, ConfigError> {
    let files = files(input, "/etc/nginx/nginx.conf", "/etc/nginx/conf.d");
    let mut options = nginx::Options::new(nginx::Defaults::upstream());
    options.prefix = PathBuf::from("/opt/nginx");
    options.conf_file = PathBuf::from("/etc/nginx/nginx.conf");
    Ok(nginx::read(&files, &options)?.uses())
}

/// The `gconv-modules` in `text` read as glibc's own, and the module files of `charsets`.
pub fn gconv_modules(text: &str, charsets: &[&str]) -> Vec<PathBuf> {
    let mut modules = GconvModules::default();
    modules.add(
        Path::new("/usr/lib/x86_64-linux-gnu/gconv/gconv-modules"),
        text,
    );
    charsets
        .iter()
        .flat_map(|c| modules.for_charset(c))
        .map(|m| m.file.clone())
        .collect()
}

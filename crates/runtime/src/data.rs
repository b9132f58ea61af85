//! Data a program may read, added only when the user asks for it by name (`--with`): the
//! time zone database and the locales, whose directories are compiled into glibc.

use std::path::{Path, PathBuf};

use depclose_resolve::Closure;

use crate::recipe::{Addition, Context, Recipe, Want};
use crate::{CStrings, Error, Evidence, Reason};

/// What `--with` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Data {
    /// The time zone database (`TZDIR`, `/usr/share/zoneinfo`), for `TZ=Area/City`.
    Tzdata,
    /// The compiled locales (`/usr/lib/locale`: `locale-archive`, else the `C.utf8`
    /// directory).
    Locales,
}

impl Data {
    /// Every kind, as `--with` spells them.
    pub const ALL: [(&'static str, Data); 2] =
        [("tzdata", Data::Tzdata), ("locales", Data::Locales)];

    pub fn name(self) -> &'static str {
        Data::ALL
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("", |(n, _)| n)
    }

    pub fn from_name(name: &str) -> Option<Data> {
        Data::ALL.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
    }

    /// Its directory among libc's strings: `TZDIR` itself, and the locale directory as the
    /// parent of the archive's path (`/usr/share/locale`, the message catalogues, comes
    /// first and is another thing).
    fn compiled_dir(self, strings: &CStrings) -> Option<PathBuf> {
        let absolute = strings.iter().filter(|s| s.starts_with('/'));
        match self {
            Data::Tzdata => absolute
                .into_iter()
                .find(|s| s.ends_with("/zoneinfo"))
                .map(PathBuf::from),
            Data::Locales => absolute
                .into_iter()
                .find_map(|s| s.strip_suffix(&format!("/{LOCALE_ARCHIVE}")))
                .map(PathBuf::from),
        }
    }
}

/// The compiled locale archive in glibc's locale directory (`locale/loadarchive.c`).
const LOCALE_ARCHIVE: &str = "locale-archive";
/// The locale a C.UTF-8 program falls back on without an archive.
const C_UTF8: &str = "C.utf8";

#[derive(Debug)]
pub(crate) struct WithData;

impl Recipe for WithData {
    fn name(&self) -> &'static str {
        "data"
    }

    fn summary(&self) -> &'static str {
        "glibc programs, with --with tzdata,locales: the time zone database and the locales (locale-archive, else C.utf8) from the directories compiled into libc"
    }

    fn on_request(&self) -> bool {
        true
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        if cx.options.with.is_empty() {
            return Ok(Vec::new());
        }
        let Some(libc) = crate::glibc::glibc_libc(closure) else {
            return Ok(Vec::new());
        };
        let libc_real = &closure.objects[libc].real;
        let strings = cx.strings(libc_real);
        let mut out = Vec::new();
        for &data in &cx.options.with {
            let Some(dir) = data.compiled_dir(&strings) else {
                continue;
            };
            let reason = Reason {
                recipe: self.name(),
                evidence: Evidence::Option(format!(
                    "--with {} ({} in {})",
                    data.name(),
                    dir.display(),
                    libc_real.display()
                )),
            };
            let want = match data {
                Data::Tzdata => Some(tree(&dir)),
                Data::Locales => {
                    let archive = dir.join(LOCALE_ARCHIVE);
                    if cx.exists(&archive) {
                        Some(Want::File(archive))
                    } else if cx.is_dir(&dir.join(C_UTF8)) {
                        Some(tree(&dir.join(C_UTF8)))
                    } else {
                        None
                    }
                }
            };
            out.extend(want.map(|want| Addition { want, reason }));
        }
        Ok(out)
    }
}

fn tree(path: &Path) -> Want {
    Want::Tree {
        path: path.to_path_buf(),
        except: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_directory_is_the_archives_not_the_catalogues() {
        let strings = CStrings::of(
            b"/usr/share/locale\0/usr/share/zoneinfo\0/usr/lib/locale/locale-archive\0",
        );
        assert_eq!(
            Data::Locales.compiled_dir(&strings),
            Some(PathBuf::from("/usr/lib/locale"))
        );
        assert_eq!(
            Data::Tzdata.compiled_dir(&strings),
            Some(PathBuf::from("/usr/share/zoneinfo"))
        );
    }
}

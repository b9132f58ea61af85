//! Python: the standard library of the interpreter's version, with its extension modules.

use std::path::{Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::Closure;

use crate::recipe::{Addition, Context, Recipe, Want, module_tree, shared_objects_under};
use crate::{Error, Evidence, Reason};

/// Python finds its prefix by this file under `lib/pythonX.Y` (`Modules/getpath.py`,
/// `STDLIB_LANDMARKS`).
const LANDMARK: &str = "os.py";
/// A virtual environment's configuration (PEP 405).
const PYVENV: &str = "pyvenv.cfg";
/// The directories of installed packages inside the standard library's.
const PACKAGE_DIRS: [&str; 2] = ["site-packages", "dist-packages"];
/// Debian's directories of distribution packages (`site.py` with Debian's patch).
const DIST_PACKAGES: [&str; 2] = [
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python{}/dist-packages",
];
/// Left out of the standard library: the test suite, IDLE, Tk and its demos, and what only
/// building extensions needs.
const LEFT_OUT: [&str; 5] = ["test", "idlelib", "tkinter", "turtledemo", "config-"];

#[derive(Debug)]
pub(crate) struct Python;

/// `3.11` for `python3.11` or `libpython3.11.so.1.0`.
fn version(file_name: &str) -> Option<String> {
    let rest = file_name
        .strip_prefix("libpython")
        .or_else(|| file_name.strip_prefix("python"))?;
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v = v.trim_end_matches('.');
    (v.contains('.') && v.starts_with('3')).then(|| v.to_owned())
}

impl Recipe for Python {
    fn name(&self) -> &'static str {
        "python"
    }

    fn summary(&self) -> &'static str {
        "python3.X or libpython3.X: the standard library of that version under its prefix (found by the landmark os.py) with every extension module in it analysed; the test suite, IDLE and tkinter left out; with --python-packages the installed packages (site-packages, dist-packages) too; a virtual environment's pyvenv.cfg and site-packages"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let Some((index, version)) = closure.objects.iter().enumerate().find_map(|(i, o)| {
            let name = o.real.file_name()?.to_str()?;
            version(name).map(|v| (i, v))
        }) else {
            return Ok(Vec::new());
        };
        let object = &closure.objects[index];
        // The prefix is the directory above the program's (`/usr` for `/usr/bin/python3.11`);
        // an embedding program's libpython carries the usual prefix.
        let prefix = object
            .real
            .parent()
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty() && index == 0)
            .unwrap_or(Path::new("/usr"));
        let stdlib = prefix.join(format!("lib/python{version}"));
        if !cx.exists(&stdlib.join(LANDMARK)) {
            return Ok(Vec::new());
        }
        let reason = Reason {
            recipe: self.name(),
            evidence: Evidence::Rule(
                "Python imports its standard library from PREFIX/lib/pythonX.Y, found by the landmark os.py (Modules/getpath.py); its test suite, IDLE, tkinter, turtledemo and config-* are left out",
            ),
        };
        let except: Vec<PathBuf> = cx
            .list_dir(&stdlib)
            .into_iter()
            .filter(|n| {
                LEFT_OUT
                    .iter()
                    .any(|l| n == l || (l.ends_with('-') && n.starts_with(l)))
                    // Installed packages come with --python-packages only.
                    || (!cx.options.python_packages && PACKAGE_DIRS.contains(&n.as_str()))
            })
            .map(|n| stdlib.join(name::to_path(&n)))
            .collect();
        // Every extension module the tree holds (`lib-dynload`, and packages' own), so that
        // their libraries join.
        let dynload: Vec<Addition> = shared_objects_under(cx, &stdlib, index, &reason)
            .into_iter()
            .filter(|a| match &a.want {
                Want::Load { name, .. } => {
                    !except.iter().any(|e| name::to_path(name).starts_with(e))
                }
                _ => true,
            })
            .collect();
        let mut out = vec![Addition {
            want: Want::Tree {
                path: stdlib,
                except,
            },
            reason,
        }];
        out.extend(dynload);
        // A virtual environment: `pyvenv.cfg` beside the program or one directory up
        // (`Modules/getpath.py`), whose own site-packages the program imports from.
        let program = name::to_path(&object.path);
        let exe_dir = program.parent();
        let venv = [exe_dir, exe_dir.and_then(Path::parent)]
            .into_iter()
            .flatten()
            .find(|d| index == 0 && cx.exists(&d.join(PYVENV)));
        if let Some(venv) = venv {
            let reason = Reason {
                recipe: self.name(),
                evidence: Evidence::Rule(
                    "a virtual environment's pyvenv.cfg beside its program points Python at the environment's site-packages (Modules/getpath.py)",
                ),
            };
            out.push(Addition {
                want: Want::File(venv.join(PYVENV)),
                reason: reason.clone(),
            });
            let site = venv.join(format!("lib/python{version}/site-packages"));
            if cx.is_dir(&site) {
                out.extend(module_tree(cx, site, index, reason));
            }
        }
        if cx.options.python_packages {
            for dir in DIST_PACKAGES.map(|d| PathBuf::from(d.replace("{}", &version))) {
                if !cx.is_dir(&dir) {
                    continue;
                }
                let reason = Reason {
                    recipe: self.name(),
                    evidence: Evidence::Option(format!("--python-packages ({})", dir.display())),
                };
                out.extend(module_tree(cx, dir, index, reason));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_the_file_name() {
        assert_eq!(version("python3.11").as_deref(), Some("3.11"));
        assert_eq!(version("libpython3.11.so.1.0").as_deref(), Some("3.11"));
        assert_eq!(version("python3"), None);
        assert_eq!(version("python-config"), None);
    }
}

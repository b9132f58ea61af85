//! Perl: the `@INC` directories compiled into the interpreter, with their XS modules.

use std::path::PathBuf;

use depclose_resolve::Closure;

use crate::recipe::{Addition, Context, Recipe, module_tree};
use crate::{Error, Evidence, Reason};

#[derive(Debug)]
pub(crate) struct Perl;

impl Recipe for Perl {
    fn name(&self) -> &'static str {
        "perl"
    }

    fn summary(&self) -> &'static str {
        "perl or libperl: the @INC directories compiled into it that exist in the root, with their XS modules (auto/**.so) analysed"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let Some(perl) = closure.objects.iter().position(|o| {
            o.real
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| {
                    n == "perl" || n.starts_with("perl5.") || n.starts_with("libperl.so")
                })
        }) else {
            return Ok(Vec::new());
        };
        let real = &closure.objects[perl].real;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for s in cx.strings(real).iter() {
            let dir = PathBuf::from(s.trim_end_matches('/'));
            let plausible = s.starts_with('/')
                && s.contains("perl")
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
            if plausible && !dirs.contains(&dir) && cx.is_dir(&dir) {
                dirs.push(dir);
            }
        }
        let mut out = Vec::new();
        for dir in dirs {
            let reason = Reason {
                recipe: self.name(),
                evidence: Evidence::Compiled {
                    file: real.clone(),
                    value: dir.display().to_string(),
                },
            };
            out.extend(module_tree(cx, dir, perl, reason));
        }
        Ok(out)
    }
}

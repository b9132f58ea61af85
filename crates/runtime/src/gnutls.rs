//! GnuTLS: the system trust file and configuration compiled into the library.

use std::path::PathBuf;

use depclose_resolve::Closure;

use crate::recipe::{Addition, Context, Recipe, Want};
use crate::{Error, Evidence, Reason};

#[derive(Debug)]
pub(crate) struct GnuTls;

impl Recipe for GnuTls {
    fn name(&self) -> &'static str {
        "gnutls"
    }

    fn summary(&self) -> &'static str {
        "libgnutls.so.30: the system trust file (--with-default-trust-store-file, read from the library) unless --no-ca-certificates, and its /etc/gnutls/config"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let Some(o) = closure
            .objects
            .iter()
            .find(|o| o.elf.soname.as_deref() == Some("libgnutls.so.30"))
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in cx.strings(&o.real).iter() {
            let trust = s.ends_with(".crt") || s.ends_with(".pem");
            let config = s.starts_with("/etc/gnutls/") && s.ends_with("/config");
            if !s.starts_with('/') || !(trust || config) || (trust && cx.options.no_ca_certificates)
            {
                continue;
            }
            let path = PathBuf::from(&s);
            if cx.exists(&path) {
                out.push(Addition {
                    want: Want::File(path),
                    reason: Reason {
                        recipe: self.name(),
                        evidence: Evidence::Compiled {
                            file: o.real.clone(),
                            value: s.to_owned(),
                        },
                    },
                });
            }
        }
        Ok(out)
    }
}

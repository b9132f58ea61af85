//! What glibc itself loads at run time.

use depclose_resolve::{Closure, Flavor, Resolver};

use crate::{Load, Reason};

/// glibc `dlopen`s this for `pthread_cancel`/`pthread_exit` (`misc/unwind-link.c`); without it
/// such programs abort ("libgcc_s.so.1 must be installed for pthread_cancel to work").
pub const LIBGCC_S: &str = "libgcc_s.so.1";

/// The NSS configuration glibc reads (`nss/nss_database.c`).
pub const NSSWITCH_CONF: &str = "/etc/nsswitch.conf";

/// The soname of glibc's libc: the object that does these loads.
const LIBC: &str = "libc.so.6";

/// Since this release the `files` and `dns` services are built into libc and have no module
/// of their own (`nss/nss_module.c`, "nss_files and nss_dns are built in").
const NSS_BUILTIN_SINCE: (u32, u32) = (2, 34);

/// The services built in since [`NSS_BUILTIN_SINCE`].
const NSS_BUILTIN: [&str; 2] = ["files", "dns"];

/// The NSS services an `nsswitch.conf` names, in order of first mention (`[STATUS=action]`
/// blocks and comments skipped).
pub fn nss_services(conf: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((_, rest)) = line.split_once(':') else {
            continue;
        };
        let mut in_action = false;
        for word in rest.split_whitespace() {
            if word.starts_with('[') {
                in_action = true;
            }
            if !in_action && !out.iter().any(|s| s == word) {
                out.push(word.to_owned());
            }
            if word.ends_with(']') {
                in_action = false;
            }
        }
    }
    out
}

/// Add what glibc loads at run time to a closure that holds glibc's libc: `libgcc_s.so.1`,
/// and the NSS module (`libnss_SERVICE.so.2`) of every service `nsswitch` (the text of the
/// `/etc/nsswitch.conf` the program will see) names. Each is looked up as libc's `dlopen`
/// would, and its own dependencies join. A name the closure already holds is not added
/// again. Other closures come back unchanged, with no loads.
pub fn glibc_loads(
    resolver: &Resolver,
    mut closure: Closure,
    nsswitch: Option<&str>,
) -> (Closure, Vec<Load>) {
    let Some(facts) = closure.facts.clone().filter(|f| f.flavor == Flavor::Glibc) else {
        return (closure, Vec::new());
    };
    let Some(libc) = closure
        .objects
        .iter()
        .position(|o| o.elf.soname.as_deref() == Some(LIBC))
    else {
        return (closure, Vec::new());
    };
    // Without a known version, assume a current glibc.
    let builtin = facts.glibc_version.is_none_or(|v| v >= NSS_BUILTIN_SINCE);
    let nss = nsswitch
        .map(nss_services)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !(builtin && NSS_BUILTIN.contains(&s.as_str())))
        .map(|service| {
            (
                format!("libnss_{service}.so.2"),
                Reason::NssService { service },
            )
        });
    let mut loads = Vec::new();
    for (name, reason) in
        std::iter::once((LIBGCC_S.to_owned(), Reason::ThreadCancellation)).chain(nss)
    {
        if closure.objects.iter().any(|o| o.names.contains(&name)) {
            continue;
        }
        closure = resolver.dlopen(closure, libc, &name);
        let object = closure.objects.iter().position(|o| o.names.contains(&name));
        loads.push(Load {
            name,
            object,
            reason,
        });
    }
    (closure, loads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_services_skip_actions_and_comments() {
        let conf = "# x\npasswd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\nnetgroup: nis\n";
        assert_eq!(
            nss_services(conf),
            [
                "files",
                "systemd",
                "mdns4_minimal",
                "dns",
                "myhostname",
                "nis"
            ]
        );
    }
}

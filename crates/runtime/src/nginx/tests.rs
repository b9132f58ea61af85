#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use depclose_resolve::Root;

use super::*;
use crate::{ConfigLine, Setting};

/// A root holding `files`, nginx's prefix at `/opt/nginx` and its configuration at
/// `/etc/nginx/nginx.conf`.
fn root(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let host = t.path().join(p.trim_start_matches('/'));
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        std::fs::write(host, text).unwrap();
    }
    let r = Root::new(t.path()).unwrap();
    (t, r)
}

fn options() -> Options {
    let mut o = Options::new(Defaults::upstream());
    o.prefix = PathBuf::from("/opt/nginx");
    o.conf_file = PathBuf::from("/etc/nginx/nginx.conf");
    o
}

fn read_files(files: &[(&str, &[u8])]) -> Result<Config, ConfigError> {
    let (_t, r) = root(files);
    read(&r, &options())
}

fn conf(text: &str) -> Result<Config, ConfigError> {
    read_files(&[("/etc/nginx/nginx.conf", text.as_bytes())])
}

/// The directives as `name arg|arg@line`, `{` for a block.
fn show(c: &Config) -> Vec<String> {
    c.directives
        .iter()
        .map(|d| {
            let open = if d.opens_block { "{" } else { "" };
            format!("{} {}{open}@{}", d.name, d.args.join("|"), d.at.line)
        })
        .collect()
}

fn at(file: &str, line: usize, text: &str) -> ConfigLine {
    ConfigLine {
        file: file.into(),
        line,
        text: text.into(),
    }
}

#[test]
fn tokens_quotes_escapes_comments_and_variables() {
    let c = conf(concat!(
        "# comment\n",
        "worker_processes  auto; # trailing\n",
        "env \"A=b c\" 'd;e' a#b \\;x;\n", // `\;` keeps its backslash
        "log_format main '$remote_addr \"$request\"' \"tab\\there\\n\" \"q\\\"q\" x\\\\y;\n",
        "events{}\n",
        "http {\n",
        "  if ($a = \"b\") { return 204; }\n",
        "  set $v ${host}x;\n",
        "  multi\n    line\n    args;\n",
        "}\n",
    ))
    .unwrap();
    assert_eq!(
        show(&c),
        [
            "worker_processes auto@2",
            "env A=b c|d;e|a#b|\\;x@3",
            "log_format main|$remote_addr \"$request\"|tab\there\n|q\"q|x\\y@4",
            "events {@5",
            "http {@6",
            "if ($a|=|b|){@7",
            "return 204@7",
            "set $v|${host}x@8",
            "multi line|args@9",
        ]
    );
    // The evidence is the statement as written, its line breaks made spaces.
    assert_eq!(c.directives[8].at.text, "multi line args;");
    assert_eq!(c.directives[4].at.text, "http {");
    let blocks: Vec<_> = c.directives.iter().map(|d| d.block).collect();
    assert_eq!(
        blocks,
        [
            None,
            None,
            None,
            None,
            None,
            Some(4),
            Some(5),
            Some(4),
            Some(4)
        ]
    );
}

#[test]
fn includes_resolve_against_the_conf_dir_and_globs_may_match_nothing() {
    let c = read_files(&[
        (
            "/etc/nginx/nginx.conf",
            concat!(
                "include modules-enabled/*.conf;\n",
                "include none/*.conf;\n",
                "http {\n  include mime.types;\n  include /etc/nginx/sites/*;\n}\n",
                "include g/a*/x.conf;\n",
            )
            .as_bytes(),
        ),
        (
            "/etc/nginx/modules-enabled/b.conf",
            b"load_module modules/b.so;\n",
        ),
        (
            "/etc/nginx/modules-enabled/a.conf",
            b"load_module /abs/a.so;\n",
        ),
        ("/etc/nginx/mime.types", b"types {\n  text/html html;\n}\n"),
        ("/etc/nginx/sites/default", b"server { listen 80; }\n"),
        // glob(3) order is by whole path: `a-b/x` before `a/x` ('-' < '/').
        ("/etc/nginx/g/a/x.conf", b"second 1;\n"),
        ("/etc/nginx/g/a-b/x.conf", b"first 1;\n"),
    ])
    .unwrap();
    let names: Vec<_> = c.directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "include",
            "load_module",
            "load_module",
            "include",
            "http",
            "include",
            "types",
            "text/html",
            "include",
            "server",
            "listen",
            "include",
            "first",
            "second"
        ]
    );
    // Included directives sit in the block of their include.
    assert_eq!(c.directives[6].block, Some(4));
    assert_eq!(c.directives[9].block, Some(4));
    assert_eq!(
        c.directives[10].at,
        at("/etc/nginx/sites/default", 1, "listen 80;")
    );
    let u = c.uses();
    let modules: Vec<_> = u
        .modules
        .iter()
        .map(|m| (m.path.clone(), m.at.clone()))
        .collect();
    assert_eq!(
        modules,
        [
            (
                PathBuf::from("/abs/a.so"),
                at(
                    "/etc/nginx/modules-enabled/a.conf",
                    1,
                    "load_module /abs/a.so;"
                )
            ),
            (
                PathBuf::from("/opt/nginx/modules/b.so"),
                at(
                    "/etc/nginx/modules-enabled/b.conf",
                    1,
                    "load_module modules/b.so;"
                )
            ),
        ]
    );
    assert_eq!(u.types, [at("/etc/nginx/mime.types", 1, "types {")]);
}

#[test]
fn missing_includes_loops_and_depth() {
    let e = conf("events {}\ninclude gone.conf;\n").unwrap_err();
    assert_eq!(
        e,
        ConfigError::MissingInclude {
            file: "/etc/nginx/nginx.conf".into(),
            line: 2,
            path: "/etc/nginx/gone.conf".into(),
            reason: "open() failed",
        }
    );
    let (t, r) = root(&[
        ("/etc/nginx/nginx.conf", b"include a.conf;\n"),
        ("/etc/nginx/a.conf", b"x 1;\ninclude l*.conf;\n"),
    ]);
    symlink("nginx.conf", t.path().join("etc/nginx/link.conf")).unwrap();
    assert_eq!(
        read(&r, &options()).unwrap_err(),
        ConfigError::IncludeLoop {
            file: "/etc/nginx/a.conf".into(),
            line: 2,
            path: "/etc/nginx/link.conf".into()
        }
    );
    // Nesting is bounded even without a loop.
    let mut chain: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("/etc/nginx/f{i}.conf"),
                format!("include f{}.conf;\n", i + 1).into_bytes(),
            )
        })
        .collect();
    chain.push((
        "/etc/nginx/nginx.conf".into(),
        b"include f0.conf;\n".to_vec(),
    ));
    let refs: Vec<(&str, &[u8])> = chain
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_slice()))
        .collect();
    assert!(matches!(
        read_files(&refs),
        Err(ConfigError::TooDeep {
            limit: MAX_INCLUDE_DEPTH,
            ..
        })
    ));
    assert_eq!(
        read_files(&[]).unwrap_err(),
        ConfigError::Unreadable {
            file: "/etc/nginx/nginx.conf".into()
        }
    );
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "events {\n",
            1,
            "unexpected end of file, expecting \"}\" for the block opened here",
        ),
        (
            "a b\n",
            2,
            "unexpected end of file, expecting \";\" or \"}\"",
        ),
        ("\n}\n", 2, "unexpected \"}\""),
        ("a b }\n", 1, "unexpected \"}\""),
        (";\n", 1, "unexpected \";\""),
        ("a \"b\"c;\n", 1, "unexpected \"c\""),
        (
            "a 'unterminated;\n",
            2,
            "unexpected end of file, expecting \";\" or \"}\"",
        ),
        (
            "include;\n",
            1,
            "invalid number of arguments in \"include\" directive",
        ),
    ];
    for (text, line, reason) in cases {
        assert_eq!(
            conf(text).unwrap_err(),
            ConfigError::Syntax {
                file: "/etc/nginx/nginx.conf".into(),
                line: *line,
                reason: (*reason).into()
            },
            "{text:?}"
        );
    }
    let long = format!("a \"{}\n;", "x".repeat(MAX_WORD + 10));
    assert_eq!(
        conf(&long).unwrap_err(),
        ConfigError::Syntax {
            file: "/etc/nginx/nginx.conf".into(),
            line: 1,
            reason: "too long parameter, probably missing terminating \"\"\" character".into()
        }
    );
    let long = format!("a {};", "y".repeat(MAX_WORD + 10));
    assert_eq!(
        conf(&long).unwrap_err(),
        ConfigError::Syntax {
            file: "/etc/nginx/nginx.conf".into(),
            line: 1,
            reason: "too long parameter \"yyyyyyyyyy...\" started".into()
        }
    );
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    let _ = read_files(&[("/etc/nginx/nginx.conf", &garbage)]);
    // A backslash as the last byte of the file.
    assert!(conf("a \\").is_err());
}

#[test]
fn uses_with_defaults_and_explicit_settings() {
    let c = conf(concat!(
        "user www-data;\n",
        "pid run/nginx.pid;\n",
        "error_log /var/log/nginx/error.log warn;\n",
        "error_log syslog:server=unix:/dev/log;\n",
        "http {\n",
        "  proxy_temp_path /var/lib/nginx/proxy 1 2;\n",
        "  server {\n",
        "    access_log logs/$host.log combined;\n",
        "    access_log off;\n",
        "    fastcgi_temp_path fcgi;\n",
        "  }\n",
        "}\n",
    ))
    .unwrap();
    let u = c.uses();
    let file = "/etc/nginx/nginx.conf";
    let set = |value: &str, line: usize, text: &str| Setting {
        value: PathBuf::from(value),
        at: Some(at(file, line, text)),
    };
    let dflt = |value: &str| Setting {
        value: PathBuf::from(value),
        at: None,
    };
    assert_eq!(u.user.value, "www-data");
    assert_eq!(u.group.unwrap().value, "www-data");
    assert_eq!(
        u.pid,
        set("/opt/nginx/run/nginx.pid", 2, "pid run/nginx.pid;")
    );
    let logs = |v: &[Setting<LogTarget>]| {
        v.iter()
            .map(|s| (s.value.clone(), s.at.as_ref().map(|a| a.line)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        logs(&u.error_logs),
        [
            (LogTarget::File("/opt/nginx/logs/error.log".into()), None),
            (LogTarget::File("/var/log/nginx/error.log".into()), Some(3)),
            (LogTarget::Syslog("server=unix:/dev/log".into()), Some(4)),
        ]
    );
    assert_eq!(
        logs(&u.access_logs),
        [
            (LogTarget::File("/opt/nginx/logs/access.log".into()), None),
            (LogTarget::File("/opt/nginx/logs/$host.log".into()), Some(8)),
        ]
    );
    assert_eq!(
        u.temp_paths,
        [
            dflt("/opt/nginx/client_body_temp"),
            set(
                "/var/lib/nginx/proxy",
                6,
                "proxy_temp_path /var/lib/nginx/proxy 1 2;"
            ),
            dflt("/opt/nginx/fastcgi_temp"),
            set("/opt/nginx/fcgi", 10, "fastcgi_temp_path fcgi;"),
            dflt("/opt/nginx/uwsgi_temp"),
            dflt("/opt/nginx/scgi_temp"),
        ]
    );
    // Without http, no access log or temp paths; without user, the compiled-in one.
    let u = conf("events {}\n").unwrap().uses();
    assert!(u.access_logs.is_empty() && u.temp_paths.is_empty());
    assert_eq!(
        u.user,
        Setting {
            value: "nobody".into(),
            at: None
        }
    );
    assert_eq!(u.group, None);
    assert_eq!(u.pid, dflt("/opt/nginx/logs/nginx.pid"));
}

/// The real Debian configuration of this machine, with the defaults of its binary.
#[test]
fn debian_nginx_config() {
    let Ok(bytes) = std::fs::read("/usr/sbin/nginx") else {
        return;
    };
    let root = Root::new(Path::new("/")).unwrap();
    let defaults = Defaults::from_binary(&bytes).unwrap();
    let c = read(&root, &Options::new(defaults)).unwrap();
    assert_eq!(c.conf_prefix, Path::new("/etc/nginx"));
    let u = c.uses();
    let files: Vec<&Path> = u.config_files.iter().map(|f| f.value.as_path()).collect();
    assert_eq!(files[0], Path::new("/etc/nginx/nginx.conf"));
    assert!(files.contains(&Path::new("/etc/nginx/mime.types")));
    assert_eq!(u.types.len(), 1);
    assert_eq!(u.types[0].file, Path::new("/etc/nginx/mime.types"));
    // Every modules-enabled/*.conf loads its module from the prefix's modules/, which
    // Debian links to /usr/lib/nginx/modules.
    let mut enabled: Vec<PathBuf> = std::fs::read_dir("/etc/nginx/modules-enabled")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    enabled.sort();
    let from: Vec<&Path> = u.modules.iter().map(|m| m.at.file.as_path()).collect();
    assert_eq!(from, enabled);
    for m in &u.modules {
        assert!(m.path.starts_with("/usr/share/nginx/modules"), "{m:?}");
        assert!(Files::is_file(&root, &m.path), "{m:?}");
    }
    assert_eq!(u.user.value, "www-data");
    assert_eq!(u.pid.value, Path::new("/run/nginx.pid"));
    assert_eq!(u.error_logs[0].value, LogTarget::Stderr);
    assert!(
        u.error_logs[1..]
            .iter()
            .any(|l| l.value == LogTarget::File("/var/log/nginx/error.log".into()))
    );
    assert!(
        u.access_logs
            .iter()
            .any(|l| l.value == LogTarget::File("/var/log/nginx/access.log".into()))
    );
    assert!(
        u.temp_paths
            .iter()
            .any(|t| t.value == Path::new("/var/lib/nginx/body"))
    );
}

/// `-g` directives come before the file, and count as the main context.
#[test]
fn global_directives_from_the_command_line() {
    let (_t, r) = root(&[("/etc/nginx/nginx.conf", b"events {}\n")]);
    let mut o = options();
    o.globals = "daemon off; pid /tmp/n.pid;".into();
    let c = read(&r, &o).unwrap();
    assert_eq!(show(&c), ["daemon off@1", "pid /tmp/n.pid@1", "events {@1"]);
    assert_eq!(
        c.files,
        [Setting {
            value: PathBuf::from("/etc/nginx/nginx.conf"),
            at: None
        }]
    );
    assert_eq!(
        c.uses().pid,
        Setting {
            value: "/tmp/n.pid".into(),
            at: Some(at("-g", 1, "pid /tmp/n.pid;"))
        }
    );
    o.globals = "daemon off".into();
    assert!(
        matches!(read(&r, &o), Err(ConfigError::Syntax { file, .. }) if file == Path::new("-g"))
    );
}

/// Random texts made of the tokenizer's own pieces never panic the reader; `x` includes
/// itself.
#[test]
fn random_text_never_panics() {
    let pieces = [
        "{",
        "}",
        ";",
        "\"",
        "'",
        "\\",
        "#",
        "$",
        "${",
        "(",
        ")",
        " ",
        "\n",
        "\r\n",
        "include x;",
        "include *;",
        "http",
        "a",
        "\u{e9}",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = next() % 24;
        let text: String = (0..len)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        let files = crate::files::MemFiles(std::collections::BTreeMap::from([
            (
                PathBuf::from("/etc/nginx/nginx.conf"),
                text.clone().into_bytes(),
            ),
            (PathBuf::from("/etc/nginx/x"), text.into_bytes()),
        ]));
        let _ = read(&files, &options());
    }
}

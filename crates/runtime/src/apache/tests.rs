#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use depclose_resolve::Root;

use super::*;
use crate::{ConfigLine, Setting};

/// A root holding `files` (path under the root → content), with the server root at
/// `/srv/httpd` and `httpd.conf` as the main file.
fn root(files: &[(&str, &str)]) -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let host = t.path().join(p.trim_start_matches('/'));
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        std::fs::write(host, text).unwrap();
    }
    std::fs::create_dir_all(t.path().join("srv/httpd")).unwrap();
    let r = Root::new(t.path()).unwrap();
    (t, r)
}

fn options() -> Options {
    let mut o = Options::new(Defaults::upstream(), BTreeMap::new());
    o.server_root = PathBuf::from("/srv/httpd");
    o.config_file = PathBuf::from("httpd.conf");
    o
}

fn read_with(files: &[(&str, &str)], o: &Options) -> Result<Config, ConfigError> {
    let (_t, r) = root(files);
    read(&r, o)
}

fn conf(text: &str) -> Result<Config, ConfigError> {
    read_with(&[("/srv/httpd/httpd.conf", text)], &options())
}

/// The directives as `name arg|arg@line`.
fn show(c: &Config) -> Vec<String> {
    c.directives
        .iter()
        .map(|d| format!("{} {}@{}", d.name, d.args.join("|"), d.at.line))
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
fn quoting_continuation_and_comments() {
    let c = conf(concat!(
        "# a comment\n",
        "  ServerName   example.org  # not a comment\n",
        "LogFormat \"%h \\\"%r\\\" \\\\\" 'single \\' quoted' plain\\\\word\n",
        "Alias /a \\\n",
        "      /b\n",
        "  \t\n",
        "\tlisten 80\r\n",
        "ErrorLog \"unterminated quote runs to the end\n",
        "NoBreak a\u{a0}b\n",
    ))
    .unwrap();
    assert_eq!(
        show(&c),
        [
            "ServerName example.org|#|not|a|comment@2",
            "LogFormat %h \"%r\" \\|single ' quoted|plain\\word@3",
            "Alias /a|/b@4",
            "listen 80@7",
            "ErrorLog unterminated quote runs to the end@8",
            "NoBreak a\u{a0}b@9",
        ]
    );
    assert!(c.directives[3].is("LISTEN"));
    // The evidence is the line as written, continuation joined, before `${}` replacement.
    assert_eq!(c.directives[2].at.text, "Alias /a       /b");
}

#[test]
fn sections_nest_and_carry_their_directives() {
    let c = conf(concat!(
        "<VirtualHost *:80>\n",
        "  DocumentRoot htdocs\n",
        "  <Directory \"/var/www\">\n",
        "    Options None\n",
        "  </directory>\n",
        "</VirtualHost>\n",
        "<Location />\n",
        "</Location>\n",
    ))
    .unwrap();
    assert_eq!(
        show(&c),
        [
            "<VirtualHost *:80@1",
            "DocumentRoot htdocs@2",
            "<Directory /var/www@3",
            "Options None@4",
            "<Location /@7",
        ]
    );
    let sections: Vec<_> = c.directives.iter().map(|d| d.section).collect();
    assert_eq!(sections, [None, Some(0), Some(0), Some(2), None]);
}

#[test]
fn ifmodule_follows_load_order_and_static_modules() {
    let c = conf(concat!(
        "<IfModule mime_module>\nBefore yes\n</IfModule>\n",
        "LoadModule mime_module modules/mod_mime.so\n",
        "<IfModule mime_module>\nAfter yes\n</IfModule>\n",
        "<IfModule mod_mime.c>\nBySource yes\n</IfModule>\n",
        "<IfModule !mod_mime.c>\nNegated no\n</IfModule>\n",
        "<IfModule mod_so.c>\nStatic yes\n</IfModule>\n",
        "<IfModule log_config_module>\n",
        "  <IfModule !ssl_module>\n    Nested yes\n  </IfModule>\n",
        "  <IfModule ssl_module>\n    <Deep>\n    </Deep>\n  </IfModule>\n",
        "</IfModule>\n",
    ))
    .unwrap();
    let names: Vec<_> = c.directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["LoadModule", "After", "BySource", "Static", "Nested"]
    );
}

#[test]
fn ifdefine_define_undefine_and_variables() {
    let mut o = options();
    o.defines = vec!["FROM_CLI".into()];
    o.env = BTreeMap::from([("APACHE_LOG_DIR".into(), "/var/log/x".into())]);
    let c = read_with(
        &[(
            "/srv/httpd/httpd.conf",
            concat!(
                "<IfDefine FROM_CLI>\nCli yes\n</IfDefine>\n",
                "<IfDefine !FROM_CLI>\nNotCli no\n</IfDefine>\n",
                "Define WHERE /opt/w\n",
                "Define FLAG\n",
                "<IfDefine FLAG>\nFlag ${WHERE}/x\n</IfDefine>\n",
                "UnDefine FLAG\n",
                "<IfDefine FLAG>\nFlag2 no\n</IfDefine>\n",
                "ErrorLog ${APACHE_LOG_DIR}/error.log\n",
                "Keep ${NOPE} ${map:key} ${D?=fallback} $PLAIN\n",
            ),
        )],
        &o,
    )
    .unwrap();
    let kept: Vec<_> = show(&c)
        .into_iter()
        .filter(|s| !s.starts_with("Define") && !s.starts_with("UnDefine"))
        .collect();
    assert_eq!(
        kept,
        [
            "Cli yes@2",
            "Flag /opt/w/x@10",
            "ErrorLog /var/log/x/error.log@16",
            "Keep ${NOPE}|${map:key}|fallback|$PLAIN@17",
        ]
    );
    assert_eq!(
        c.warnings,
        [Warning::UndefinedVariable {
            name: "NOPE".into(),
            at: at(
                "/srv/httpd/httpd.conf",
                17,
                "Keep ${NOPE} ${map:key} ${D?=fallback} $PLAIN"
            )
        }]
    );
}

#[test]
fn iffile_and_undecided_conditions() {
    let c = read_with(
        &[
            (
                "/srv/httpd/httpd.conf",
                concat!(
                    "<IfFile conf/there>\nThere yes\n</IfFile>\n",
                    "<IfFile /srv/httpd/conf/missing>\nMissing no\n</IfFile>\n",
                    "<IfDirective !Foo>\nUndecided yes\n</IfDirective>\n",
                ),
            ),
            ("/srv/httpd/conf/there", ""),
        ],
        &options(),
    )
    .unwrap();
    assert_eq!(show(&c), ["There yes@2", "Undecided yes@8"]);
    assert_eq!(
        c.warnings,
        [Warning::Undecided {
            section: "IfDirective".into(),
            test: "Foo".into(),
            at: at("/srv/httpd/httpd.conf", 7, "<IfDirective !Foo>")
        }]
    );
}

#[test]
fn includes_files_globs_and_directories_in_order() {
    let c = read_with(
        &[
            (
                "/srv/httpd/httpd.conf",
                concat!(
                    "Include conf.d/*.conf\n",
                    "IncludeOptional nothing/*.conf\n",
                    "IncludeOptional /srv/httpd/absent.conf\n",
                    "Include /dev/null\n",
                    "<VirtualHost *>\nInclude /etc/extra\n</VirtualHost>\n",
                    "Last x\n",
                ),
            ),
            ("/srv/httpd/conf.d/b.conf", "B 1\n"),
            ("/srv/httpd/conf.d/a.conf", "A 1\n"),
            ("/srv/httpd/conf.d/.hidden.conf", "Hidden 1\n"),
            ("/srv/httpd/conf.d/c.txt", "Txt 1\n"),
            ("/etc/extra/2", "Two 1\n"),
            ("/etc/extra/1/x", "OneX 1\n"),
        ],
        &options(),
    )
    .unwrap();
    let names: Vec<_> = c.directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Include",
            "A",
            "B",
            "IncludeOptional",
            "IncludeOptional",
            "Include",
            "<VirtualHost",
            "Include",
            "OneX",
            "Two",
            "Last"
        ]
    );
    // An included file's directives belong to the section of the Include.
    assert_eq!(c.directives[8].section, Some(6));
    assert_eq!(c.directives[8].at, at("/etc/extra/1/x", 1, "OneX 1"));
    assert_eq!(
        c.files.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
        [
            "/srv/httpd/httpd.conf",
            "/srv/httpd/conf.d/a.conf",
            "/srv/httpd/conf.d/b.conf",
            "/dev/null",
            "/etc/extra/1/x",
            "/etc/extra/2"
        ]
        .map(PathBuf::from)
    );
}

#[test]
fn missing_includes_are_errors_naming_file_and_line() {
    let e = read_with(
        &[
            ("/srv/httpd/httpd.conf", "Include conf/sub.conf\n"),
            (
                "/srv/httpd/conf/sub.conf",
                "# one\nInclude conf/gone.conf\n",
            ),
        ],
        &options(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        ConfigError::MissingInclude {
            file: "/srv/httpd/conf/sub.conf".into(),
            line: 2,
            path: "/srv/httpd/conf/gone.conf".into(),
            reason: "could not open the configuration file",
        }
    );
    assert_eq!(
        e.to_string(),
        "/srv/httpd/conf/sub.conf:2: /srv/httpd/conf/gone.conf: could not open the configuration file"
    );
    let e = conf("\nInclude none/*.conf\n").unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::MissingInclude {
                line: 2,
                reason: "no matches for the wildcard",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        read(&root(&[]).1, &options()).unwrap_err(),
        ConfigError::Unreadable {
            file: "/srv/httpd/httpd.conf".into()
        }
    );
}

#[test]
fn include_loops_are_found() {
    let (t, r) = root(&[
        ("/srv/httpd/httpd.conf", "Include a.conf\n"),
        ("/srv/httpd/a.conf", "X 1\nInclude link.conf\n"),
    ]);
    symlink("httpd.conf", t.path().join("srv/httpd/link.conf")).unwrap();
    let e = read(&r, &options()).unwrap_err();
    assert_eq!(
        e,
        ConfigError::IncludeLoop {
            file: "/srv/httpd/a.conf".into(),
            line: 2,
            path: "/srv/httpd/link.conf".into()
        }
    );
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "<IfModule mod_so.c>\nX 1\n",
            1,
            "<IfModule> was not closed.",
        ),
        (
            "<IfModule nope>\nX 1\n",
            1,
            "Expected </IfModule> before end of configuration",
        ),
        (
            "<IfModule nope>\n</IfDefine>\n",
            2,
            "Expected </IfModule> but saw </IfDefine>",
        ),
        (
            "\n</Directory>\n",
            2,
            "</Directory> without matching <Directory> section",
        ),
        (
            "<Directory /x>\n</Location>\n",
            2,
            "Expected </Directory> but saw </Location>",
        ),
        (
            "<IfModule>\n</IfModule>\n",
            1,
            "<IfModule> directive requires additional arguments",
        ),
        (
            "<IfDefine X\n</IfDefine>\n",
            1,
            "<IfDefine> directive missing closing '>'",
        ),
        ("Define A:B\n", 1, "Variable name must not contain ':'"),
        ("Define A B C\n", 1, "Define takes one or two arguments"),
        ("UnDefine A B\n", 1, "UnDefine takes one argument"),
        ("include a b\n", 1, "Include takes one argument"),
        (
            "LoadModule only_one\n",
            1,
            "LoadModule takes two arguments, a module name and the name of a shared object file to load it from",
        ),
    ];
    for (text, line, reason) in cases {
        let e = conf(text).unwrap_err();
        assert_eq!(
            e,
            ConfigError::Syntax {
                file: "/srv/httpd/httpd.conf".into(),
                line: *line,
                reason: (*reason).into()
            },
            "{text:?}"
        );
    }
    // Bytes that are not text: read as lossy text, whatever comes of it.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let (t, r) = root(&[]);
    std::fs::write(t.path().join("srv/httpd/httpd.conf"), &garbage).unwrap();
    let _ = read(&r, &options());
    // A line longer than httpd reads.
    let huge = format!("X {}\n", "a".repeat(MAX_LINE + 1));
    assert!(matches!(
        conf(&huge),
        Err(ConfigError::Syntax { line: 1, .. })
    ));
}

#[test]
fn uses_say_what_is_loaded_and_opened() {
    let mut o = options();
    o.env = BTreeMap::from([("RUN_USER".into(), "www-data".into())]);
    let text = concat!(
        "LoadModule mime_module modules/mod_mime.so\n",
        "LoadModule mime_module modules/other.so\n",
        "LoadModule ssl_module /abs/mod_ssl.so\n",
        "LoadFile /usr/lib/libxml2.so.2 lib/libz.so\n",
        "User ${RUN_USER}\nGroup #33\n",
        "DefaultRuntimeDir run\nPidFile httpd.pid\n",
        "Mutex file:/var/lock/h default\nMutex sem:name\nMutex FLOCK:locks mpm-accept\n",
        "ErrorLog \"|/usr/bin/rotatelogs /var/log/e 86400\"\n",
        "CustomLog logs/access.log combined\nTransferLog \"||/bin/logger\"\n",
        "Listen 80\nListen [::1]:8443 https\n",
        "DocumentRoot htdocs\n",
        "<VirtualHost *:80>\nErrorLog syslog:local1\nCustomLog /v/a.log common\nTransferLog \"|$cronolog x\"\n</VirtualHost>\n",
    );
    let c = read_with(&[("/srv/httpd/httpd.conf", text)], &o).unwrap();
    let u = c.uses();
    let file = "/srv/httpd/httpd.conf";
    let modules: Vec<_> = u
        .modules
        .iter()
        .map(|m| (m.name.as_str(), m.path.clone(), m.at.line))
        .collect();
    assert_eq!(
        modules,
        [
            (
                "mime_module",
                PathBuf::from("/srv/httpd/modules/mod_mime.so"),
                1
            ),
            ("ssl_module", PathBuf::from("/abs/mod_ssl.so"), 3),
        ]
    );
    let set = |value: PathBuf, line: usize| Setting {
        value,
        at: Some(at(file, line, text.lines().nth(line - 1).unwrap())),
    };
    assert_eq!(
        u.load_files,
        [
            set("/usr/lib/libxml2.so.2".into(), 4),
            set("/srv/httpd/lib/libz.so".into(), 4)
        ]
    );
    assert_eq!(
        u.types_config,
        Some(Setting {
            value: "/srv/httpd/conf/mime.types".into(),
            at: None
        })
    );
    assert_eq!(u.user.unwrap().value, "www-data");
    assert_eq!(u.group.unwrap().value, "#33");
    assert_eq!(u.runtime_dir, set("/srv/httpd/run".into(), 7));
    assert_eq!(u.pid_file, set("/srv/httpd/run/httpd.pid".into(), 8));
    assert_eq!(
        u.mutex_dirs,
        [
            set("/var/lock/h".into(), 9),
            set("/srv/httpd/run/locks".into(), 11)
        ]
    );
    let logs = |v: &[Setting<LogTarget>]| {
        v.iter()
            .map(|s| (s.value.clone(), s.at.as_ref().map(|a| a.line)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        logs(&u.error_logs),
        [
            (
                LogTarget::Pipe {
                    command: "/usr/bin/rotatelogs /var/log/e 86400".into(),
                    shell: false
                },
                Some(12)
            ),
            (LogTarget::Syslog(Some("local1".into())), Some(19)),
        ]
    );
    assert_eq!(
        logs(&u.access_logs),
        [
            (
                LogTarget::File("/srv/httpd/logs/access.log".into()),
                Some(13)
            ),
            (
                LogTarget::Pipe {
                    command: "/bin/logger".into(),
                    shell: false
                },
                Some(14)
            ),
            (LogTarget::File("/v/a.log".into()), Some(20)),
            (
                LogTarget::Pipe {
                    command: "cronolog x".into(),
                    shell: true
                },
                Some(21)
            ),
        ]
    );
    assert_eq!(u.error_logs[0].value.program(), Some("/usr/bin/rotatelogs"));
    assert_eq!(u.access_logs[3].value.program(), Some("/bin/sh"));
    assert_eq!(u.error_logs[1].value.program(), None);
    let listen: Vec<_> = u.listen.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(listen, ["80", "[::1]:8443"]);
    assert_eq!(u.document_roots, [set("/srv/httpd/htdocs".into(), 17)]);
    assert_eq!(
        u.config_files,
        [Setting {
            value: PathBuf::from(file),
            at: None
        }]
    );

    // Without mod_mime no types file is read; the defaults fill in the rest.
    let u = conf("ServerName x\n").unwrap().uses();
    assert_eq!(u.types_config, None);
    assert_eq!(
        u.pid_file,
        Setting {
            value: "/srv/httpd/logs/httpd.pid".into(),
            at: None
        }
    );
    assert_eq!(
        u.error_logs,
        [Setting {
            value: LogTarget::File("/srv/httpd/logs/error_log".into()),
            at: None
        }]
    );
    assert_eq!(u.user, None);
}

/// The real Debian configuration of this machine, read as `apache2ctl` starts the server:
/// defaults from the binary, the environment from `envvars`.
#[test]
fn debian_apache2_config() {
    let (Ok(bytes), Ok(script)) = (
        std::fs::read("/usr/sbin/apache2"),
        std::fs::read_to_string("/etc/apache2/envvars"),
    ) else {
        return;
    };
    let root = Root::new(Path::new("/")).unwrap();
    let defaults = Defaults::from_binary(&bytes).unwrap();
    let env = envvars(&script, &BTreeMap::new()).env;
    let c = read(&root, &Options::new(defaults, env)).unwrap();
    assert_eq!(c.warnings, []);
    let u = c.uses();

    // Debian's convention: mods-enabled/NAME.load loads modules/mod_NAME.so.
    let mut expected: Vec<PathBuf> = std::fs::read_dir("/etc/apache2/mods-enabled")
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let stem = name.strip_suffix(".load")?.to_owned();
            Some(PathBuf::from(format!(
                "/usr/lib/apache2/modules/mod_{stem}.so"
            )))
        })
        .collect();
    expected.sort();
    let mut got: Vec<PathBuf> = u.modules.iter().map(|m| m.path.clone()).collect();
    got.sort();
    assert_eq!(got, expected);
    for m in &u.modules {
        assert!(m.at.file.starts_with("/etc/apache2/mods-enabled"), "{m:?}");
        assert!(m.path.is_file(), "{m:?}");
    }
    let files: Vec<&Path> = c.files.iter().map(|f| f.value.as_path()).collect();
    assert_eq!(files[0], Path::new("/etc/apache2/apache2.conf"));
    assert!(files.contains(&Path::new("/etc/apache2/ports.conf")));
    let ports = c
        .files
        .iter()
        .find(|f| f.value.ends_with("ports.conf"))
        .unwrap();
    assert_eq!(ports.at.as_ref().unwrap().text, "Include ports.conf");
    assert_eq!(u.user.unwrap().value, "www-data");
    assert_eq!(u.group.unwrap().value, "www-data");
    assert_eq!(u.pid_file.value, Path::new("/var/run/apache2/apache2.pid"));
    assert_eq!(u.runtime_dir.value, Path::new("/var/run/apache2"));
    if files.contains(&Path::new("/etc/apache2/mods-enabled/mime.conf")) {
        assert_eq!(u.types_config.unwrap().value, Path::new("/etc/mime.types"));
    }
    assert_eq!(
        u.error_logs[0].value,
        LogTarget::File("/var/log/apache2/error.log".into())
    );
    assert!(u.listen.iter().any(|l| l.value == "80"));
    assert!(
        u.document_roots
            .iter()
            .any(|d| d.value == Path::new("/var/www/html"))
    );
}

/// The image's own files count: a configuration file the user adds is included, and one
/// that replaces the root's is read instead of it.
#[test]
fn image_files_overlay_the_root() {
    let (_t, r) = root(&[
        ("/srv/httpd/httpd.conf", "IncludeOptional conf.d/*.conf\n"),
        (
            "/srv/httpd/conf.d/a.conf",
            "LoadModule a_module modules/a.so\n",
        ),
        ("/home/me/b.conf", "LoadModule b_module modules/b.so\n"),
        (
            "/home/me/a.conf",
            "LoadModule mine_module modules/mine.so\n",
        ),
    ]);
    let added = BTreeMap::from([
        (
            PathBuf::from("/srv/httpd/conf.d/b.conf"),
            PathBuf::from("/home/me/b.conf"),
        ),
        (
            PathBuf::from("/srv/httpd/conf.d/a.conf"),
            PathBuf::from("/home/me/a.conf"),
        ),
    ]);
    let files = crate::Overlay::new(r, added);
    let u = read(&files, &options()).unwrap().uses();
    let names: Vec<_> = u.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["mine_module", "b_module"]);
    // Evidence names the image path, where the server will find the file.
    assert_eq!(
        u.modules[1].at,
        at(
            "/srv/httpd/conf.d/b.conf",
            1,
            "LoadModule b_module modules/b.so"
        )
    );
}

/// `ServerRoot` moves the root for what follows; `-C` and `-c` directives are read before
/// and after the file.
#[test]
fn server_root_and_command_line_directives() {
    let mut o = options();
    o.pre_directives = vec!["Define EARLY".into(), "ServerRoot /other".into()];
    o.post_directives = vec!["LoadModule late_module modules/late.so".into()];
    let (t, r) = root(&[
        // Named against the server root -C left.
        (
            "/other/httpd.conf",
            concat!(
                "<IfDefine EARLY>\nInclude conf/a.conf\n</IfDefine>\n",
                "LoadModule a_module modules/a.so\n",
                "ServerRoot /srv/httpd\n",
                "DefaultRuntimeDir run\n",
                "LoadModule b_module modules/b.so\n",
            ),
        ),
        ("/other/conf/a.conf", "X 1\n"),
    ]);
    let c = read(&r, &o).unwrap();
    let modules: Vec<_> = c
        .modules
        .iter()
        .map(|m| (m.path.clone(), m.at.clone()))
        .collect();
    assert_eq!(
        modules,
        [
            (
                "/other/modules/a.so".into(),
                at("/other/httpd.conf", 4, "LoadModule a_module modules/a.so")
            ),
            (
                "/srv/httpd/modules/b.so".into(),
                at("/other/httpd.conf", 7, "LoadModule b_module modules/b.so")
            ),
            (
                "/srv/httpd/modules/late.so".into(),
                at("-c", 1, "LoadModule late_module modules/late.so")
            ),
        ]
    );
    assert_eq!(
        c.files.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
        ["/other/httpd.conf", "/other/conf/a.conf"].map(PathBuf::from)
    );
    assert_eq!(c.server_root, Path::new("/srv/httpd"));
    assert_eq!(
        c.uses().runtime_dir,
        Setting {
            value: "/srv/httpd/run".into(),
            at: Some(at("/other/httpd.conf", 6, "DefaultRuntimeDir run"))
        }
    );
    drop(t);
    o.pre_directives = vec!["ServerRoot /nowhere".into()];
    assert_eq!(
        read_with(&[("/srv/httpd/httpd.conf", "")], &o).unwrap_err(),
        ConfigError::Syntax {
            file: "-C".into(),
            line: 1,
            reason: "ServerRoot must be a valid directory".into()
        }
    );
}

/// httpd allows 128 nested Includes, not one more.
#[test]
fn include_depth_is_limited() {
    let chain = |n: usize| {
        let mut files: Vec<(String, String)> = (0..n)
            .map(|i| {
                (
                    format!("/srv/httpd/f{i}.conf"),
                    format!("Include f{}.conf\n", i + 1),
                )
            })
            .collect();
        files.push((format!("/srv/httpd/f{n}.conf"), "End 1\n".into()));
        files.push(("/srv/httpd/httpd.conf".into(), "Include f0.conf\n".into()));
        files
    };
    let run = |n| {
        let files = chain(n);
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        read_with(&refs, &options())
    };
    // The main file's Include and 127 more.
    let c = run(127).unwrap();
    assert_eq!(c.directives.last().unwrap().name, "End");
    assert_eq!(
        run(128).unwrap_err(),
        ConfigError::TooDeep {
            file: "/srv/httpd/f127.conf".into(),
            line: 1,
            limit: 128
        }
    );
}

/// Random texts made of the grammar's own pieces (and characters that are not ASCII)
/// never panic the reader; whatever they are, they read or fail with an error. `x`
/// includes itself, `y` nothing.
#[test]
fn random_text_never_panics() {
    let pieces = [
        "<IfModule ",
        "<IfModule !so_module>",
        "</IfModule>",
        "<VirtualHost *>",
        "</VirtualHost>",
        "<IfDefine A>",
        "</IfDefine>",
        "Define A\n",
        "UnDefine A\n",
        "Include x\n",
        "IncludeOptional *\n",
        "Include y*\n",
        "LoadModule m_module m.so\n",
        "\"",
        "'",
        "\\",
        "\n",
        "\r\n",
        "\\\n",
        "${A}",
        "${",
        "}",
        " ",
        "#",
        ">",
        "<",
        "!",
        "\u{e9}",
        "\u{a0}",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
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
        let files = crate::files::MemFiles(BTreeMap::from([
            (
                PathBuf::from("/srv/httpd/httpd.conf"),
                text.clone().into_bytes(),
            ),
            (PathBuf::from("/srv/httpd/x"), text.into_bytes()),
        ]));
        let _ = read(&files, &options());
    }
}

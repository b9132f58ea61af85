//! Run-time recipes, proved by running each program from its image with nothing else
//! present: iconv with its gconv modules, Python with its standard library and CA store,
//! Perl with its modules, OpenSSL with its configuration and legacy provider, `date` with the
//! time zone database; and the reasons every addition carries (`.note.dlopen`, `--dlopen`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::util::image::{Image, Server, depclose, extract_layer, wait_for_http};
use crate::util::report::{AddedKind, EvidenceKind, How, Target};
use crate::util::{self, TestEnv, command};

/// The rootfs of `args`' image (`--emit-rootfs`, the same tree as the image's layer).
fn rootfs(env: &TestEnv, name: &str, args: &[&str]) -> PathBuf {
    let dir = env.join(name);
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    all.extend(["--emit-rootfs".as_ref(), dir.as_os_str()]);
    env.depclose(&all).assert_code(0);
    dir
}

/// Run `argv` inside `root` as a container runtime would (bubblewrap: the rootfs as `/`, a
/// minimal `/dev` and `/proc`; environment cleared but for PATH and `vars`), with `input` on
/// stdin; stdout as bytes.
fn in_image(
    root: &Path,
    vars: &[(&str, &str)],
    argv: &[&str],
    input: &[u8],
) -> (Vec<u8>, String, i32) {
    let mut cmd = util::bwrap(root);
    cmd.args(argv)
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// What the host's own program prints for the same input: the oracle.
fn on_host(argv: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = command(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{argv:?} fails on the host");
    out.stdout
}

fn gconv_modules(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(root.join("usr/lib/x86_64-linux-gnu/gconv"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".so"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn iconv_converts_with_the_gconv_modules_of_its_image() {
    const TEST: &str = "iconv_converts_with_the_gconv_modules_of_its_image";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["iconv"]) {
        return;
    }
    let env = TestEnv::new();
    let text = "héllo, wörld\n".as_bytes();
    let all = rootfs(&env, "all", &["/usr/bin/iconv"]);
    let some = rootfs(
        &env,
        "some",
        &["/usr/bin/iconv", "--gconv", "ISO-8859-1,IBM037"],
    );
    assert_eq!(gconv_modules(&some), ["IBM037.so", "ISO8859-1.so"]);
    assert!(gconv_modules(&all).len() > 100, "{:?}", gconv_modules(&all));
    for root in [&all, &some] {
        for charset in ["ISO-8859-1", "IBM037"] {
            let argv = ["/usr/bin/iconv", "-f", "UTF-8", "-t", charset];
            let (out, err, code) = in_image(root, &[], &argv, text);
            assert_eq!(code, 0, "{charset} in {}: {err}", root.display());
            assert_eq!(out, on_host(&argv, text), "{charset} in {}", root.display());
        }
    }
    // Without the recipe the same image cannot convert: the test sees the difference.
    let none = rootfs(&env, "none", &["/usr/bin/iconv", "--no-recipe", "gconv"]);
    assert!(gconv_modules(&none).is_empty());
    let (_, err, code) = in_image(
        &none,
        &[],
        &["/usr/bin/iconv", "-f", "UTF-8", "-t", "IBM037"],
        text,
    );
    assert_ne!(code, 0, "{err}");
}

#[test]
fn python_imports_its_standard_library_and_loads_the_ca_store() {
    const TEST: &str = "python_imports_its_standard_library_and_loads_the_ca_store";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["/usr/bin/python3"]) {
        return;
    }
    let env = TestEnv::new();
    let root = rootfs(&env, "py", &["/usr/bin/python3"]);
    let program = "import json, ssl, sqlite3, hashlib, decimal, ctypes, zlib\n\
                   c = ssl.create_default_context()\n\
                   print(json.dumps([c.cert_store_stats()['x509_ca'] > 0, hashlib.sha256(b'x').hexdigest()[:8], str(decimal.Decimal(1) / 8)]))\n";
    let (out, err, code) = in_image(&root, &[], &["/usr/bin/python3", "-c", program], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "[true, \"2d711642\", \"0.125\"]\n",
        "{err}"
    );
    // The standard library is there, its test suite is not.
    let stdlibs: Vec<PathBuf> = std::fs::read_dir(root.join("usr/lib"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("os.py").is_file())
        .collect();
    assert_eq!(stdlibs.len(), 1, "{stdlibs:?}");
    assert!(!stdlibs[0].join("test").exists());

    // A script target: its interpreter's closure and recipes join.
    let script = env.write(
        "bin/serve.py",
        "#!/usr/bin/python3\nimport csv, http.server, io\nw = csv.writer(io.StringIO())\nprint(http.server.SimpleHTTPRequestHandler.__name__)\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = rootfs(&env, "script", &[&script.to_string_lossy()]);
    let inside = Path::new("/").join(script.strip_prefix("/").unwrap());
    let (out, err, code) = in_image(&root, &[], &[&inside.to_string_lossy()], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "SimpleHTTPRequestHandler\n");
}

#[test]
fn perl_loads_posix_and_list_util_from_its_image() {
    const TEST: &str = "perl_loads_posix_and_list_util_from_its_image";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["/usr/bin/perl"]) {
        return;
    }
    let env = TestEnv::new();
    let root = rootfs(&env, "perl", &["/usr/bin/perl"]);
    let argv = [
        "/usr/bin/perl",
        "-MPOSIX",
        "-MList::Util=sum",
        "-e",
        "print sum(1, 2, 3), ' ', POSIX::floor(2.5), qq(\\n)",
    ];
    let (out, err, code) = in_image(&root, &[], &argv, b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "6 2\n");
}

#[test]
fn openssl_makes_a_certificate_and_uses_its_legacy_provider() {
    const TEST: &str = "openssl_makes_a_certificate_and_uses_its_legacy_provider";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["/usr/bin/openssl"]) {
        return;
    }
    let env = TestEnv::new();
    let root = rootfs(&env, "openssl", &["/usr/bin/openssl"]);
    let req = [
        "/usr/bin/openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "/tmp/key.pem",
        "-out",
        "/tmp/cert.pem",
        "-subj",
        "/CN=depclose",
        "-days",
        "1",
    ];
    let (_, err, code) = in_image(&root, &[], &req, b"");
    assert_eq!(code, 0, "{err}");
    assert!(root.join("tmp/cert.pem").is_file(), "{err}");
    let md4 = ["/usr/bin/openssl", "md4", "-provider", "legacy"];
    let (out, err, code) = in_image(&root, &[], &md4, b"hi\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, on_host(&md4, b"hi\n"));
}

#[test]
fn date_reads_the_time_zone_database_when_asked_for() {
    const TEST: &str = "date_reads_the_time_zone_database_when_asked_for";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["/usr/share/zoneinfo/Asia/Tokyo"]) {
        return;
    }
    let env = TestEnv::new();
    let argv = ["/usr/bin/date", "-u", "-d", "@0", "+%H"];
    let tokyo = ["/usr/bin/date", "-d", "@0", "+%H %Z"];
    let with = rootfs(&env, "with", &["/usr/bin/date", "--with", "tzdata"]);
    let (out, err, _) = in_image(&with, &[("TZ", "Asia/Tokyo")], &tokyo, b"");
    assert_eq!(String::from_utf8_lossy(&out), "09 JST\n", "{err}");
    // Without it, glibc falls back to UTC: the test tells the two apart.
    let without = rootfs(&env, "without", &["/usr/bin/date"]);
    let (out, _, _) = in_image(&without, &[("TZ", "Asia/Tokyo")], &tokyo, b"");
    assert_ne!(String::from_utf8_lossy(&out), "09 JST\n");
    let (out, _, _) = in_image(&without, &[], &argv, b"");
    assert_eq!(String::from_utf8_lossy(&out), "00\n");
}

/// A library declares in `.note.dlopen` what it loads: a required one with two
/// alternatives (the first does not exist) and a suggested one.
const NOTE_LIB: &str = r#"
#include <stdint.h>
#define DESC "[{\"soname\":[\"libdepclose-absent.so.9\",\"libz.so.1\"],\"feature\":\"zlib\",\"priority\":\"required\"},{\"soname\":[\"libdepclose-gone.so.3\"],\"priority\":\"suggested\"}]"
__attribute__((used, section(".note.dlopen"), aligned(4)))
static const struct {
    uint32_t namesz, descsz, type;
    char name[4];
    char desc[(sizeof(DESC) + 3) & ~3];
} note = {4, (sizeof(DESC) + 3) & ~3, 0x407c0c0a, "FDO", DESC};
int plugin_user(void) { return 1; }
"#;

fn target_of(run: &util::Run) -> Target {
    run.report().targets.into_iter().next().unwrap()
}

#[test]
fn a_dlopen_note_brings_its_library_and_names_the_suggested_one() {
    const TEST: &str = "a_dlopen_note_brings_its_library_and_names_the_suggested_one";
    if !util::have(TEST, &["cc", "/lib/x86_64-linux-gnu/libz.so.1"]) {
        return;
    }
    let env = TestEnv::new();
    util::cc(
        NOTE_LIB,
        &env.join("libuser.so.1"),
        &["-shared", "-fPIC", "-Wl,-soname,libuser.so.1"],
    );
    util::cc(
        "int plugin_user(void);\nint main(void) { return plugin_user() - 1; }\n",
        &env.join("app"),
        &[
            "-L.",
            "-l:libuser.so.1",
            &format!("-Wl,-rpath,{}", env.path().display()),
        ],
    );
    let app = env.join("app");
    let run = env.depclose([
        "--runtime".as_ref(),
        "-f".as_ref(),
        "json".as_ref(),
        app.as_os_str(),
    ]);
    run.assert_code(0);
    let t = target_of(&run);
    let libz = t
        .objects
        .iter()
        .find(|o| o.soname.as_deref() == Some("libz.so.1"))
        .unwrap_or_else(|| panic!("libz joins the closure\n{run}"));
    assert_eq!(libz.found.how, How::Recipe, "{run}");
    assert_eq!(libz.found.recipe.as_deref(), Some("dlopen-notes"));
    assert!(libz.runtime);
    let mention = t
        .added
        .iter()
        .find(|a| a.kind == AddedKind::Mention)
        .unwrap_or_else(|| panic!("the suggested library is named\n{run}"));
    assert_eq!(mention.value, "libdepclose-gone.so.3");
    assert_eq!(mention.object, None);
    assert_eq!(mention.evidence.kind, EvidenceKind::Note);
    // Without the recipe, nothing of it.
    let run = env.depclose([
        "--runtime".as_ref(),
        "--no-recipe".as_ref(),
        "dlopen-notes".as_ref(),
        "-f".as_ref(),
        "json".as_ref(),
        app.as_os_str(),
    ]);
    let t = target_of(&run);
    assert!(
        t.objects
            .iter()
            .all(|o| o.soname.as_deref() != Some("libz.so.1")),
        "{run}"
    );
    // The image holds it, and the program runs from there.
    if util::bwrap_works(TEST) {
        let root = rootfs(&env, "image", &[&app.to_string_lossy()]);
        let inside = Path::new("/").join(app.strip_prefix("/").unwrap());
        let (_, err, code) = in_image(&root, &[], &[&inside.to_string_lossy()], b"");
        assert_eq!(code, 0, "{err}");
        assert!(root.join("usr/lib/x86_64-linux-gnu/libz.so.1").exists());
    }
}

#[test]
fn dlopen_option_loads_a_name_as_the_program_would() {
    let env = TestEnv::new();
    let run = env.depclose([
        "--runtime",
        "--no-recipes",
        "--dlopen",
        "libz.so.1",
        "-f",
        "json",
        "/usr/bin/true",
    ]);
    run.assert_code(0);
    let t = target_of(&run);
    let runtime: Vec<&str> = t
        .objects
        .iter()
        .filter(|o| o.runtime)
        .map(|o| o.path.as_str())
        .collect();
    assert_eq!(runtime, ["/lib/x86_64-linux-gnu/libz.so.1"], "{run}");
    let libz = t.objects.iter().find(|o| o.runtime).unwrap();
    assert_eq!(libz.found.recipe.as_deref(), Some("dlopen-option"));
    assert_eq!(
        libz.found.evidence.as_ref().map(|e| e.kind),
        Some(EvidenceKind::Option)
    );
    assert_eq!(t.added.len(), 1, "{run}");
}

/// Every object a listing adds at run time is either loaded by a recipe (with its evidence)
/// or a dependency of what is; every addition names its recipe and evidence.
#[test]
fn every_run_time_addition_says_why() {
    const TEST: &str = "every_run_time_addition_says_why";
    if !util::have(TEST, &["/usr/bin/python3"]) {
        return;
    }
    let env = TestEnv::new();
    let run = env.depclose(["--runtime", "-f", "json", "/usr/bin/python3"]);
    let t = target_of(&run);
    assert!(
        t.added.iter().any(|a| a.recipe == "python"),
        "{}",
        run.brief()
    );
    assert!(
        t.added.iter().any(|a| a.recipe == "openssl"),
        "{}",
        run.brief()
    );
    let by_recipe: Vec<&str> = t
        .objects
        .iter()
        .filter(|o| o.found.how == How::Recipe)
        .map(|o| o.path.as_str())
        .collect();
    for o in t.objects.iter().filter(|o| o.runtime) {
        let why = o.found.how == How::Recipe
            || o.loader.as_deref().is_some_and(|l| {
                by_recipe.contains(&l) || t.objects.iter().any(|p| p.path == l && p.runtime)
            });
        assert!(why, "{} joined without a reason\n{}", o.path, run.brief());
        if o.found.how == How::Recipe {
            let e = o.found.evidence.as_ref().unwrap();
            assert!(!e.text.is_empty() && o.found.recipe.is_some(), "{}", o.path);
        }
    }
    for a in &t.added {
        assert!(!a.recipe.is_empty() && !a.evidence.text.is_empty(), "{a:?}");
        if a.evidence.kind == EvidenceKind::ConfigLine {
            assert!(
                a.evidence.file.is_some() && a.evidence.line.is_some(),
                "{a:?}"
            );
        }
    }
}

#[test]
fn bad_recipe_options_are_usage_errors() {
    let env = TestEnv::new();
    for (args, needle) in [
        (&["--no-recipe", "nope"][..], "no such recipe"),
        (&["--with", "nope"][..], "unknown data"),
        (&["--gconv", ","][..], "expected character set names"),
    ] {
        let mut all = args.to_vec();
        all.push("/usr/bin/true");
        let run = env.depclose(&all);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{run}");
    }
    let run = env.depclose(["--runtime", "--gconv", "NO-SUCH-CHARSET", "/usr/bin/iconv"]);
    run.assert_code(2);
    assert!(run.stderr.contains("no gconv module"), "{run}");
}

/// Serve with nginx from an image under bubblewrap until `get` answers, then stop it by its
/// pid: the response's head and body.
fn nginx_answers(
    env: &TestEnv,
    root: &Path,
    argv: &[&str],
    port: u16,
    path: &str,
) -> (String, Vec<u8>) {
    let mut cmd = util::bwrap(root);
    cmd.args(argv);
    let mut server = Server::spawn(
        &mut cmd,
        "nginx",
        &env.join("nginx.out"),
        Duration::from_secs(10),
    );
    server.logs.push(root.join("var/log/nginx/error.log"));
    let answer = wait_for_http(&mut server, port, path, Duration::from_secs(10));
    assert!(
        server.stop().is_some(),
        "nginx ignored SIGTERM\n{}",
        server.logs()
    );
    answer
}

#[test]
fn nginx_serves_with_its_default_configuration() {
    const TEST: &str = "nginx_serves_with_its_default_configuration";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["nginx"]) {
        return;
    }
    // Debian's default site listens on port 80.
    if let Err(e) = std::net::TcpListener::bind("127.0.0.1:80") {
        util::skip(TEST, format!("port 80 is taken here ({e})"));
        return;
    }
    let env = TestEnv::new();
    depclose(&env, 0, &["nginx", "--emit", "nginx.tar"]).assert_code(0);
    let image = Image::read(&env.join("nginx.tar"));
    assert_eq!(image.argv(), ["/usr/sbin/nginx", "-g", "daemon off;"]);
    let root = extract_layer(&image, &env, "nginx");
    let argv: Vec<String> = image.argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (head, body) = nginx_answers(&env, &root, &argv, 80, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Debian's default site: whichever index page the root has (Apache's, if installed).
    assert!(head.contains("Server: nginx"), "{head}");
    assert!(!body.is_empty(), "{head}");
}

#[test]
fn nginx_loads_the_dynamic_module_its_configuration_includes() {
    const TEST: &str = "nginx_loads_the_dynamic_module_its_configuration_includes";
    const ECHO: &str = "/etc/nginx/modules-enabled/50-mod-http-echo.conf";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["nginx", ECHO]) {
        return;
    }
    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => {
            util::skip(TEST, format!("cannot listen on 127.0.0.1: {e}"));
            return;
        }
    };
    let env = TestEnv::new();
    let conf = env.write(
        "site.conf",
        format!(
            "include /etc/nginx/modules-enabled/*.conf;\n\
             pid /tmp/nginx.pid;\n\
             events {{ worker_connections 16; }}\n\
             http {{\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ echo \"echoed by a dynamic module\"; }}\n  }}\n}}\n"
        ),
    );
    let add = format!("{}:/etc/nginx-test.conf", conf.display());
    let run = depclose(
        &env,
        0,
        &[
            "nginx",
            "--add",
            &add,
            "--cmd",
            "-c",
            "--cmd",
            "/etc/nginx-test.conf",
            "--emit",
            "nginx.tar",
        ],
    );
    run.assert_code(0);
    let image = Image::read(&env.join("nginx.tar"));
    let root = extract_layer(&image, &env, "nginx");
    assert!(
        root.join("usr/lib/nginx/modules/ngx_http_echo_module.so")
            .is_file(),
        "{run}"
    );
    let argv = [
        "/usr/sbin/nginx",
        "-c",
        "/etc/nginx-test.conf",
        "-g",
        "daemon off;",
    ];
    let (head, body) = nginx_answers(&env, &root, &argv, port, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Chunked: the echo module streams its output.
    assert!(
        String::from_utf8_lossy(&body).contains("echoed by a dynamic module\n"),
        "{head}"
    );
}

/// A configuration that names no log gets one a container shows: `-C` directives run before
/// the configuration file, so a log it names would still win.
#[test]
fn apache_logs_to_the_container_where_its_configuration_names_none() {
    const TEST: &str = "apache_logs_to_the_container_where_its_configuration_names_none";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["apache2"]) {
        return;
    }
    let env = TestEnv::new();
    let conf = env.write(
        "apache2.conf",
        "ServerName localhost\nListen 127.0.0.1:8080\n\
         LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n\
         LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
         PidFile /tmp/httpd.pid\nMutex file:/tmp default\n",
    );
    let add = format!("{}:/etc/apache2/apache2.conf", conf.display());
    depclose(&env, 0, &["apache2", "--add", &add, "--emit", "a.tar"]).assert_code(0);
    let image = Image::read(&env.join("a.tar"));
    let argv = image.argv();
    assert_eq!(
        argv,
        [
            "/usr/sbin/apache2",
            "-D",
            "FOREGROUND",
            "-C",
            "ErrorLog /dev/stderr",
            "-C",
            "CustomLog /dev/stdout \"%h %l %u %t \\\"%r\\\" %>s %b\"",
        ]
    );
    // httpd itself accepts that command line with this configuration.
    let root = extract_layer(&image, &env, "a");
    let mut check: Vec<&str> = argv.iter().map(String::as_str).collect();
    check.push("-t");
    let (_, err, code) = in_image(&root, &[], &check, b"");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Syntax OK"), "{err}");
}

/// With an image, `--format json` reports what it holds and why: the loader's objects, the
/// recipes' additions, and what the user added.
#[test]
fn an_image_report_says_why_each_addition_is_there() {
    let env = TestEnv::new();
    let extra = env.write("motd", "hello\n");
    let rootfs = env.join("rootfs");
    let run = env.depclose([
        "/usr/bin/true".as_ref(),
        "--add".as_ref(),
        format!("{}:/etc/motd", extra.display()).as_ref(),
        "--emit-rootfs".as_ref(),
        rootfs.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    run.assert_code(0);
    let report = run.report();
    let image = report
        .image
        .as_ref()
        .unwrap_or_else(|| panic!("no image section\n{run}"));
    assert_eq!(image.additions.len(), 1, "{run}");
    assert_eq!(image.additions[0].destination, "/etc/motd");
    assert_eq!(image.additions[0].source, extra.display().to_string());
    let t = &report.targets[0];
    assert!(
        t.added
            .iter()
            .any(|a| a.recipe == "libgcc_s" && a.kind == AddedKind::Load),
        "{run}"
    );
    assert!(rootfs.join("etc/motd").is_file());
    // A listing has no image section; stdout that carries the image takes no report.
    let listing = env.depclose(["-f", "json", "/usr/bin/true"]);
    assert!(listing.report().image.is_none());
    let refused = env.depclose(["/usr/bin/true", "--emit", "-", "-f", "json"]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("stdout carries the image"),
        "{refused}"
    );
}

/// A run-time load that fails (a file that is no ELF object) is a miss, as a failed `dlopen`
/// returns NULL: the loads after it still join, and the closure is complete.
#[test]
fn a_failed_run_time_load_stops_nothing() {
    let env = TestEnv::new();
    let junk = env.write("junk.so", "not an ELF object\n");
    let run = env.depclose([
        "--runtime".as_ref(),
        "--no-recipes".as_ref(),
        "--dlopen".as_ref(),
        junk.as_os_str(),
        "--dlopen".as_ref(),
        "libz.so.1".as_ref(),
        "-f".as_ref(),
        "json".as_ref(),
        "/usr/bin/true".as_ref(),
    ]);
    run.assert_code(0);
    let t = target_of(&run);
    assert!(t.fatal.is_none(), "{run}");
    assert!(
        t.objects
            .iter()
            .any(|o| o.soname.as_deref() == Some("libz.so.1")),
        "{run}"
    );
    assert!(
        t.missing.iter().any(|m| m.name == junk.to_string_lossy()),
        "{run}"
    );
}

/// A file the user adds where a recipe's symlink leads (OpenSSL's configuration) is the
/// image's, and the recipe reads it: what it includes comes along.
#[test]
fn an_added_file_behind_a_recipe_symlink_wins() {
    const TEST: &str = "an_added_file_behind_a_recipe_symlink_wins";
    if !util::have(TEST, &["/usr/bin/openssl", "/etc/ssl/openssl.cnf"]) {
        return;
    }
    let env = TestEnv::new();
    let extra = env.write("extra.cnf", "# included\n");
    let conf = env.write(
        "openssl.cnf",
        format!("# mine\n.include {}\n", extra.display()),
    );
    let add = format!("{}:/etc/ssl/openssl.cnf", conf.display());
    let root = rootfs(&env, "img", &["/usr/bin/openssl", "--add", &add]);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ssl/openssl.cnf")).unwrap(),
        std::fs::read_to_string(&conf).unwrap()
    );
    assert!(root.join(extra.strip_prefix("/").unwrap()).is_file());
}

#[test]
fn locales_come_from_the_archive_directory() {
    const TEST: &str = "locales_come_from_the_archive_directory";
    if !util::bwrap_works(TEST)
        || !util::have(
            TEST,
            &["/usr/bin/locale", "/usr/lib/locale/C.utf8/LC_CTYPE"],
        )
    {
        return;
    }
    let env = TestEnv::new();
    let root = rootfs(&env, "loc", &["/usr/bin/locale", "--with", "locales"]);
    assert!(root.join("usr/lib/locale").is_dir());
    let (_, err, code) = in_image(&root, &[("LANG", "C.UTF-8")], &["/usr/bin/locale"], b"");
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Cannot set"), "{err}");
}

/// `#!/usr/bin/env python3`: env runs python3 from PATH, so python3 (and its recipes) join.
#[test]
fn a_script_run_through_env_brings_its_program() {
    const TEST: &str = "a_script_run_through_env_brings_its_program";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["/usr/bin/python3", "/usr/bin/env"]) {
        return;
    }
    let env = TestEnv::new();
    let script = env.write(
        "s.py",
        "#!/usr/bin/env python3\nimport json\nprint(json.dumps([1]))\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = rootfs(&env, "img", &[&script.to_string_lossy()]);
    let (out, err, code) = in_image(&root, &[], &[&script.to_string_lossy()], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "[1]\n");
}

/// A module the configuration loads that is not there stops the server: the image is
/// refused with the line that names it.
#[test]
fn a_configured_module_that_is_missing_is_an_error() {
    const TEST: &str = "a_configured_module_that_is_missing_is_an_error";
    if !util::have(TEST, &["nginx"]) {
        return;
    }
    let env = TestEnv::new();
    let conf = env.write(
        "nginx.conf",
        "load_module /usr/lib/nginx/modules/ngx_depclose_none.so;\nevents {}\n",
    );
    let add = format!("{}:/etc/nginx/nginx.conf", conf.display());
    let run = env.depclose(["nginx", "--add", &add, "--emit-rootfs", "out"]);
    run.assert_code(2);
    assert!(run.stderr.contains("/etc/nginx/nginx.conf:1:"), "{run}");
    assert!(!env.join("out").exists(), "{run}");
}

/// A virtual environment's program imports from the environment: its `pyvenv.cfg` and
/// site-packages come along.
#[test]
fn a_virtual_environment_keeps_its_packages() {
    const TEST: &str = "a_virtual_environment_keeps_its_packages";
    if !util::bwrap_works(TEST) || !util::have(TEST, &["/usr/bin/python3"]) {
        return;
    }
    let env = TestEnv::new();
    let venv = env.join("venv");
    let made = util::run(
        command("/usr/bin/python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    if made.code != Some(0) {
        util::skip(
            TEST,
            format!("python3 -m venv does not work here: {}", made.stderr),
        );
        return;
    }
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .unwrap();
    std::fs::create_dir(site.join("depclose_pkg")).unwrap();
    std::fs::write(site.join("depclose_pkg/__init__.py"), "X = 42\n").unwrap();
    let python = venv.join("bin/python");
    let root = rootfs(&env, "img", &[&python.to_string_lossy()]);
    let argv = [
        python.to_str().unwrap(),
        "-c",
        "import sys, depclose_pkg; print(sys.prefix, depclose_pkg.X)",
    ];
    let (out, err, code) = in_image(&root, &[], &argv, b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{} 42\n", venv.display())
    );
}

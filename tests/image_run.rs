//! Images run with nothing else present: from `--emit-rootfs` and from the extracted layer,
//! in a `chroot`, `true`, bash and ls; Apache serving a page (compressed by a module, through
//! a library only the module needs) from its image, stopped by its pid.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::image::{Image, Server, assert_same_tree, depclose, random_epoch};
use crate::util::{self, TestEnv, command, run_ok};

#[test]
fn images_run_in_a_chroot_with_nothing_else() {
    if !util::chroot_works("images_run_in_a_chroot_with_nothing_else") {
        return;
    }
    let env = TestEnv::new();
    let cases: [(&str, &[&str], Option<&str>); 3] = [
        ("/usr/bin/true", &[], Some("")),
        ("bash", &["--cmd", "-c", "--cmd", "echo ok"], Some("ok\n")),
        // `ls /` prints the image's top level: derived from the layer below.
        ("ls", &["--cmd", "/"], None),
    ];
    for (i, (target, extra, stdout)) in cases.into_iter().enumerate() {
        let (tar, rootfs) = (format!("img{i}.tar"), format!("rootfs{i}"));
        let mut args = vec![target, "--emit", &tar, "--emit-rootfs", &rootfs];
        args.extend(extra);
        depclose(&env, random_epoch(), &args).assert_code(0);
        let image = Image::read(&env.join(&tar));
        let from_layer = extract_layer(&image, &env, &format!("layer{i}"));
        assert_same_tree(&from_layer, &env.join(&rootfs));

        let want = match stdout {
            Some(s) => s.to_owned(),
            None => {
                let top: BTreeSet<&str> = image
                    .layer
                    .iter()
                    .map(|m| m.name.split('/').next().unwrap())
                    .collect();
                top.into_iter().map(|n| format!("{n}\n")).collect()
            }
        };
        let argv = image.argv();
        for dir in [env.join(&rootfs), from_layer] {
            // The loader inside finds everything on its own...
            let list = run_ok(
                command("chroot")
                    .arg(&dir)
                    .args([util::LDSO, "--list", &argv[0]]),
            );
            assert!(!list.stdout.contains("not found"), "{list}");
            // ...and the program runs.
            let r = util::run(command("chroot").arg(&dir).args(&argv));
            assert_eq!(
                (r.code, r.stdout.as_str(), r.stderr.as_str()),
                (Some(0), want.as_str(), ""),
                "{target} in {}\n{r}",
                dir.display()
            );
        }
    }
}

const APACHE_MODULES: &str = "/usr/lib/apache2/modules";

fn apache_config(port: u16) -> String {
    let m = APACHE_MODULES;
    format!(
        "ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule mime_module {m}/mod_mime.so
LoadModule dir_module {m}/mod_dir.so
LoadModule filter_module {m}/mod_filter.so
LoadModule deflate_module {m}/mod_deflate.so
User www-data
Group www-data
PidFile /tmp/httpd.pid
ErrorLog /tmp/error.log
Mutex file:/tmp default
TypesConfig /etc/mime.types
DocumentRoot /srv/www
DirectoryIndex index.html
AddOutputFilterByType DEFLATE text/html
<Directory /srv/www>
    Require all granted
</Directory>
"
    )
}

#[test]
fn apache_serves_a_page_from_its_image() {
    const TEST: &str = "apache_serves_a_page_from_its_image";
    if !util::chroot_works(TEST) || !util::have(TEST, &["apache2"]) {
        return;
    }
    assert!(
        Path::new(APACHE_MODULES).is_dir(),
        "apache2 without {APACHE_MODULES}"
    );
    let env = TestEnv::new();
    depclose(
        &env,
        random_epoch(),
        &[
            "apache2",
            "--add",
            APACHE_MODULES,
            "--add",
            "/etc/apache2",
            "--add",
            "/etc/mime.types",
            "--user",
            "www-data",
            "--emit",
            "httpd.tar",
        ],
    )
    .assert_code(0);
    let image = Image::read(&env.join("httpd.tar"));
    assert_eq!(image.config["config"]["User"], "www-data");
    assert_eq!(image.argv(), ["/usr/sbin/apache2"]);
    let root = extract_layer(&image, &env, "httpd");

    // Apache listens on loopback: a machine without it cannot serve the page.
    let port = match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => {
            util::skip(TEST, format!("cannot listen on 127.0.0.1: {e}"));
            return;
        }
    };
    fs::write(root.join("etc/httpd-test.conf"), apache_config(port)).unwrap();
    // Long enough for mod_deflate to compress it (through libz, which only a module needs).
    let page = format!(
        "<h1>served by depclose's image</h1>\n{}\n",
        "<p>depclose</p>\n".repeat(100)
    );
    fs::create_dir_all(root.join("srv/www")).unwrap();
    fs::write(root.join("srv/www/index.html"), &page).unwrap();

    let mut server = Server::spawn(
        command("chroot").arg(&root).args([
            "/usr/sbin/apache2",
            "-f",
            "/etc/httpd-test.conf",
            "-DFOREGROUND",
        ]),
        "apache2",
        &env.join("apache.out"),
        Duration::from_secs(10),
    );
    server.logs.push(root.join("tmp/error.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let (head, body) = loop {
        match http_get(port, "/", "") {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    server.running(),
                    "apache2 exited before it served: {e}\n{}",
                    server.logs()
                );
                assert!(
                    Instant::now() < deadline,
                    "apache2 did not answer within 10 s: {e}\n{}",
                    server.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{head}\n{}",
        server.logs()
    );
    assert_eq!(String::from_utf8_lossy(&body), page, "{head}");

    let (head, body) = http_get(port, "/", "Accept-Encoding: gzip\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("Content-Encoding: gzip")),
        "mod_deflate did not compress:\n{head}\n{}",
        server.logs()
    );
    assert_eq!(body.get(..2), Some(&[0x1f, 0x8b][..]), "not gzip data");

    let status = server.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "apache2 after SIGTERM: {status:?}\n{}",
        server.logs()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after apache2 stopped"
    );
}

/// Extract a layer with GNU tar into a new empty directory.
fn extract_layer(image: &Image, env: &TestEnv, name: &str) -> PathBuf {
    let blob = env.write(&format!("{name}.layer.tar"), image.layer_bytes());
    let dir = env.join(name);
    fs::create_dir(&dir).unwrap();
    run_ok(
        command("tar")
            .args(["--numeric-owner", "-xpf"])
            .arg(&blob)
            .arg("-C")
            .arg(&dir),
    );
    dir
}

/// One HTTP/1.1 GET: the head as text and the raw body.
fn http_get(port: u16, path: &str, extra: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
    )?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    Ok((head, all[split + 4..].to_vec()))
}

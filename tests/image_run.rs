//! Images run with nothing else present: from `--emit-rootfs` and from the extracted layer,
//! in a `chroot`, `true`, bash and ls; Apache serving a page (compressed by a module, through
//! a library only the module needs) from its image, stopped by its pid.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::util::image::{
    Image, Server, assert_same_tree, depclose, extract_layer, http_get, random_epoch, wait_for_http,
};
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

/// A site of its own: plain HTTP on one port, TLS with HTTP/2 on another, compression. Its
/// modules are named only here; depclose finds them by reading it.
fn apache_config(port: u16, tls_port: u16) -> String {
    let m = APACHE_MODULES;
    format!(
        "ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:{port}
Listen 127.0.0.1:{tls_port}
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule mime_module {m}/mod_mime.so
LoadModule dir_module {m}/mod_dir.so
LoadModule filter_module {m}/mod_filter.so
LoadModule deflate_module {m}/mod_deflate.so
LoadModule socache_shmcb_module {m}/mod_socache_shmcb.so
LoadModule ssl_module {m}/mod_ssl.so
LoadModule http2_module {m}/mod_http2.so
User www-data
Group www-data
PidFile /tmp/httpd.pid
ErrorLog /tmp/error.log
Mutex file:/tmp default
TypesConfig /etc/mime.types
DocumentRoot /srv/www
DirectoryIndex index.html
AddOutputFilterByType DEFLATE text/html
Protocols h2 http/1.1
<Directory /srv/www>
    Require all granted
</Directory>
<VirtualHost 127.0.0.1:{tls_port}>
    SSLEngine on
    SSLCertificateFile /etc/httpd-test.crt
    SSLCertificateKeyFile /etc/httpd-test.key
</VirtualHost>
"
    )
}

/// Two free loopback ports, or why there are none.
fn free_ports() -> std::io::Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

#[test]
fn apache_serves_a_site_from_its_image_with_only_its_config_added() {
    const TEST: &str = "apache_serves_a_site_from_its_image_with_only_its_config_added";
    if !util::chroot_works(TEST) || !util::have(TEST, &["apache2", "openssl", "curl"]) {
        return;
    }
    assert!(
        Path::new(APACHE_MODULES).join("mod_http2.so").is_file(),
        "apache2 without {APACHE_MODULES}/mod_http2.so"
    );
    // Apache listens on loopback: a machine without it cannot serve the page.
    let (port, tls_port) = match free_ports() {
        Ok(p) => p,
        Err(e) => {
            util::skip(TEST, format!("cannot listen on 127.0.0.1: {e}"));
            return;
        }
    };
    let env = TestEnv::new();
    let conf = env.write("site.conf", apache_config(port, tls_port));
    run_ok(command("openssl").current_dir(env.path()).args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "site.key",
        "-out",
        "site.crt",
        "-subj",
        "/CN=localhost",
        "-days",
        "1",
    ]));
    // Long enough for mod_deflate to compress it (through libz, which only a module needs).
    let page = format!(
        "<h1>served by depclose's image</h1>\n{}\n",
        "<p>depclose</p>\n".repeat(100)
    );
    env.write("www/index.html", &page);
    let add = |src: &str, dest: &str| format!("{}:{dest}", env.join(src).display());
    let run = depclose(
        &env,
        random_epoch(),
        &[
            "apache2",
            "--add",
            &add("site.conf", "/etc/httpd-test.conf"),
            "--add",
            &add("site.crt", "/etc/httpd-test.crt"),
            "--add",
            &add("site.key", "/etc/httpd-test.key"),
            "--add",
            &add("www", "/srv/www"),
            "--cmd",
            "-f",
            "--cmd",
            "/etc/httpd-test.conf",
            "--emit",
            "httpd.tar",
        ],
    );
    run.assert_code(0);
    let image = Image::read(&env.join("httpd.tar"));
    assert_eq!(
        image.argv(),
        ["/usr/sbin/apache2", "-f", "/etc/httpd-test.conf"]
    );
    let root = extract_layer(&image, &env, "httpd");
    // The modules the site loads, found by reading it, and nothing of Debian's own config.
    for module in ["mod_ssl.so", "mod_http2.so", "mod_deflate.so"] {
        assert!(
            root.join("usr/lib/apache2/modules").join(module).is_file(),
            "{module}\n{run}"
        );
    }
    assert!(!root.join("usr/lib/apache2/modules/mod_status.so").exists());
    assert!(
        root.join("etc/ssl/openssl.cnf").is_file() || root.join("usr/lib/ssl/openssl.cnf").exists()
    );
    assert!(conf.is_file());

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
    let (head, body) = wait_for_http(&mut server, port, "/", Duration::from_secs(10));
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

    // TLS (mod_ssl, OpenSSL from the image) speaking HTTP/2 (mod_http2).
    let tls = util::run(command("curl").args([
        "-sk",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{response_code}",
        &format!("https://127.0.0.1:{tls_port}/"),
    ]));
    assert_eq!(tls.stdout, "2 200", "{tls}\n{}", server.logs());

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

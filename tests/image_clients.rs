//! Real clients read and run the image: skopeo (both transports check every digest) and
//! umoci, the Docker engine and podman. The engines keep their state in the test's temp dir
//! and are stopped by their pid, even when the test fails; each first runs a container of
//! its own, so that an engine this machine cannot run is a skip, not a failure.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::engine::{Docker, HostLeftovers, PROBE, probe_tar};
use crate::util::image::{Server, assert_same_tree, depclose, extra_tree, http_get, random_epoch};
use crate::util::{self, Run, TestEnv, command, run_ok};

#[test]
fn skopeo_and_umoci_accept_the_image() {
    const TEST: &str = "skopeo_and_umoci_accept_the_image";
    if !util::have(TEST, &["skopeo", "umoci"]) {
        return;
    }
    let env = TestEnv::new();
    let extra = extra_tree(&env);
    let add = format!("{}:/opt/extra", extra.display());
    depclose(
        &env,
        random_epoch(),
        &[
            "ls",
            "--add",
            &add,
            "--cmd",
            "-l",
            "--user",
            "nobody",
            "--workdir",
            "/opt",
            "--env",
            "LANG=C",
            "--label",
            "org.example.test=yes",
            "--emit",
            "ls.tar",
            "--emit-rootfs",
            "rootfs",
            // With its SBOM beside it in the tar: the clients must take that too.
            "--sbom",
            "ls.spdx.json",
        ],
    )
    .assert_code(0);

    // Both transports check every digest.
    run_ok(command("skopeo").current_dir(env.path()).args([
        "copy",
        "docker-archive:ls.tar",
        "oci:from-docker:t",
    ]));
    run_ok(command("skopeo").current_dir(env.path()).args([
        "copy",
        "oci-archive:ls.tar",
        "oci:from-oci:t",
    ]));

    for dir in ["from-docker", "from-oci"] {
        let json = |args: &[&str]| -> Value {
            let r = run_ok(
                command("skopeo")
                    .current_dir(env.path())
                    .arg("inspect")
                    .args(args)
                    .arg(format!("oci:{dir}:t")),
            );
            serde_json::from_str(&r.stdout).unwrap()
        };
        let info = json(&[]);
        assert_eq!(info["Architecture"], "amd64", "{dir}");
        assert_eq!(info["Os"], "linux", "{dir}");
        assert_eq!(
            info["Layers"].as_array().map(Vec::len),
            Some(1),
            "{dir}: {info}"
        );
        assert_eq!(info["Labels"]["org.example.test"], "yes", "{dir}");
        let config = json(&["--config"]);
        let c = &config["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/ls"]), "{dir}");
        assert_eq!(c["Cmd"], serde_json::json!(["-l"]), "{dir}");
        assert_eq!(c["User"], "nobody", "{dir}");
        assert_eq!(c["WorkingDir"], "/opt", "{dir}");
        assert_eq!(
            c["Env"],
            serde_json::json!([format!("PATH={}", util::PATH), "LANG=C"]),
            "{dir}"
        );

        let bundle = env.join(format!("bundle-{dir}"));
        let mut umoci = command("umoci");
        umoci.current_dir(env.path()).arg("unpack");
        if !util::is_root() {
            umoci.arg("--rootless");
        }
        run_ok(umoci.arg("--image").arg(format!("{dir}:t")).arg(&bundle));
        assert_same_tree(&bundle.join("rootfs"), &env.join("rootfs"));
    }
}

/// Two images every engine must run: `true`, and bash printing `ok`; each with an SBOM in
/// its tar (SPDX, CycloneDX), which the engines must take too.
fn engine_images(env: &TestEnv, prefix: &str) -> [(String, &'static str); 2] {
    let epoch = random_epoch();
    let t = format!("depclose-test/{prefix}-true:1");
    let b = format!("depclose-test/{prefix}-bash:1");
    depclose(
        env,
        epoch,
        &[
            "/usr/bin/true",
            "--tag",
            &t,
            "--emit",
            "true.tar",
            "--sbom",
            "true.spdx.json",
        ],
    )
    .assert_code(0);
    depclose(
        env,
        epoch,
        &[
            "bash",
            "--cmd",
            "-c",
            "--cmd",
            "echo ok",
            "--tag",
            &b,
            "--emit",
            "bash.tar",
            "--sbom",
            "bash.cdx.json",
            "--sbom-format",
            "cyclonedx",
        ],
    )
    .assert_code(0);
    [(t, ""), (b, "ok\n")]
}

#[test]
fn docker_loads_and_runs_the_image() {
    const TEST: &str = "docker_loads_and_runs_the_image";
    let env = TestEnv::new();
    let Some(docker) = Docker::start(&env, TEST, &[]) else {
        return;
    };
    let images = engine_images(&env, "docker");
    for ((tag, want), file) in images.iter().zip(["true.tar", "bash.tar"]) {
        let r = docker.run(&["load", "-i", file]);
        assert_eq!(r.code, Some(0), "{r}\n{}", docker.daemon.logs());
        assert!(r.stdout.contains(&format!("Loaded image: {tag}")), "{r}");
        let r = docker.run(&["run", "--rm", "--network", "none", tag]);
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (Some(0), *want),
            "{r}\n{}",
            docker.daemon.logs()
        );
    }
    apache_in_docker(&env, &|args| docker.run(args), &docker.daemon);
    docker.stop();
}

/// `depclose apache2 --emit` with Debian's own configuration, started by the engine with no
/// arguments, answers HTTP on port 80 (the host's network: the engine has no bridge here).
fn apache_in_docker(env: &TestEnv, docker: &dyn Fn(&[&str]) -> Run, daemon: &Server) {
    const TEST: &str = "docker_loads_and_runs_the_image (apache2)";
    if !util::have(TEST, &["apache2"]) {
        return;
    }
    if let Err(e) = std::net::TcpListener::bind("127.0.0.1:80") {
        util::skip(
            TEST,
            format!("port 80 is taken here ({e}); Debian's apache2.conf listens there"),
        );
        return;
    }
    let tag = "depclose-test/apache2:1";
    depclose(
        env,
        random_epoch(),
        &["apache2", "--tag", tag, "--emit", "apache2.tar"],
    )
    .assert_code(0);
    let r = docker(&["load", "-i", "apache2.tar"]);
    assert_eq!(r.code, Some(0), "{r}\n{}", daemon.logs());
    let r = docker(&[
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "depclose-test-apache2",
        tag,
    ]);
    assert_eq!(r.code, Some(0), "{r}\n{}", daemon.logs());
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match http_get(80, "/", "") {
            Ok((head, _)) => break Ok(head),
            Err(e) if Instant::now() >= deadline => break Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let logs = docker(&["logs", "depclose-test-apache2"]);
    let removed = docker(&["rm", "-f", "depclose-test-apache2"]);
    let head = answer.unwrap_or_else(|e| panic!("apache2 did not answer on port 80: {e}\n{logs}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{logs}");
    assert_eq!(removed.code, Some(0), "{removed}");
}

#[test]
fn podman_loads_and_runs_the_image() {
    const TEST: &str = "podman_loads_and_runs_the_image";
    if !util::need_root(TEST, "podman with cgroupfs")
        || !util::have(TEST, &["podman", "runc", "cc"])
    {
        return;
    }
    let env = TestEnv::new();
    let d = env.join("podman");
    fs::create_dir(&d).unwrap();
    let _leftovers = HostLeftovers::note(&["/run/runc"]);
    // crun and podman's default ulimits fail on some of these machines; runc with these
    // limits works on all of them.
    let podman = |args: &[&str]| -> Run {
        util::run(
            command("podman")
                .env("HOME", &d)
                .current_dir(env.path())
                .arg("--root")
                .arg(d.join("root"))
                .arg("--runroot")
                .arg(d.join("run"))
                .arg("--tmpdir")
                .arg(d.join("tmp"))
                .args([
                    "--storage-driver",
                    "vfs",
                    "--cgroup-manager",
                    "cgroupfs",
                    "--events-backend",
                    "file",
                ])
                .args(args),
        )
    };
    let run_args = [
        "run",
        "--rm",
        "--network=none",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let imported = podman(&["import", probe_tar(&env), PROBE]);
    let mut args = run_args.to_vec();
    args.extend([PROBE, "/probe"]);
    let ran = podman(&args);
    if let Some(r) = [imported, ran].iter().find(|r| r.code != Some(0)) {
        util::skip(
            TEST,
            format!("podman cannot run an image of its own here: {}", r.stderr),
        );
        return;
    }
    let images = engine_images(&env, "podman");
    for ((tag, want), file) in images.iter().zip(["true.tar", "bash.tar"]) {
        let r = podman(&["load", "-i", file]);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(
            r.stdout.contains(&format!("Loaded image: docker.io/{tag}")),
            "{r}"
        );
        let mut args = run_args.to_vec();
        args.push(tag);
        let r = podman(&args);
        assert_eq!((r.code, r.stdout.as_str()), (Some(0), *want), "{r}");
    }
}

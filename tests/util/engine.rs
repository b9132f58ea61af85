//! Container engines for the tests: a private Docker daemon whose state is in the test's
//! temp dir, stopped by its pid even when the test fails; the probe image every engine must
//! run before it may judge depclose's; paths engines write outside their state directories.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::util::image::Server;
use crate::util::{self, Run, TestEnv, command, run_ok};

/// Paths dockerd and podman write outside the state directories they are given; those that did not exist before the test are removed after it.
pub(crate) struct HostLeftovers(Vec<PathBuf>);

impl HostLeftovers {
    pub(crate) fn note(paths: &[&str]) -> HostLeftovers {
        HostLeftovers(
            paths
                .iter()
                .map(PathBuf::from)
                .filter(|p| fs::symlink_metadata(p).is_err())
                .collect(),
        )
    }
}

impl Drop for HostLeftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(p),
                Ok(_) => fs::remove_file(p),
                Err(_) => Ok(()),
            };
        }
    }
}

/// The tag of the engines' own probe image.
pub(crate) const PROBE: &str = "depclose-test/probe:1";

/// `probe.tar` in the test's dir: a root holding only a static program, `/probe`, that exits
/// 0, packed by GNU tar. An engine must import and run it before it is asked to run
/// depclose's images: what fails there is the engine on this machine (cgroups, namespaces,
/// storage, the runtime), not an image.
pub(crate) fn probe_tar(env: &TestEnv) -> &'static str {
    let dir = env.join("probe-rootfs");
    fs::create_dir(&dir).unwrap();
    util::static_probe(&dir);
    run_ok(
        command("tar")
            .arg("-C")
            .arg(&dir)
            .arg("-cf")
            .arg(env.join("probe.tar"))
            .arg("."),
    );
    "probe.tar"
}

/// A private dockerd (its socket, data, exec root and client config in the test's dir)
/// that has run the probe image.
pub(crate) struct Docker {
    pub(crate) daemon: Server,
    sock: PathBuf,
    client: PathBuf,
    cwd: PathBuf,
    // Dropped after the daemon has stopped.
    _leftovers: HostLeftovers,
}

impl Docker {
    /// Starts dockerd with `extra` flags and runs the probe; `None` (the test skipped,
    /// saying why) when this machine cannot: not root, no dockerd, an engine that does not
    /// start or cannot run a container of its own.
    pub(crate) fn start(env: &TestEnv, test: &str, extra: &[String]) -> Option<Docker> {
        if !util::need_root(test, "dockerd") || !util::have(test, &["dockerd", "docker", "cc"]) {
            return None;
        }
        let d = env.join("docker");
        fs::create_dir(&d).unwrap();
        let leftovers = HostLeftovers::note(&[
            "/etc/docker/key.json",
            "/run/docker",
            "/run/containerd",
            "/opt/containerd",
        ]);
        let sock = d.join("docker.sock");
        let mut dockerd = command("dockerd");
        dockerd
            .arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .args(extra);
        let daemon = Server::spawn(
            &mut dockerd,
            "dockerd",
            &d.join("log"),
            Duration::from_secs(30),
        );
        let mut docker = Docker {
            daemon,
            sock,
            client: d.join("client"),
            cwd: env.path().to_path_buf(),
            _leftovers: leftovers,
        };
        // The engine must start and run a container of its own before it can judge ours: a
        // kernel without what dockerd needs (cgroups, namespaces, a storage driver) is a
        // different machine, not a depclose bug.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if docker.run(&["version"]).code == Some(0) {
                break;
            }
            if !docker.daemon.running() || Instant::now() >= deadline {
                let last = docker.daemon.last_log_line();
                util::skip(test, format!("dockerd does not start here: {last}"));
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let imported = docker.run(&["import", probe_tar(env), PROBE]);
        let ran = docker.run(&["run", "--rm", "--network", "none", PROBE, "/probe"]);
        if let Some(r) = [imported, ran].iter().find(|r| r.code != Some(0)) {
            util::skip(
                test,
                format!("docker cannot run an image of its own here: {}", r.stderr),
            );
            return None;
        }
        Some(docker)
    }

    /// `docker ARGS` against this daemon, in the test's dir.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        util::run(
            command("docker")
                .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
                .env("DOCKER_CONFIG", &self.client)
                .current_dir(&self.cwd)
                .args(args),
        )
    }

    /// Stops the daemon by its pid; it must exit on SIGTERM.
    pub(crate) fn stop(mut self) {
        let status = self.daemon.stop();
        assert!(
            status.is_some(),
            "dockerd ignored SIGTERM\n{}",
            self.daemon.logs()
        );
    }
}

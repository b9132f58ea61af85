//! `--trace`: what a real run executes, maps and opens joins the static closure, and the
//! image it makes runs that command from its own files alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::report::{EvidenceKind, How, LeftOutWhy};
use crate::util::{self, TestEnv};

const LAUNCHER: &str = include_str!("../fixtures/src/trace/launcher.c");
const HELPER: &str = include_str!("../fixtures/src/trace/helper.c");
const PLUGIN: &str = include_str!("../fixtures/src/trace/plugin.c");
const FORKER: &str = include_str!("../fixtures/src/trace/forker.c");

/// The answer the helper prints when it found its plugin and the plugin found libz.
const ANSWER: &str = "plugin says: 42 (zlib ";

/// `opt/fx/bin/launcher`, which executes `../libexec/helper` (a path it computes), which
/// loads `libplugin.so` (a name it computes) through its RUNPATH `$ORIGIN/../lib/plugins`;
/// the plugin needs libz. Returns the launcher's path.
fn launcher(env: &TestEnv) -> PathBuf {
    let fx = env.join("opt/fx");
    for d in ["bin", "libexec", "lib/plugins"] {
        std::fs::create_dir_all(fx.join(d)).unwrap();
    }
    util::cc(
        PLUGIN,
        &fx.join("lib/plugins/libplugin.so"),
        &["-shared", "-fPIC", "-lz"],
    );
    util::cc(
        HELPER,
        &fx.join("libexec/helper"),
        &["-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib/plugins"],
    );
    util::cc(LAUNCHER, &fx.join("bin/launcher"), &[]);
    for c in [
        "lib/plugins/libplugin.c",
        "libexec/helper.c",
        "bin/launcher.c",
    ] {
        std::fs::remove_file(fx.join(c)).unwrap();
    }
    fx.join("bin/launcher")
}

fn have_launcher_tools(test: &str) -> bool {
    util::have(
        test,
        &[
            "cc",
            "/usr/include/zlib.h",
            "/lib/x86_64-linux-gnu/libz.so.1",
        ],
    )
}

/// Every regular file and symlink below `dir`, as image paths.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    util::walk(dir, true, &mut out);
    let mut names: Vec<String> = out
        .iter()
        .filter(|p| !p.is_dir() || p.is_symlink())
        .map(|p| format!("/{}", p.strip_prefix(dir).unwrap().display()))
        .collect();
    names.sort();
    names
}

#[test]
fn a_traced_image_runs_the_helper_and_plugin_no_header_names() {
    const TEST: &str = "a_traced_image_runs_the_helper_and_plugin_no_header_names";
    if !have_launcher_tools(TEST) || !util::trace_works(TEST) {
        return;
    }
    let env = TestEnv::new();
    let launcher = launcher(&env);
    let helper = env.join("opt/fx/bin/../libexec/helper");
    let plugin = env.join("opt/fx/libexec/../lib/plugins/libplugin.so");

    // Statically, nothing names the helper, the plugin or libz.
    let listing = env.depclose([&launcher]);
    listing.assert_code(0);
    assert!(
        !listing.stdout.contains("helper") && !listing.stdout.contains("libz"),
        "{listing}"
    );

    let run = env.depclose([
        "-f".as_ref(),
        "json".as_ref(),
        "--trace".as_ref(),
        "--".as_ref(),
        launcher.as_os_str(),
    ]);
    run.assert_code(0);
    // JSON on stdout: the program's own output went to stderr.
    assert!(run.stderr.contains(ANSWER), "{run}");
    let report = run.report();
    let trace = report.trace.as_ref().unwrap();
    assert_eq!(trace.exit.code, Some(0));
    assert!(!trace.files);
    let first = &report.targets[0];
    assert_eq!(first.target, launcher.display().to_string());
    let exec = first
        .added
        .iter()
        .find(|a| a.value == helper.display().to_string())
        .unwrap_or_else(|| panic!("the launcher's trace names no helper\n{run}"));
    assert_eq!(exec.evidence.kind, EvidenceKind::Traced);
    assert_eq!(
        exec.evidence.program.as_deref(),
        Some(&*launcher.display().to_string())
    );
    // The helper is a program of its own, with its closure; the plugin is traced, and libz
    // is there because the plugin needs it (the loader's reason, not the trace's).
    let second = report
        .targets
        .iter()
        .find(|t| t.target == helper.display().to_string())
        .unwrap_or_else(|| panic!("the helper is no target\n{run}"));
    let object = |path: &str| {
        second
            .objects
            .iter()
            .find(|o| o.path == path)
            .unwrap_or_else(|| panic!("{path} not in the helper's closure\n{run}"))
    };
    let p = object(&plugin.display().to_string());
    assert_eq!(p.found.how, How::Traced);
    assert!(p.runtime);
    let evidence = p.found.evidence.as_ref().unwrap();
    assert_eq!(
        evidence.program.as_deref(),
        Some(&*helper.display().to_string())
    );
    assert!(evidence.pid.is_some_and(|pid| pid > 0));
    let libz = object("/lib/x86_64-linux-gnu/libz.so.1");
    assert_eq!(libz.found.how, How::LdSoCache);
    assert_eq!(libz.loader.as_deref(), Some(&*plugin.display().to_string()));

    // In the graph the plugin hangs from the helper by a dashed edge: loaded at run time.
    let graph = env.depclose([
        "-f".as_ref(),
        "dot".as_ref(),
        "--trace".as_ref(),
        "--".as_ref(),
        launcher.as_os_str(),
    ]);
    graph.assert_code(0);
    assert!(graph.stdout.contains(" -> t1o3 [style=dashed];"), "{graph}");

    // --why tells the trace's evidence.
    let why = env.depclose([
        "--why".as_ref(),
        "libplugin.so".as_ref(),
        "--trace".as_ref(),
        "--".as_ref(),
        launcher.as_os_str(),
    ]);
    why.assert_code(0);
    assert!(why.stdout.contains("mapped by pid"), "{why}");

    // The image holds them, and runs the launcher from its own files alone.
    if !util::bwrap_works(TEST) {
        return;
    }
    let rootfs = env.join("rootfs");
    let image = env.depclose([
        "--emit-rootfs".as_ref(),
        rootfs.as_os_str(),
        "--trace".as_ref(),
        "--".as_ref(),
        launcher.as_os_str(),
    ]);
    image.assert_code(0);
    let held = files(&rootfs);
    for want in [
        "/opt/fx/libexec/helper",
        "/opt/fx/lib/plugins/libplugin.so",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ] {
        let want = format!("{}{want}", env.path().display());
        let want = want.replace(&format!("{}/usr", env.path().display()), "/usr");
        assert!(
            held.contains(&want),
            "{want} not in the image: {held:?}\n{image}"
        );
    }
    let ran = util::run(util::bwrap(&rootfs).arg(&launcher));
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.starts_with(ANSWER), "{ran}");
}

#[test]
fn a_traced_git_clone_brings_the_shell_and_upload_pack_and_clones_in_the_image() {
    const TEST: &str =
        "a_traced_git_clone_brings_the_shell_and_upload_pack_and_clones_in_the_image";
    if !util::have(TEST, &["/usr/bin/git"]) || !util::trace_works(TEST) {
        return;
    }
    let env = TestEnv::new();
    let git = |args: &[&str], cwd: &Path| {
        util::run_ok(
            util::command("/usr/bin/git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(cwd),
        )
    };
    let src = env.join("src");
    std::fs::create_dir(&src).unwrap();
    git(&["init", "-q"], &src);
    std::fs::write(src.join("file"), "content\n").unwrap();
    git(&["add", "file"], &src);
    git(&["commit", "-qm", "one"], &src);

    let rootfs = env.join("rootfs");
    let dest = env.join("dest");
    let run = env.depclose([
        "--emit-rootfs".as_ref(),
        rootfs.as_os_str(),
        "--trace".as_ref(),
        "--".as_ref(),
        "/usr/bin/git".as_ref(),
        "clone".as_ref(),
        "-q".as_ref(),
        "--no-local".as_ref(),
        src.as_os_str(),
        dest.as_os_str(),
    ]);
    run.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(dest.join("file")).unwrap(),
        "content\n"
    );
    // git ran upload-pack through the shell: both are in the image, with their links.
    let held = files(&rootfs);
    for want in ["/bin/sh", "/usr/lib/git-core/git-upload-pack"] {
        let link = rootfs.join(want.trim_start_matches('/'));
        assert!(
            link.exists() || link.is_symlink(),
            "{want} not in the image: {held:?}\n{run}"
        );
    }
    assert!(run.stderr.contains("program /bin/sh"), "{run}");
    // Nothing the clone wrote is in the image.
    assert!(!held.iter().any(|p| p.contains("/dest")), "{held:?}");

    if !util::bwrap_works(TEST) {
        return;
    }
    util::cp_a(&src, &rootfs.join("src"));
    let ran = util::run(util::bwrap(&rootfs).args([
        "/usr/bin/git",
        "clone",
        "-q",
        "--no-local",
        "/src",
        "/out",
    ]));
    assert_eq!(ran.code, Some(0), "{ran}");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("out/file")).unwrap(),
        "content\n"
    );
}

#[test]
fn a_traced_python_import_makes_a_far_smaller_image_that_runs_it() {
    const TEST: &str = "a_traced_python_import_makes_a_far_smaller_image_that_runs_it";
    if !util::have(TEST, &["/usr/bin/python3"])
        || !util::bwrap_works(TEST)
        || !util::trace_works(TEST)
    {
        return;
    }
    let env = TestEnv::new();
    let script = "import json; print(json.dumps({'ok': [1, 2]}))";
    let traced = env.join("traced");
    let run = env.depclose([
        "--no-recipes".as_ref(),
        "--trace-files".as_ref(),
        "--emit-rootfs".as_ref(),
        traced.as_os_str(),
        "--trace".as_ref(),
        "--".as_ref(),
        "/usr/bin/python3".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
    ]);
    run.assert_code(0);
    let recipe = env.join("recipe");
    env.depclose([
        "--emit-rootfs".as_ref(),
        recipe.as_os_str(),
        "/usr/bin/python3".as_ref(),
    ])
    .assert_code(0);
    let (t, r) = (files(&traced).len(), files(&recipe).len());
    println!("{TEST}: traced image {t} files, the Python recipe's {r}");
    assert!(t * 5 < r, "traced {t} files, recipe {r}\n{run}");
    let ran = util::run(util::bwrap(&traced).args(["/usr/bin/python3", "-c", script]));
    assert_eq!(ran.code, Some(0), "{ran}");
    assert_eq!(ran.stdout, "{\"ok\": [1, 2]}\n");
}

#[test]
fn the_timeout_stops_the_whole_process_tree() {
    const TEST: &str = "the_timeout_stops_the_whole_process_tree";
    if !util::have(TEST, &["cc"]) || !util::trace_works(TEST) {
        return;
    }
    let env = TestEnv::new();
    let forker = env.join("forker");
    util::cc(FORKER, &forker, &[]);
    let pid_file = env.join("sleeper.pid");
    let started = Instant::now();
    let run = env.depclose([
        "--trace-timeout".as_ref(),
        "2".as_ref(),
        "-f".as_ref(),
        "json".as_ref(),
        "--trace".as_ref(),
        "--".as_ref(),
        forker.as_os_str(),
        pid_file.as_os_str(),
    ]);
    let took = started.elapsed();
    run.assert_code(0);
    assert!(took < Duration::from_secs(20), "took {took:?}\n{run}");
    assert!(run.stderr.contains("ran past the 2 s timeout"), "{run}");
    let trace = run.report().trace.unwrap();
    assert!(trace.exit.timed_out);
    assert_eq!(trace.processes, 2);
    // The sleeper is gone (or a zombie its new parent has still to reap), never running.
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ")?.1.chars().next());
        match state {
            None | Some('Z' | 'X') => break,
            Some(s) if Instant::now() > deadline => {
                panic!("the sleeper {pid} is still there, in state {s}\n{run}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    // Under --trace-strict the timeout is an error of its own.
    let strict = env.depclose([
        "--trace-timeout".as_ref(),
        "1".as_ref(),
        "--trace-strict".as_ref(),
        "--trace".as_ref(),
        "--".as_ref(),
        forker.as_os_str(),
    ]);
    strict.assert_code(3);
    assert!(strict.stderr.contains("(--trace-strict)"), "{strict}");
}

#[test]
fn a_failing_command_still_yields_its_trace_with_a_warning() {
    if !util::trace_works("a_failing_command_still_yields_its_trace_with_a_warning") {
        return;
    }
    let env = TestEnv::new();
    let run = env.depclose([
        "--trace",
        "--",
        "/bin/sh",
        "-c",
        "cat /etc/hostname >/dev/null; exit 3",
    ]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("warning: the traced command exited with status 3"),
        "{run}"
    );
    assert!(run.lines().contains(&"/usr/bin/cat"), "{run}");
    let strict = env.depclose(["--trace-strict", "--trace", "--", "/bin/sh", "-c", "exit 3"]);
    strict.assert_code(3);
}

#[test]
fn trace_files_adds_what_was_read_but_not_what_the_run_wrote_nor_secrets() {
    if !util::trace_works("trace_files_adds_what_was_read_but_not_what_the_run_wrote_nor_secrets") {
        return;
    }
    let env = TestEnv::new();
    let input = env.write("data/input.txt", "in\n");
    let output = env.join("data/output.txt");
    let script = format!(
        "cat {} /etc/passwd >/dev/null; echo out > {}; cat {} >/dev/null; ls {} >/dev/null",
        input.display(),
        output.display(),
        output.display(),
        env.join("data").display()
    );
    let run = env.depclose([
        "-f",
        "json",
        "--trace-files",
        "--trace",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    run.assert_code(0);
    let report = run.report();
    let added: Vec<(&str, &str)> = report
        .targets
        .iter()
        .flat_map(|t| t.added.iter())
        .map(|a| (a.value.as_str(), a.evidence.text.as_str()))
        .collect();
    let has = |p: &Path| added.iter().any(|(v, _)| *v == p.display().to_string());
    assert!(has(&input), "{added:?}");
    assert!(has(&env.join("data")), "the listed directory: {added:?}");
    assert!(!has(&output), "{added:?}");
    assert!(!added.iter().any(|(v, _)| *v == "/etc/passwd"), "{added:?}");
    assert!(
        run.stderr
            .contains("/etc/passwd not added: the image gets accounts of its own"),
        "{run}"
    );
    let trace = report.trace.unwrap();
    assert!(
        trace
            .left_out
            .iter()
            .any(|l| l.path == output.display().to_string() && l.why == LeftOutWhy::Written),
        "{:?}",
        trace.left_out
    );
}

#[test]
fn a_saved_trace_replays_to_the_same_image_without_running_anything() {
    const TEST: &str = "a_saved_trace_replays_to_the_same_image_without_running_anything";
    if !have_launcher_tools(TEST) || !util::trace_works(TEST) {
        return;
    }
    let env = TestEnv::new();
    let launcher = launcher(&env);
    let saved = env.join("trace.json");
    let (a, b) = (env.join("a.tar"), env.join("b.tar"));
    let epoch = util::image::random_epoch().to_string();
    let first = util::run(
        util::command(util::DEPCLOSE)
            .env("SOURCE_DATE_EPOCH", &epoch)
            .args([
                "--trace-files".as_ref(),
                "--trace-save".as_ref(),
                saved.as_os_str(),
            ])
            .args([
                "--emit".as_ref(),
                a.as_os_str(),
                "--trace".as_ref(),
                "--".as_ref(),
            ])
            .arg(&launcher),
    );
    first.assert_code(0);
    assert!(first.stdout.starts_with(ANSWER), "{first}");
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("\"format\": 1"), "{text}");
    // The replay runs nothing: the launcher is gone, and nothing prints its answer.
    let second = util::run(
        util::command(util::DEPCLOSE)
            .env("SOURCE_DATE_EPOCH", &epoch)
            .args([
                "--trace-load".as_ref(),
                saved.as_os_str(),
                "--emit".as_ref(),
                b.as_os_str(),
            ]),
    );
    second.assert_code(0);
    assert!(
        !second.stdout.contains(ANSWER) && !second.stderr.contains("tracing:"),
        "{second}"
    );
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "{first}\n{second}"
    );
}

#[test]
fn an_image_on_stdout_keeps_the_command_s_output_off_it() {
    if !util::trace_works("an_image_on_stdout_keeps_the_command_s_output_off_it") {
        return;
    }
    let env = TestEnv::new();
    let run = env.depclose(["--emit", "-", "--trace", "--", "/bin/echo", "hello"]);
    run.assert_code(0);
    assert!(run.stderr.contains("hello"), "{run}");
    // The image's own stdout is a tar: its first member is a file name, not "hello".
    assert!(!run.stdout.starts_with("hello"), "{}", run.brief());
    // The image's Cmd is the traced command's arguments.
    let tar = env.join("image.tar");
    env.depclose([
        "--emit".as_ref(),
        tar.as_os_str(),
        "--trace".as_ref(),
        "--".as_ref(),
        "/bin/echo".as_ref(),
        "hello".as_ref(),
    ])
    .assert_code(0);
    let image = util::image::Image::read(&tar);
    assert_eq!(image.argv(), ["/bin/echo", "hello"]);
}

#[test]
fn trace_options_are_checked_before_anything_runs() {
    let env = TestEnv::new();
    let marker = env.join("ran");
    let touch = format!("touch {}", marker.display());
    let cases: &[(&[&str], &str)] = &[
        (&["--trace"], "name the command to run after --"),
        (
            &["--trace-files", "/bin/true"],
            "--trace-files needs --trace",
        ),
        (
            &["--trace-save", "x.json", "/bin/true"],
            "--trace-save needs --trace",
        ),
        (&["/bin/true", "--", "/bin/sh"], "-- CMD needs --trace"),
        (
            &["--trace", "/bin/true", "--", "/bin/sh", "-c", &touch],
            "no other target",
        ),
        (
            &[
                "--trace-timeout",
                "0",
                "--trace",
                "--",
                "/bin/sh",
                "-c",
                &touch,
            ],
            "at least 1 second",
        ),
        (
            &["--trace", "--", "no-such-command-here"],
            "no-such-command-here",
        ),
        (&["--trace-load", "missing.json"], "missing.json"),
        (
            &[
                "--trace-save",
                "/no/such/dir/t.json",
                "--trace",
                "--",
                "/bin/sh",
                "-c",
                &touch,
            ],
            "/no/such/dir",
        ),
    ];
    for (args, says) in cases {
        let run = env.depclose(*args);
        run.assert_code(2);
        assert!(run.stderr.contains(says), "{says}\n{run}");
    }
    assert!(!marker.exists(), "a command ran");
    let bad = env.write("bad.json", "{\"format\": 1, \"events\": 3}");
    let run = env.depclose(["--trace-load".as_ref(), bad.as_os_str()]);
    run.assert_code(2);
    assert!(run.stderr.contains("not a valid trace file"), "{run}");
    let newer = env.write("newer.json", "{\"format\": 99}");
    let run = env.depclose(["--trace-load".as_ref(), newer.as_os_str()]);
    run.assert_code(2);
    assert!(run.stderr.contains("format 99"), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
}

#[test]
fn a_program_of_another_architecture_is_not_traced() {
    let env = TestEnv::new();
    // /bin/true with the ELF header's machine said to be AArch64 (183).
    let mut bytes = std::fs::read("/bin/true").unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    let fake = env.write("true-arm64", &bytes);
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = env.depclose(["--trace".as_ref(), "--".as_ref(), fake.as_os_str()]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("ELF machine 183 does not run on this machine"),
        "{run}"
    );
    assert!(!run.stderr.contains("tracing:"), "{run}");
}

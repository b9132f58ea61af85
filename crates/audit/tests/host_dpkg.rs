//! The owners this machine's dpkg database gives, against what `dpkg -S` says. Where the
//! machine has no dpkg database or no `dpkg`, the test prints one line
//! `SKIPPED <test>: <reason>` and passes.
//!
//! `dpkg -S PATH` finds a path only as the package lists it: on a merged-`/usr` system it
//! knows `/lib/x86_64-linux-gnu/libc.so.6` but not `/usr/lib/x86_64-linux-gnu/libc.so.6`.
//! For a spelling it does not know, the answer expected is that of the paths dpkg lists
//! under the same file name (`dpkg -S '*/NAME'`) whose directory the kernel resolves to the
//! same one (`realpath`), so this side never uses `Root`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use depclose_audit::packages::{Packages, license};
use depclose_resolve::{Resolver, Root};

const PROGRAMS: &[&str] = &["/usr/bin/ls", "/usr/bin/python3", "/usr/sbin/apache2"];
const LIBRARIES: &str = "/usr/lib/x86_64-linux-gnu";

/// One line straight to stdout: the harness would swallow a `println!` of a passing test.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn lacking() -> Option<&'static str> {
    if !Path::new("/var/lib/dpkg/status").is_file() {
        return Some("no /var/lib/dpkg/status");
    }
    let runs = Command::new("dpkg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (!runs).then_some("no dpkg to ask")
}

/// `dpkg -S` for many patterns at once: each path it prints → the packages it names (without
/// `:arch`). Diversion lines are left out; patterns it finds nothing for are simply absent.
fn dpkg_search(patterns: &[String]) -> HashMap<PathBuf, Vec<String>> {
    let mut found: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for batch in patterns.chunks(2000) {
        let out = Command::new("dpkg").arg("-S").args(batch).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with("diversion by ") || line.starts_with("local diversion ") {
                continue;
            }
            let (packages, path) = line.split_once(": ").unwrap();
            let names = packages
                .split(", ")
                .map(|p| p.split_once(':').map_or(p, |(name, _)| name).to_owned());
            found.entry(PathBuf::from(path)).or_default().extend(names);
        }
    }
    found
}

/// Where the kernel says the file `path` names is: its directory's `realpath`, then its name.
fn host_located(path: &Path) -> PathBuf {
    match (path.parent().map(std::fs::canonicalize), path.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// A file name as a `dpkg -S` glob matching itself only.
fn glob_escaped(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[test]
fn owners_agree_with_dpkg_search() {
    let test = "owners_agree_with_dpkg_search";
    if let Some(reason) = lacking() {
        say(&format!("SKIPPED {test}: {reason}"));
        return;
    }
    let root = Root::new(Path::new("/")).unwrap();
    let start = Instant::now();
    let db = Packages::read(&root).unwrap().unwrap();
    let read_time = start.elapsed();
    let listed = db.listed_paths();
    say(&format!(
        "{test}: Packages::read: {} packages, {listed} listed paths in {read_time:?}",
        db.packages().len()
    ));

    // The paths to ask about: both spellings of every object of the closures, and of every
    // shared object directly in the library directory.
    let resolver = Resolver::new(Root::new(Path::new("/")).unwrap(), Default::default());
    let mut queries: BTreeSet<PathBuf> = BTreeSet::new();
    let mut objects = 0;
    for program in PROGRAMS.iter().filter(|p| Path::new(p).exists()) {
        let closure = resolver.closure(Path::new(program)).unwrap();
        for o in &closure.objects {
            objects += 1;
            queries.insert(PathBuf::from(&o.path));
            queries.insert(o.real.clone());
        }
    }
    let closure_queries = queries.len();
    let mut sample = 0;
    if let Ok(entries) = std::fs::read_dir(LIBRARIES) {
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let is_so = entry.file_name().to_string_lossy().contains(".so");
            if !is_so || path.is_dir() {
                continue;
            }
            sample += 1;
            if let Ok(real) = std::fs::canonicalize(&path) {
                queries.insert(real);
            }
            queries.insert(path);
        }
    }
    say(&format!(
        "{test}: {objects} closure objects of {} programs ({closure_queries} distinct paths), {sample} *.so* entries of {LIBRARIES}: {} paths asked in all",
        PROGRAMS.iter().filter(|p| Path::new(p).exists()).count(),
        queries.len()
    ));

    let start = Instant::now();
    let as_text = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let literal = dpkg_search(&queries.iter().map(as_text).collect::<Vec<_>>());
    // For the spellings dpkg does not know: every listed path of the same file name.
    let unknown: Vec<&PathBuf> = queries
        .iter()
        .filter(|q| !literal.contains_key(*q))
        .collect();
    let names: BTreeSet<String> = unknown
        .iter()
        .filter_map(|q| q.file_name())
        .map(|n| format!("*/{}", glob_escaped(n.to_str().unwrap())))
        .collect();
    let by_name = dpkg_search(&names.into_iter().collect::<Vec<_>>());
    let mut aliases: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for (path, packages) in &by_name {
        aliases
            .entry(host_located(path))
            .or_default()
            .extend(packages.iter().cloned());
    }
    say(&format!("{test}: dpkg -S took {:?}", start.elapsed()));

    let (mut by_spelling, mut by_alias) = (0, 0);
    let mut unowned = Vec::new();
    let mut disagreements = Vec::new();
    for q in &queries {
        let ours = db.owner(&root, q).map(|p| p.name.as_str());
        let (expected, alias) = match literal.get(q) {
            Some(p) => (p.as_slice(), false),
            None => aliases
                .get(&host_located(q))
                .map_or((&[][..], false), |p| (p.as_slice(), true)),
        };
        let agrees = match ours {
            None => expected.is_empty(),
            Some(name) => expected.iter().any(|e| e == name),
        };
        if !agrees {
            disagreements.push(format!("{}: ours {ours:?}, dpkg {expected:?}", q.display()));
        } else if expected.is_empty() {
            unowned.push(q.display().to_string());
        } else if alias {
            by_alias += 1;
        } else {
            by_spelling += 1;
        }
    }
    say(&format!(
        "{test}: {} of {} paths agree: {by_spelling} as dpkg -S finds them, {by_alias} through a directory symlink dpkg -S does not follow, {} owned by no package ({})",
        by_spelling + by_alias + unowned.len(),
        queries.len(),
        unowned.len(),
        unowned.join(", ")
    ));
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Every installed package's licence: one exactly for those whose copyright file declares
/// the machine-readable format, and each an SPDX expression (identifiers in SPDX's
/// characters, operators in capitals, parentheses balanced).
#[test]
fn licences_of_installed_packages_are_spdx() {
    let test = "licences_of_installed_packages_are_spdx";
    if let Some(reason) = lacking() {
        say(&format!("SKIPPED {test}: {reason}"));
        return;
    }
    let root = Root::new(Path::new("/")).unwrap();
    let db = Packages::read(&root).unwrap().unwrap();
    let (mut declared, mut given) = (0, 0);
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    for package in db.packages() {
        let copyright = Path::new("/usr/share/doc")
            .join(&package.name)
            .join("copyright");
        let text = std::fs::read_to_string(&copyright).unwrap_or_default();
        let format = text
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("Format:"));
        let got = license(&root, &package.name);
        declared += usize::from(format);
        given += usize::from(got.is_some());
        let Some(expression) = got else {
            continue;
        };
        let words = expression.replace(['(', ')'], " ");
        for word in words.split_whitespace() {
            let operator = ["AND", "OR", "WITH"].contains(&word);
            let id = word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            assert!(operator || id, "{}: {expression}", package.name);
        }
        let depth = expression.chars().try_fold(0i32, |d, c| match c {
            '(' => Some(d + 1),
            ')' => (d > 0).then(|| d - 1),
            _ => Some(d),
        });
        assert_eq!(depth, Some(0), "{}: {expression}", package.name);
        kinds.insert(expression);
    }
    say(&format!(
        "{test}: {} packages, {declared} copyright files declare the format, {given} licences given, {} distinct",
        db.packages().len(),
        kinds.len()
    ));
    // A file that declares the format but has neither a `Files: *` nor a header licence
    // gives none; never the other way round.
    assert!(given <= declared);
}

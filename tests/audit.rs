//! `--audit` against independent tools on real files: checksec for hardening, the loader
//! itself (`ldd -u`, `ldd -r`) for symbol binding, readelf for versions, dpkg for packages.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::util::report::{Hardening, Object, Report};
use crate::util::{self, TestEnv};

/// `depclose --audit -f json` of `targets` (directories too), with every library optional:
/// a directory holds libraries that need another program's.
fn audit(env: &TestEnv, targets: &[&Path]) -> Report {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--audit".as_ref(), "-f".as_ref(), "json".as_ref()];
    args.push("--allow-missing".as_ref());
    args.extend(targets.iter().map(|t| t.as_os_str()));
    let run = env.depclose(args);
    run.assert_code(0);
    run.report()
}

/// Each target's own object (a file analysed as a target is its closure's first object).
fn first_objects(report: &Report) -> Vec<(&str, &Object)> {
    report
        .targets
        .iter()
        .map(|t| (t.target.as_str(), &t.objects[0]))
        .collect()
}

/// checksec's answer for one file: field name to value.
fn checksec(file: &str) -> Option<HashMap<String, String>> {
    let run =
        util::run(util::command("checksec").args(["--output=json", &format!("--file={file}")]));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).ok()?;
    let fields = json.get(file)?.as_object()?;
    Some(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
    )
}

/// Our answer in checksec's words.
fn in_checksec_terms(h: &Hardening) -> Vec<(&'static str, String)> {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    vec![
        (
            "relro",
            if h.relro == "none" {
                "no".into()
            } else {
                h.relro.clone()
            },
        ),
        ("canary", yes(h.canary)),
        ("nx", yes(h.nx)),
        ("pie", h.pie.clone()),
        ("fortified", h.fortified.to_string()),
        ("fortify-able", h.fortifiable.to_string()),
    ]
}

#[test]
fn hardening_agrees_with_checksec() {
    const TEST: &str = "hardening_agrees_with_checksec";
    if !util::have(TEST, &["checksec"]) {
        return;
    }
    let env = TestEnv::new();
    let dirs = [
        Path::new("/usr/bin"),
        Path::new("/usr/sbin"),
        Path::new("/usr/lib/x86_64-linux-gnu"),
    ];
    let report = audit(&env, &dirs);
    let ours = first_objects(&report);
    let answers = util::par_map(&ours, |(file, _)| checksec(file));
    let mut agree: BTreeMap<&str, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for ((file, o), theirs) in ours.iter().zip(&answers) {
        let h = o.audit.as_ref().and_then(|a| a.hardening.as_ref());
        let (Some(h), Some(theirs)) = (h, theirs) else {
            wrong.push(format!(
                "{file}: no answer (ours {}, checksec {})",
                h.is_some(),
                theirs.is_some()
            ));
            continue;
        };
        for (field, value) in in_checksec_terms(h) {
            let their = theirs.get(field).cloned().unwrap_or_default();
            if their == value {
                *agree.entry(field).or_default() += 1;
            } else {
                wrong.push(format!("{file} {field}: ours {value}, checksec {their}"));
            }
        }
    }
    println!(
        "{TEST}: {} files; agreement per field: {agree:?}",
        ours.len()
    );
    assert!(ours.len() > 500, "only {} files", ours.len());
    assert!(
        wrong.is_empty(),
        "{} unexplained:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

//! `chorus check` rejects each broken dialplan in tests/dialplans/broken/ with exit status 1 and exactly
//! the expected `file:line:col: message` lines, every error of the file (not only the first), in file order,
//! then a summary with the count. A valid dialplan (the demo) passes with exit 0.
//!
//! Every file in tests/dialplans/broken/ must have its expectation here, so a new broken example cannot go
//! unchecked.

mod common;

use std::process::Command;

use common::{chorus_bin, repo_root};

/// (file in tests/dialplans/broken/, the exact error lines).
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "misspelled-step.yaml",
        &["7:9: unknown step 'plya' (did you mean 'play'?)"],
    ),
    (
        "bad-duration.yaml",
        &[
            "10:32: first_digit_timeout: invalid duration 'soon' (write e.g. 500ms, 5s, 2m)",
            "11:26: digit_timeout: invalid duration unit 'minutes' in '3 minutes' (use ms, s, m or h)",
            "12:16: pause duration: invalid duration '-2s' (write e.g. 500ms, 5s, 2m)",
        ],
    ),
    (
        "undefined-menu.yaml",
        &["13:15: undefined menu 'mian' (did you mean 'main'?)"],
    ),
    (
        "bad-regex.yaml",
        &["4:12: invalid match pattern: unclosed group"],
    ),
    (
        "missing-prompt.yaml",
        &["7:15: prompt 'no-such-prompt' not found in prompts"],
    ),
    (
        "unknown-key.yaml",
        &[
            "3:5: route 'record' needs 'steps'",
            "5:5: unknown key 'step' in route (did you mean 'steps'?)",
            "10:43: unknown key 'maxx' in record (did you mean 'max'?)",
        ],
    ),
    (
        "several-errors.yaml",
        &[
            "5:14: timeout: invalid duration unit 'x' in '5x' (use ms, s, m or h)",
            "8:17: undefined menu 'nowhere'",
            "15:9: unknown step 'plya' (did you mean 'play'?)",
            "18:12: invalid match pattern: invalid character class range, the start must be <= the end",
        ],
    ),
    (
        "wrong-type.yaml",
        &[
            "9:16: max must be a whole number, found a list",
            "10:41: barge_in must be true or false, found a string",
        ],
    ),
    (
        "undefined-variable.yaml",
        &["8:21: undefined variable 'digit' (did you mean 'digits'?) (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)"],
    ),
    (
        "endless-loop.yaml",
        &["4:5: menu 'main' loops forever when the caller presses nothing: its on_failure leads back to it; end it with hangup"],
    ),
    (
        "menu-runs-itself.yaml",
        &["7:17: menu 'main' runs itself through 'menu: main'; use 'goto: main' to go back to a menu"],
    ),
    (
        "invalid-yaml.yaml",
        &["5:12: invalid yaml: unclosed bracket '['"],
    ),
];

/// Runs `chorus check --prompts prompts FILE` in the repository root: (exit code, stdout, stderr).
fn check(file: &str) -> (Option<i32>, String, String) {
    let out = Command::new(chorus_bin())
        .args(["check", "--prompts", "prompts", file])
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run chorus check: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lines of either stream that start with `file:` followed by a line and column.
fn error_lines(file: &str, stdout: &str, stderr: &str) -> Vec<String> {
    let prefix = format!("{file}:");
    stdout
        .lines()
        .chain(stderr.lines())
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn broken_dialplans_are_rejected_with_exact_positions() {
    let mut failures = Vec::new();
    for (name, expected) in EXPECTED {
        let file = format!("tests/dialplans/broken/{name}");
        let (code, stdout, stderr) = check(&file);
        let got = error_lines(&file, &stdout, &stderr);
        let want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        let n = expected.len();
        let summary = format!("{file}: {n} error{}", if n == 1 { "" } else { "s" });
        if code != Some(1)
            || got != want
            || !(stdout.contains(&summary) || stderr.contains(&summary))
        {
            failures.push(format!(
                "{file}: exit {code:?}\n  expected lines {want:#?}\n  and the summary {summary:?}\n  ---- stdout ----\n{stdout}  ---- stderr ----\n{stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_broken_example_has_an_expectation() {
    let dir = repo_root().join("tests/dialplans/broken");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut known: Vec<String> = EXPECTED.iter().map(|(n, _)| n.to_string()).collect();
    known.sort();
    assert_eq!(files, known, "tests/dialplans/broken/ and EXPECTED differ");
}

#[test]
fn valid_dialplans_pass() {
    for file in [
        "dialplans/demo.yaml",
        "tests/dialplans/test.yaml",
        "tests/dialplans/ivr-short.yaml",
    ] {
        let (code, stdout, stderr) = check(file);
        assert_eq!(
            code,
            Some(0),
            "{file} should pass chorus check\n---- stdout ----\n{stdout}---- stderr ----\n{stderr}"
        );
        assert!(
            error_lines(file, &stdout, &stderr).is_empty(),
            "{file}: no error lines expected\n{stdout}{stderr}"
        );
    }
}

/// Every complete dialplan in README.md (a ```yaml block that starts with `routes:`, `menus:`,
/// `timezone:` or `utc_offset:`) passes `chorus check` against the shipped prompts: the reference
/// cannot drift from what Chorus accepts.
#[test]
fn readme_dialplans_pass_check() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    let plans: Vec<&String> = blocks
        .iter()
        .filter(|b| {
            ["routes:", "menus:", "timezone:", "utc_offset:"]
                .iter()
                .any(|k| b.starts_with(k))
        })
        .collect();
    assert!(
        plans.len() >= 2,
        "README's dialplan examples: {}",
        plans.len()
    );
    let dir = common::scratch_dir("readme-dialplans");
    for (i, plan) in plans.iter().enumerate() {
        let path = dir.join(format!("readme-{i}.yaml"));
        std::fs::write(&path, plan).unwrap();
        let out = Command::new(chorus_bin())
            .arg("check")
            .arg(&path)
            .arg("--prompts")
            .arg(repo_root().join("prompts"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README dialplan #{i} fails `chorus check`:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            plan
        );
    }
    eprintln!("{} README dialplans pass chorus check", plans.len());
    std::fs::remove_dir_all(dir).unwrap();
}

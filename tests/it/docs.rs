//! The docs are the contract: every JSON line in docs/PROTOCOL.md decodes with the
//! real decoder, every request, reply and error kind in the code is documented there
//! (and nothing else is), the help text in docs/CLI.md is the programs' own, and every
//! test and file docs/LESSONS.md cites exists.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use attach_protocol::{decode_line, ErrorKind, Reply, Request};
use serde::de::DeserializeOwned;

use crate::support::attach_bin;

fn doc_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name)
}

fn read_doc(name: &str) -> String {
    std::fs::read_to_string(doc_path(name)).unwrap_or_else(|err| panic!("docs/{name}: {err}"))
}

/// The names serde accepts for `T` (the variants of a tagged enum), read from the
/// error it gives for a name that cannot exist, so no list here can drift.
fn variants<T: DeserializeOwned>(json_with_bad_name: &str) -> BTreeSet<String> {
    let err = serde_json::from_str::<T>(json_with_bad_name)
        .err()
        .expect("the bad name is refused")
        .to_string();
    let expected = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected serde message: {err}"));
    expected
        .split(", ")
        .map(|name| name.split('`').nth(1).expect("a quoted name").to_owned())
        .collect()
}

/// The first cell of each table row under the heading that starts with `heading`.
fn table_names(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc
        .split("\n## ")
        .find(|section| section.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| line[3..].split('`').next().unwrap().to_owned())
        .collect()
}

/// Every JSON object on a line of the doc (from its first `{` to its last `}`), and
/// whether the line is marked `✗` (deliberately invalid: from `{` to the line's end).
fn json_lines(doc: &str) -> Vec<(&str, bool)> {
    doc.lines()
        .filter_map(|line| {
            let start = line.find("{\"")?;
            if line.contains('✗') {
                return Some((&line[start..], true));
            }
            Some((&line[start..=line.rfind('}')?], false))
        })
        .collect()
}

/// The tag (`op` or `type`) of a JSON line.
fn tag(line: &str, key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(value.get(key)?.as_str()?.to_owned())
}

#[test]
fn every_json_line_in_the_protocol_doc_decodes_and_every_message_is_documented() {
    let doc = read_doc("PROTOCOL.md");
    let requests = variants::<Request>(r#"{"op":"-"}"#);
    let replies = variants::<Reply>(r#"{"type":"-"}"#);
    let kinds = variants::<ErrorKind>(r#""-""#);
    assert!(requests.contains("eval") && replies.contains("welcome") && kinds.contains("busy"));

    assert_eq!(
        table_names(&doc, "Requests"),
        requests,
        "the requests table"
    );
    assert_eq!(table_names(&doc, "Replies"), replies, "the replies table");
    let listed_kinds: BTreeSet<String> = doc
        .split("\n\n")
        .find_map(|paragraph| paragraph.strip_prefix("Error kinds: "))
        .expect("an `Error kinds:` paragraph")
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert_eq!(listed_kinds, kinds, "the error kinds");

    let (mut shown_requests, mut shown_replies) = (BTreeSet::new(), BTreeSet::new());
    for (line, invalid) in json_lines(&doc) {
        if invalid {
            assert!(
                decode_line::<Request>(line.as_bytes()).is_err(),
                "PROTOCOL.md: {line} is marked invalid but decodes"
            );
            continue;
        }
        if let Some(op) = tag(line, "op") {
            decode_line::<Request>(line.as_bytes())
                .unwrap_or_else(|err| panic!("PROTOCOL.md: {line}: {err}"));
            shown_requests.insert(op);
        } else if let Some(kind) = tag(line, "type") {
            decode_line::<Reply>(line.as_bytes())
                .unwrap_or_else(|err| panic!("PROTOCOL.md: {line}: {err}"));
            shown_replies.insert(kind);
        } else {
            panic!("PROTOCOL.md: {line} is neither a request nor a reply");
        }
    }
    assert_eq!(
        shown_requests, requests,
        "every request has an example line"
    );
    assert_eq!(shown_replies, replies, "every reply has an example line");
}

/// `<!-- help: attach ARGS -->` followed by a ```text block: (marker, args, block).
fn help_blocks(doc: &str) -> Vec<(String, Vec<String>, String)> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("<!-- help: attach ") {
        let after = &rest[start..];
        let marker_end = after.find(" -->").expect("a closed marker");
        let marker = after[..marker_end + 4].to_owned();
        let args = after["<!-- help: attach ".len()..marker_end]
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let body_start = after
            .find("```text\n")
            .expect("a text block after the marker")
            + 8;
        let body_len = after[body_start..].find("\n```").expect("a closed block");
        blocks.push((
            marker,
            args,
            after[body_start..body_start + body_len].to_owned(),
        ));
        rest = &after[body_start + body_len..];
    }
    blocks
}

#[test]
fn the_help_text_in_the_cli_doc_is_the_programs_own() {
    let doc = read_doc("CLI.md");
    let blocks = help_blocks(&doc);
    let documented: Vec<Vec<String>> = blocks.iter().map(|(_, args, _)| args.clone()).collect();
    assert_eq!(
        documented,
        [vec!["--help"], vec!["completions", "--help"]],
        "docs/CLI.md shows the help of attach and of each subcommand"
    );
    let mut updated = doc.clone();
    for (marker, args, shown) in &blocks {
        let output = Command::new(attach_bin())
            .args(args)
            .output()
            .expect("run attach");
        assert!(output.status.success(), "attach {args:?}: {output:?}");
        let actual = String::from_utf8(output.stdout).unwrap();
        let actual = actual.trim_end();
        if std::env::var_os("ATTACH_UPDATE_DOCS").is_some() {
            let old = format!("{marker}\n```text\n{shown}\n```");
            let new = format!("{marker}\n```text\n{actual}\n```");
            updated = updated.replace(&old, &new);
        } else {
            assert_eq!(
                shown,
                actual,
                "docs/CLI.md is out of date for `attach {}`; \
                 run the test with ATTACH_UPDATE_DOCS=1",
                args.join(" ")
            );
        }
    }
    if updated != doc {
        std::fs::write(doc_path("CLI.md"), updated).expect("rewrite docs/CLI.md");
    }
}

#[test]
fn every_test_and_file_docs_lessons_cites_exists() {
    let doc = read_doc("LESSONS.md");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let defines = |file: String, test: &str| {
        std::fs::read_to_string(root.join(&file))
            .is_ok_and(|source| source.contains(&format!("fn {test}(")))
    };
    let mut tests = 0;
    for item in doc.split('`').skip(1).step_by(2) {
        if item.contains('<') || item.contains(' ') || item.starts_with('/') {
            continue;
        }
        if let Some((module, test)) = item.split_once(".rs::") {
            assert!(
                defines(format!("tests/it/{module}.rs"), test),
                "LESSONS.md cites {item}"
            );
            tests += 1;
        } else if let Some((module, test)) = item.split_once("::tests::") {
            let file = format!("server-agent/src/{}.rs", module.replace("::", "/"));
            assert!(defines(file, test), "LESSONS.md cites the unit test {item}");
            tests += 1;
        } else if item.contains('/') {
            assert!(
                root.join(item).exists(),
                "LESSONS.md cites {item}, which does not exist"
            );
        }
    }
    assert!(tests >= 10, "only {tests} tests cited");
}

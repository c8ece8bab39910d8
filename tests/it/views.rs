//! Registered collections are read as views: a million-entry cache answers `len()`,
//! lookups and partial walks touching only what they need, and even a full scan that
//! runs into the command's budget leaves the host's writer thread free and its RSS
//! nearly where it was.
//!
//! Speed is not asserted here (the benchmark's `views` section measures it); the
//! tests check answers, that scans end with a `limit` error, and two bounds the
//! chunked design gives with a wide margin: the writer never waits for the lock
//! anywhere near as long as one command runs, and RSS grows by at most 32 MiB.

use serde_json::Value;

use crate::support::{attach, Worker};

const ENTRIES: usize = 1_000_000;

/// Most the writer may wait for the lock: half the 1 s command time limit. A scan
/// holding the lock throughout would make it wait the whole second; a chunk holds it
/// for about a millisecond plus the seek to its start (more in a debug build on a
/// busy machine, hence the margin).
const WRITER_WAIT_BOUND_US: u64 = 500_000;

/// How much the worker's RSS may grow through all the commands.
const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;

/// One `attach --json` session running `commands`: the JSON document of each.
fn session(worker: &Worker, commands: &[&str]) -> Vec<Value> {
    let input: String = commands.iter().map(|c| format!("{c}\n")).collect();
    let run = attach(&[&worker.pid.to_string(), "--json"], &input);
    let docs: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON document per line"))
        .collect();
    assert_eq!(docs.len(), commands.len(), "{run:?}");
    docs
}

fn value(doc: &Value) -> &Value {
    assert_eq!(doc["ok"], true, "{doc}");
    &doc["value"]
}

fn limit_error(doc: &Value) {
    assert_eq!(doc["ok"], false, "{doc}");
    assert_eq!(doc["error"]["kind"], "limit", "{doc}");
}

#[test]
fn a_million_entry_cache_is_read_lazily_and_its_writer_never_stalls() {
    let worker = Worker::start(
        crate::support::workspace_bin("cache-worker"),
        &["--entries", &ENTRIES.to_string()],
    );
    assert_eq!(worker.first_line, "ready");
    let rss_before = worker.status_number("VmRSS");
    let docs = session(
        &worker,
        &[
            "reset_writer_stats(); writer_writes",
            "cache.len()",
            "cache.is_empty()",
            "cache[\"k999999\"].name",
            "cache.k17.hits >= 0",
            "[\"k5\" in cache, \"nope\" in cache]",
            "cache.keys().take(1000).len()",
            "let n = 0; for k in cache { n += 1; if n == 1000 { break } } n",
            "let n = 0; for v in cache.values() { n += v.hits } n",
            "cache.values().filter(|v| v.hits > 1000000000).len()",
            "cache",
            "writer_max_wait_us",
            "writer_writes",
        ],
    );
    let writes_before = value(&docs[0]).as_u64().unwrap();
    assert_eq!(value(&docs[1]), ENTRIES);
    assert_eq!(value(&docs[2]), false);
    assert_eq!(value(&docs[3]), "item 999999");
    assert_eq!(value(&docs[4]), true);
    assert_eq!(value(&docs[5]), &serde_json::json!([true, false]));
    assert_eq!(value(&docs[6]), 1000);
    assert_eq!(value(&docs[7]), 1000);
    limit_error(&docs[8]);
    limit_error(&docs[9]);
    let preview = value(&docs[10]).as_object().unwrap();
    assert_eq!(preview.len(), 101, "100 entries and a note");
    assert!(preview["…"].as_str().unwrap().contains("1000000 in all"));

    let max_wait = value(&docs[11]).as_u64().unwrap();
    assert!(
        max_wait <= WRITER_WAIT_BOUND_US,
        "the writer waited {max_wait} µs for the lock"
    );
    let writes = value(&docs[12]).as_u64().unwrap() - writes_before;
    assert!(
        writes >= 100,
        "the writer made only {writes} updates through two one-second scans"
    );
    let grown = worker.status_number("VmRSS").saturating_sub(rss_before);
    assert!(
        grown <= RSS_GROWTH_BOUND_KIB,
        "RSS grew by {grown} KiB through the session"
    );
}

#[test]
fn one_field_of_an_entry_is_read_without_converting_the_rest() {
    // Entries with a 900 KiB body, and a command that may build 512 KiB: the whole
    // entry cannot be read, its name can.
    let worker = Worker::fixture(&["--record-kib", "900", "--max-command-kib", "512"]);
    let docs = session(
        &worker,
        &[
            "records[\"r1\"].name",
            "records.r2.name.len()",
            "records[\"r0\"][\"name\"]",
            "let r = records; r[\"r1\"].name",
            "records[\"r1\"]",
            "records[\"r1\"].body.len()",
            "let e = records[\"r1\"]; e.name",
            "[\"r1\" in records, records.contains(\"r9\")]",
        ],
    );
    assert_eq!(value(&docs[0]), "record 1");
    assert_eq!(value(&docs[1]), 8);
    assert_eq!(value(&docs[2]), "record 0");
    assert_eq!(value(&docs[3]), "record 1");
    for doc in &docs[4..7] {
        limit_error(doc);
    }
    assert_eq!(value(&docs[7]), &serde_json::json!([true, false]));
    // With room for the whole entry, what the field alone saves.
    let roomy = Worker::fixture(&["--record-kib", "900"]);
    let docs = session(
        &roomy,
        &[
            "records[\"r1\"].name",
            "records[\"r1\"].body.len()",
            "let e = records[\"r1\"]; [e.name, e.keys().len(), type_of(e), e == records[\"r1\"]]",
        ],
    );
    assert_eq!(
        value(&docs[2]),
        &serde_json::json!(["record 1", 2, "map", true])
    );
    eprintln!(
        "records[\"r1\"].name: {} µs of agent time; .body.len(), converting the 900 KiB body: {} µs",
        docs[0]["elapsed_us"], docs[1]["elapsed_us"]
    );
}

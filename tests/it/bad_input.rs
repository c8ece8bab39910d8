//! Whatever a client sends, the agent answers with a clear error or closes the
//! session cleanly, stays alive, and serves the next client.

use std::time::Duration;

use crate::support::raw::RawClient;
use crate::support::{eval, Worker};
use attach_protocol::{ErrorKind, Reply};

/// The next reply must be an error of `kind` whose message contains `text`.
fn expect_error(client: &mut RawClient, kind: ErrorKind, text: &str) {
    match client.reply() {
        Some(Reply::Error {
            kind: got, message, ..
        }) if got == kind && message.contains(text) => {}
        other => panic!("expected a {kind:?} error with {text:?}, got {other:?}"),
    }
}

/// The session still evaluates.
fn still_answers(client: &mut RawClient) {
    client.eval(99, "40 + 2");
    match client.reply() {
        Some(Reply::Value { id: 99, value, .. }) => assert_eq!(value, 42),
        other => panic!("the session broke: {other:?}"),
    }
}

/// A fresh `attach` still works: the agent survived.
fn next_client_is_served(worker: &Worker) {
    let run = eval(worker.pid, "1 + 1");
    assert_eq!((run.code, run.stdout.trim()), (0, "2"), "{run:?}");
}

#[test]
fn malformed_lines_get_protocol_errors_and_the_session_goes_on() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    let cases: [(&[u8], &str); 6] = [
        (
            b"{\"op\":\"eval\",\"id\":1,\"code\":\n",
            "malformed message",
        ),
        (b"\x00\x01\x02\xfe\xff garbage \x7f\n", "malformed message"),
        (
            b"{\"op\":\"eval\",\"id\":1,\"code\":\"\xc3\x28\"}\n",
            "malformed message",
        ),
        (
            b"{\"op\":\"launch_missiles\",\"id\":1}\n",
            "unknown variant",
        ),
        (b"\n", "empty line"),
        (b"   \r\n", "empty line"),
    ];
    for (line, text) in cases {
        assert!(client.send(line));
        expect_error(&mut client, ErrorKind::Protocol, text);
        still_answers(&mut client);
    }
    drop(client);
    next_client_is_served(&worker);
}

#[test]
fn a_second_hello_is_an_error_not_a_new_session() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    let hello = format!(
        "{{\"op\":\"hello\",\"v\":1,\"token\":\"{}\",\"client_pid\":1}}\n",
        client.token.as_str()
    );
    assert!(client.send(hello.as_bytes()));
    expect_error(&mut client, ErrorKind::Protocol, "hello sent twice");
    still_answers(&mut client);
}

#[test]
fn a_wrong_protocol_version_is_told_what_to_do() {
    let worker = Worker::fixture(&[]);
    let (client, first) = RawClient::hello_with_version(worker.pid, 999);
    match first {
        Reply::Error {
            kind: ErrorKind::Version,
            message,
            ..
        } => assert!(
            message.contains("protocol v1, the client v999"),
            "{message}"
        ),
        other => panic!("expected a version error, got {other:?}"),
    }
    drop(client);
    next_client_is_served(&worker);
}

#[test]
fn a_100_mib_line_is_cut_off_without_memory_growth() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    let rss_before = worker.status_number("VmRSS");
    // 100 MiB without a newline, written in pieces until the agent stops reading.
    let chunk = vec![b'a'; 1024 * 1024];
    let mut sent = 0;
    while sent < 100 && client.send_within(&chunk, Duration::from_secs(1)) {
        sent += 1;
    }
    assert!(
        sent < 100,
        "the agent must stop reading a line that never ends"
    );
    expect_error(&mut client, ErrorKind::Protocol, "request longer than");
    assert_eq!(
        client.reply(),
        None,
        "the session is closed after a long line"
    );
    let grown_kib = worker.status_number("VmHWM").saturating_sub(rss_before);
    assert!(grown_kib < 16 * 1024, "the agent buffered {grown_kib} KiB");
    drop(client);
    next_client_is_served(&worker);
}

/// An `eval` of `1` padded with a comment to exactly `len` bytes, newline excluded.
fn eval_line_of(len: usize) -> Vec<u8> {
    let (head, tail) = (&b"{\"op\":\"eval\",\"id\":7,\"code\":\"1//"[..], b"\"}\n");
    let mut line = head.to_vec();
    line.resize(len - (tail.len() - 1), b'a');
    line.extend_from_slice(tail);
    line
}

#[test]
fn the_request_cap_is_exact() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    assert!(client.send(&eval_line_of(attach_protocol::MAX_REQUEST_LINE)));
    match client.reply() {
        Some(Reply::Value { id: 7, value, .. }) => assert_eq!(value, 1),
        other => panic!("a line of exactly the cap is accepted: {other:?}"),
    }
    assert!(client.send(&eval_line_of(attach_protocol::MAX_REQUEST_LINE + 1)));
    expect_error(&mut client, ErrorKind::Protocol, "request longer than");
    drop(client);
    next_client_is_served(&worker);
}

#[test]
fn huge_results_and_deep_recursion_are_stopped_by_limits() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    client.eval(1, "let s = \"x\"; s.pad(300000000, \"y\"); s");
    expect_error(&mut client, ErrorKind::Limit, "grew past its limit");
    client.eval(2, "let a = []; a.pad(300000000, 1); a");
    expect_error(&mut client, ErrorKind::Limit, "grew past its limit");
    client.eval(3, "fn down(n) { down(n + 1) } down(0)");
    expect_error(&mut client, ErrorKind::Limit, "nested too deeply");
    client.eval(4, "big");
    expect_error(&mut client, ErrorKind::Limit, "reply limit");
    client.eval(
        5,
        "let s = \"\"; s.pad(1000000, \"y\"); for i in 0..100 { print(s) } 7",
    );
    match client.reply() {
        Some(Reply::Value { value, output, .. }) => {
            assert_eq!(value, 7);
            assert!(
                output.len() <= 3,
                "printing is capped: {} lines",
                output.len()
            );
            assert!(output.last().unwrap().contains("printed lines dropped"));
        }
        other => panic!("expected a value, got {other:?}"),
    }
    still_answers(&mut client);
}

#[test]
fn a_client_that_never_says_hello_is_given_up_on() {
    let mut worker = Worker::fixture_logged(&["--hello-timeout-ms", "300"]);
    let silent = RawClient::prepare(worker.pid);
    silent.ring();
    worker.wait_log("no hello from the client");
    drop(silent);
    next_client_is_served(&worker);
}

#[test]
fn an_idle_session_is_closed_with_a_reason() {
    let worker = Worker::fixture(&["--idle-timeout-ms", "300"]);
    let mut client = RawClient::connect(worker.pid);
    match client.reply() {
        Some(Reply::Bye { reason }) => assert_eq!(reason, "idle timeout"),
        other => panic!("expected bye, got {other:?}"),
    }
    drop(client);
    next_client_is_served(&worker);
}

#[test]
fn a_client_that_never_reads_cannot_block_the_agent() {
    let mut worker = Worker::fixture_logged(&["--write-timeout-ms", "300"]);
    let mut client = RawClient::connect(worker.pid);
    // Each reply is ~1 MB; the reply FIFO holds 64 KiB, and we never read.
    for id in 0..4 {
        client.eval(id, "let s = \"\"; s.pad(1000000, \"y\"); s");
    }
    worker.wait_log("could not deliver a reply");
    worker.wait_log("session closed");
    drop(client);
    next_client_is_served(&worker);
}

#[test]
fn a_reader_that_vanishes_mid_reply_raises_no_sigpipe_in_the_host() {
    let mut worker = Worker::fixture_logged(&[]);
    let mut client = RawClient::connect(worker.pid);
    client.eval(1, "let s = \"\"; s.pad(1000000, \"y\"); [s, s, s]");
    std::thread::sleep(Duration::from_millis(50));
    client.close_reply();
    worker.wait_log("could not deliver a reply");
    drop(client);
    assert!(worker.is_running(), "SIGPIPE must never kill the host");
    next_client_is_served(&worker);
}

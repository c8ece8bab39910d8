//! Thousands of random and mutated protocol lines thrown at a live agent: every line
//! gets exactly one reply (or a clean end of the session), nothing panics, the worker
//! lives on and serves the next client.

use std::cell::RefCell;

use crate::support::raw::RawClient;
use crate::support::{eval, Worker};
use attach_protocol::{encode_line, Reply, Request};
use proptest::prelude::*;

/// A valid request of each kind, as the starting point for mutations.
fn valid_line(kind: u8, id: u64, text: String) -> Vec<u8> {
    let request = match kind % 4 {
        0 => Request::Eval { id, code: text },
        1 => Request::Ping { id },
        2 => Request::Hello {
            v: id as u32,
            token: text,
            client_pid: 1,
        },
        _ => Request::Bye,
    };
    encode_line(&request)
}

fn mutate(mut line: Vec<u8>, edits: Vec<(usize, u8, u8)>) -> Vec<u8> {
    line.pop();
    for (at, byte, how) in edits {
        let at = at % (line.len() + 1);
        match how {
            0 if at < line.len() => line[at] = byte,
            1 if at < line.len() => {
                line.remove(at);
            }
            _ => line.insert(at, byte),
        }
    }
    line
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    let random = proptest::collection::vec(any::<u8>(), 0..300);
    let mutated = (
        any::<u8>(),
        any::<u64>(),
        "[ -~]{0,40}",
        proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
    )
        .prop_map(|(kind, id, text, edits)| mutate(valid_line(kind, id, text), edits));
    prop_oneof![random, mutated].prop_map(|mut line| {
        // One request per line: a newline inside would make two.
        line.retain(|&b| b != b'\n');
        line.push(b'\n');
        line
    })
}

#[test]
fn random_and_mutated_lines_never_break_the_agent() {
    let worker = Worker::fixture(&[]);
    let client = RefCell::new(Some(RawClient::connect(worker.pid)));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 3_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&line_strategy(), |line| {
        let mut slot = client.borrow_mut();
        let session = slot.get_or_insert_with(|| RawClient::connect(worker.pid));
        prop_assert!(session.send(&line), "the agent stopped reading");
        match session.reply() {
            Some(Reply::Bye { .. }) | None => *slot = None,
            Some(_) => {}
        }
        Ok(())
    });
    result.unwrap();
    drop(client);
    let run = eval(worker.pid, "40 + 2");
    assert_eq!((run.code, run.stdout.trim()), (0, "42"), "{run:?}");
}

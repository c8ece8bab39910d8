//! `stacks()` through the vDSO: a thread stopped inside `clock_gettime` (the kernel's
//! code mapped into every process) must be unwound past it, into the code that asked
//! for the time.

use crate::support::load::Load;
use crate::support::{attach, frame_in, Worker};
use serde_json::Value;

/// Snapshots taken while a request spins on the clock.
const SNAPSHOTS: usize = 20;
/// The request's own function, which must appear below the vDSO frame.
const SPINNER: &str = "http_worker::server::spin_on_clock";

#[test]
fn a_thread_reading_the_clock_is_unwound_through_the_vdso() {
    let (worker, addr) = Worker::http(2);
    // One client asking for nothing but 200 ms of clock reads: one pool thread spins.
    let load = Load::start(addr, 1, &["/spin?ms=200"]);
    load.wait_for_done(1);
    let mut in_vdso = 0;
    let mut through_vdso = 0;
    for _ in 0..SNAPSHOTS {
        let run = attach(&[&worker.pid.to_string(), "--json", "-e", "stacks()"], "");
        assert_eq!(run.code, 0, "{run:?}");
        let document: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON document");
        for thread in document["value"].as_array().unwrap() {
            let frames = thread["frames"].as_array().unwrap();
            let Some(innermost) = frames.first() else {
                continue;
            };
            if innermost["module"] != "[vdso]" {
                continue;
            }
            in_vdso += 1;
            // Named from the vDSO's symbols, and its caller found from its CFI (the C
            // library's clock_gettime), not skipped as a frame-pointer guess would.
            let names: Vec<&str> = frames
                .iter()
                .map(|frame| frame["function"].as_str().unwrap())
                .collect();
            assert!(
                names.len() > 1
                    && names[0].contains("clock_gettime")
                    && names[1].contains("clock_gettime"),
                "{names:?}"
            );
            if frames.iter().any(|frame| frame_in(frame, SPINNER)) {
                through_vdso += 1;
            }
        }
    }
    let outcome = load.finish();
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert!(
        in_vdso >= SNAPSHOTS / 4,
        "the spinning thread was in the vDSO in only {in_vdso} of {SNAPSHOTS} snapshots"
    );
    assert!(
        through_vdso * 10 >= in_vdso * 9,
        "only {through_vdso} of {in_vdso} stacks stopped in the vDSO reach {SPINNER}"
    );
}

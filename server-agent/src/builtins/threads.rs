//! `threads()`: every thread of the process with its state and CPU time, one `stat`
//! read per thread.

use serde::Serialize;

use attach_protocol::procfs::ProcStat;

use super::procfs::{numbered_entries, ticks_per_second};
use crate::budget;

#[derive(Debug, Serialize)]
pub(crate) struct ThreadInfo {
    tid: u32,
    name: String,
    state: &'static str,
    user_ms: u64,
    system_ms: u64,
    cpu_ms: u64,
}

pub(crate) fn threads() -> Result<Vec<ThreadInfo>, String> {
    let tids = numbered_entries("task")?;
    let ms_per_tick = 1000 / ticks_per_second().max(1);
    Ok(budget::within(tids)
        // A thread may end between the listing and the read: skip it.
        .filter_map(|tid| {
            let stat = ProcStat::read(format!("/proc/self/task/{tid}/stat"))?;
            let (user, system) = (
                stat.user_ticks * ms_per_tick,
                stat.system_ticks * ms_per_tick,
            );
            budget::charge_lazily(std::mem::size_of::<ThreadInfo>() + stat.comm.len());
            Some(ThreadInfo {
                tid,
                state: state_name(stat.state),
                name: stat.comm,
                user_ms: user,
                system_ms: system,
                cpu_ms: user + system,
            })
        })
        .collect())
}

fn state_name(code: char) -> &'static str {
    match code {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'T' => "stopped",
        't' => "tracing stop",
        'Z' => "zombie",
        'X' => "dead",
        'I' => "idle",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_this_thread_with_its_name() {
        let here = nix::unistd::gettid().as_raw() as u32;
        let all = super::threads().unwrap();
        let me = all
            .iter()
            .find(|t| t.tid == here)
            .expect("this thread is listed");
        assert_eq!(me.state, "running");
        assert_eq!(me.cpu_ms, me.user_ms + me.system_ms);
    }
}

//! `threads()`: every thread of the process with its state and CPU time.

use serde::Serialize;

use super::procfs::{numbered_entries, read_proc, stat_fields, ticks_per_second};
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
            let stat = read_proc(&format!("task/{tid}/stat")).ok()?;
            let fields = stat_fields(&stat);
            let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
            let (user, system) = (ticks(11)? * ms_per_tick, ticks(12)? * ms_per_tick);
            let name = read_proc(&format!("task/{tid}/comm"))
                .ok()?
                .trim_end()
                .to_owned();
            budget::charge_lazily(std::mem::size_of::<ThreadInfo>() + name.len());
            Some(ThreadInfo {
                tid,
                name,
                state: state_name(fields.first()?),
                user_ms: user,
                system_ms: system,
                cpu_ms: user + system,
            })
        })
        .collect())
}

fn state_name(code: &str) -> &'static str {
    match code {
        "R" => "running",
        "S" => "sleeping",
        "D" => "disk sleep",
        "T" => "stopped",
        "t" => "tracing stop",
        "Z" => "zombie",
        "X" => "dead",
        "I" => "idle",
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

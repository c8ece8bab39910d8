//! Finding attachable processes: `attach --list`, `attach <name>`, `attach --all`.
//!
//! A process counts only if it shows both signs of a live agent (see
//! `attach_protocol::marker`): a thread named `attach-agent` and the announcement
//! memfd among its descriptors. Both vanish with the process, so nothing stale is
//! ever listed.
//!
//! Both signs are claims anyone can make for their own processes, so only processes
//! of the caller's uid count; root sees every uid in `--list`, but a name picks
//! processes of one uid only (`named`), so a process of another user that merely
//! claims to be an agent never receives the caller's expressions.

use std::path::Path;

use attach_protocol::procfs::ProcStat;
use attach_protocol::{AgentMarker, ProcStatus, AGENT_THREAD_NAME};
use serde::Serialize;

/// One process that runs an agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentProcess {
    pub pid: u32,
    pub name: String,
    pub user: String,
    pub uid: u32,
    pub uptime_s: u64,
    pub agent_version: String,
    pub protocol: u32,
    /// The doorbell signal number the agent listens for.
    pub signal: i32,
}

/// Every attachable process the caller may see, by pid: its own, or every uid's for
/// root.
pub fn list() -> Vec<AgentProcess> {
    let me = nix::unistd::geteuid().as_raw();
    every_agent()
        .into_iter()
        .filter(|process| me == 0 || process.uid == me)
        .collect()
}

/// The attachable processes of `uid` whose name is exactly `name`.
pub fn named(name: &str, uid: u32) -> Vec<AgentProcess> {
    every_agent()
        .into_iter()
        .filter(|process| process.name == name && process.uid == uid)
        .collect()
}

fn every_agent() -> Vec<AgentProcess> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<AgentProcess> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id())
        .filter_map(inspect)
        .collect();
    found.sort_by_key(|process| process.pid);
    found
}

fn inspect(pid: u32) -> Option<AgentProcess> {
    if !has_agent_thread(pid) {
        return None;
    }
    let status = ProcStatus::of_pid(pid).ok()?;
    let marker = AgentMarker::of_process(pid, &status).ok()??;
    let uid = status.euid()?;
    Some(AgentProcess {
        pid,
        name: status.name()?.to_owned(),
        user: user_name(uid),
        uid,
        uptime_s: uptime(pid).unwrap_or(0),
        agent_version: marker.agent_version,
        protocol: marker.protocol,
        signal: marker.signal,
    })
}

fn has_agent_thread(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks.flatten().any(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.trim_end() == AGENT_THREAD_NAME)
            })
        })
        .unwrap_or(false)
}

/// Seconds since `pid` started.
fn uptime(pid: u32) -> Option<u64> {
    let start_ticks = ProcStat::of_pid(pid)?.start_ticks;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()??
        .max(1) as u64;
    let boot: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((boot as u64).saturating_sub(start_ticks / ticks))
}

/// The name of `uid` from `/etc/passwd`, or the number.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string(Path::new("/etc/passwd"))
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

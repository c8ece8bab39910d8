//! Why the kernel refused ptrace, naming the setting and what to change.

use attach_protocol::ProcStatus;
use nix::errno::Errno;

use crate::UnwindError;

const YAMA: &str = "/proc/sys/kernel/yama/ptrace_scope";
/// Bit of CAP_SYS_PTRACE in the capability masks of /proc/<pid>/status.
const CAP_SYS_PTRACE: u32 = 19;

pub(crate) fn explain(pid: u32, tid: u32, errno: Errno) -> UnwindError {
    let scope = std::fs::read_to_string(YAMA)
        .ok()
        .and_then(|text| text.trim().parse::<u8>().ok());
    let why = reason(
        pid,
        scope,
        has_cap_sys_ptrace(),
        status_field(pid, "Seccomp") == Some(2),
    );
    UnwindError::Denied { tid, errno, why }
}

/// The likeliest cause, from the Yama scope, the helper's CAP_SYS_PTRACE and whether
/// a seccomp filter is in force.
fn reason(pid: u32, scope: Option<u8>, capable: bool, seccomp: bool) -> String {
    match scope {
        Some(3) => format!(
            "{YAMA} is 3, which forbids ptrace to everyone until a reboot; stacks() cannot work on this host"
        ),
        Some(2) if !capable => format!(
            "{YAMA} is 2, which allows ptrace only with CAP_SYS_PTRACE; give the worker that capability \
             (e.g. `docker run --cap-add SYS_PTRACE`) or set `sysctl kernel.yama.ptrace_scope=1`"
        ),
        _ if seccomp => format!(
            "the worker runs under a seccomp filter (Seccomp: 2 in /proc/{pid}/status) that may forbid \
             ptrace; allow ptrace and process_vm_readv in its profile (a container runtime's default \
             profile does so with CAP_SYS_PTRACE, e.g. `docker run --cap-add SYS_PTRACE`)"
        ),
        Some(1) => format!(
            "{YAMA} is 1, which allows ptrace only by an ancestor or a tracer the worker named; \
             stacks() names its helper itself, so run the helper through stacks() (or as root)"
        ),
        _ => "the helper must run as the worker's user and the worker must be dumpable (not setuid, \
              not prctl(PR_SET_DUMPABLE, 0)), or the helper needs CAP_SYS_PTRACE"
            .to_owned(),
    }
}

fn has_cap_sys_ptrace() -> bool {
    ProcStatus::read("/proc/self/status")
        .ok()
        .and_then(|status| u64::from_str_radix(status.field("CapEff")?, 16).ok())
        .is_some_and(|mask| mask & (1 << CAP_SYS_PTRACE) != 0)
}

fn status_field(pid: u32, key: &str) -> Option<u64> {
    ProcStatus::of_pid(pid).ok()?.number(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_names_its_setting_and_what_to_do() {
        let strict = reason(9, Some(3), true, false);
        assert!(
            strict.contains("/proc/sys/kernel/yama/ptrace_scope is 3") && strict.contains("reboot")
        );
        let admin = reason(9, Some(2), false, false);
        assert!(
            admin.contains("is 2") && admin.contains("CAP_SYS_PTRACE") && admin.contains("sysctl")
        );
        let filtered = reason(9, Some(2), true, true);
        assert!(filtered.contains("seccomp") && filtered.contains("/proc/9/status"));
        assert!(reason(9, Some(1), false, false).contains("a tracer the worker named"));
        assert!(reason(9, None, false, false).contains("dumpable"));
    }
}

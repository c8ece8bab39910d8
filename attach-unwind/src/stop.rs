//! Stops one thread, copies its registers and the top of its stack, lets it go. The
//! stop is the only part of a snapshot that pauses the target, so it does nothing
//! else: the walk comes later (`walk.rs`).
//!
//! Where a long pause comes from. The pause runs from `PTRACE_INTERRUPT` to
//! `PTRACE_DETACH`. Recorded per stop (bench section 9, `http-worker` under HTTP load
//! on 2 cores, about 15 000 stops a run): reading the registers and copying the stack
//! take 5 µs at the median and under 60 µs at the 99th percentile, detaching as
//! little; every pause over 1 ms was spent between the interrupt and the helper's
//! `waitpid` returning, and almost every thread was asleep when interrupted. The
//! run-queue waits in `/proc/<tid>/schedstat` said whose: either the thread, woken to
//! enter the stop, queued for a CPU, or the helper, woken by the stop, did. Both are
//! the machine's load; neither is work done while the thread is stopped.
//!
//! What was tried against it, by stops over 1 ms per run (as is: 4 to 139, with load
//! averages from 1 to 3 set by other work on the machine): `sched_yield` or a 50 µs sleep before each stop, to
//! start it on a fresh time slice (13–61), a short EEVDF slice for the helper (19–169),
//! nice -20 (74–124), `SCHED_FIFO` for the helper while threads are stopped (18–99: its
//! own waits went away, the thread's stayed), and that plus moving the helper to a
//! sleeping thread's CPU so that the woken thread finds the CPU the helper leaves
//! (2–3). The last looked best, but in plain bench runs side by side with the code as
//! is, on an idle machine, it did not do better against the 2 ms target (4 of 36 408
//! pauses over it, against 5 of 42 294) while the median pause with 64 threads went
//! from 19 to 47 µs. So the helper keeps its normal priority and CPUs, and the stop
//! itself only got smaller: it copies the used part of the stack and allocates
//! nothing.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::maps::Modules;
use crate::memory::Memory;
use crate::{denied, UnwindError};

/// What one stop took from a thread: enough to walk its stack later.
pub(crate) struct Captured {
    pub(crate) pc: u64,
    pub(crate) regs: framehop::UnwindRegsNative,
    pub(crate) memory: Memory,
    /// How long the thread was stopped.
    pub(crate) paused: Duration,
}

enum Stop {
    /// Stopped; a signal that arrived meanwhile is handed back on detach.
    Stopped(Option<Signal>),
    Gone,
}

/// Stops `tid`, copies its registers and stack top, lets it go; `None` if the thread
/// ended first. `modules` tells where its stack ends.
pub(crate) fn capture(
    pid: u32,
    tid: u32,
    modules: &Modules,
) -> Result<Option<Captured>, UnwindError> {
    let thread = Pid::from_raw(tid as i32);
    let buffer = Memory::buffer();
    match ptrace::seize(thread, Options::empty()) {
        Ok(()) => {}
        Err(Errno::ESRCH) => return Ok(None),
        Err(errno @ (Errno::EPERM | Errno::EACCES | Errno::ENOSYS)) => {
            return Err(denied::explain(pid, tid, errno))
        }
        Err(errno) => return Err(UnwindError::Ptrace { tid, errno }),
    }
    let started = Instant::now();
    let pending = match interrupt(thread) {
        Ok(Stop::Stopped(pending)) => pending,
        Ok(Stop::Gone) => return Ok(None),
        Err(errno) => {
            // Not stopped, so detach may fail; the kernel lets go when we exit.
            let _ = ptrace::detach(thread, None);
            return Err(UnwindError::Ptrace { tid, errno });
        }
    };
    let captured = registers(thread).map(|(pc, regs, sp)| {
        let top = modules.mapping_end(sp);
        (pc, regs, Memory::capture(pid, sp, top, buffer))
    });
    let resumed = ptrace::detach(thread, pending);
    let paused = started.elapsed();
    match (captured, resumed) {
        (Ok((pc, regs, memory)), Ok(())) => Ok(Some(Captured {
            pc,
            regs,
            memory,
            paused,
        })),
        (_, Err(Errno::ESRCH)) => Ok(None),
        (Err(errno), _) | (_, Err(errno)) => Err(UnwindError::Ptrace { tid, errno }),
    }
}

/// `PTRACE_INTERRUPT`, then waits for the thread to report the stop.
fn interrupt(thread: Pid) -> Result<Stop, Errno> {
    ptrace::interrupt(thread)?;
    loop {
        match waitpid(thread, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::PtraceEvent(_, _, nix::libc::PTRACE_EVENT_STOP)) => {
                return Ok(Stop::Stopped(None))
            }
            Ok(WaitStatus::Stopped(_, signal)) => return Ok(Stop::Stopped(Some(signal))),
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(Errno::ECHILD) => {
                return Ok(Stop::Gone)
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// The program counter, what framehop starts from, and the stack pointer.
type Registers = (u64, framehop::UnwindRegsNative, u64);

#[cfg(target_arch = "x86_64")]
fn registers(thread: Pid) -> Result<Registers, Errno> {
    let regs = ptrace::getregs(thread)?;
    Ok((
        regs.rip,
        framehop::UnwindRegsNative::new(regs.rip, regs.rsp, regs.rbp),
        regs.rsp,
    ))
}

#[cfg(target_arch = "aarch64")]
fn registers(thread: Pid) -> Result<Registers, Errno> {
    let regs = ptrace::getregset::<ptrace::regset::NT_PRSTATUS>(thread)?;
    Ok((
        regs.pc,
        framehop::UnwindRegsNative::new(regs.regs[30], regs.sp, regs.regs[29]),
        regs.sp,
    ))
}

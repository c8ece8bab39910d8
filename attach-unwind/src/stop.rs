//! Stops one thread, copies its registers and the top of its stack, lets it go. The
//! stop is the only part of a snapshot that pauses the target, so it does nothing
//! else: the walk comes later (`walk.rs`).

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

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
/// ended first.
pub(crate) fn capture(pid: u32, tid: u32) -> Result<Option<Captured>, UnwindError> {
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
    let captured =
        registers(thread).map(|(pc, regs, sp)| (pc, regs, Memory::capture(pid, sp, buffer)));
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

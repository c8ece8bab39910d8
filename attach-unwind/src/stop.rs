//! Stops one thread, copies its registers and the top of its stack, lets it go, then
//! walks the copy. The stop is the only part of a snapshot that pauses the target, so
//! it does nothing else.

use std::time::{Duration, Instant};

use framehop::{FrameAddress, Unwinder as _};
use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::maps::Modules;
use crate::memory::Memory;
use crate::{denied, UnwindError};

/// Deeper stacks are cut here (a runaway recursion must not make the pause long).
const MAX_FRAMES: usize = 256;

pub(crate) struct Walker<'m> {
    modules: &'m Modules,
    cache: framehop::CacheNative<framehop::MayAllocateDuringUnwind>,
}

/// A thread's frames, innermost first, and how long it was stopped.
pub(crate) type Walked = (Vec<FrameAddress>, Duration);

enum Stop {
    /// Stopped; a signal that arrived meanwhile is handed back on detach.
    Stopped(Option<Signal>),
    Gone,
}

impl<'m> Walker<'m> {
    pub(crate) fn new(modules: &'m Modules) -> Walker<'m> {
        Walker {
            modules,
            cache: framehop::CacheNative::new(),
        }
    }

    /// `tid`'s stack, or `None` if the thread ended first.
    pub(crate) fn walk(&mut self, pid: u32, tid: u32) -> Result<Option<Walked>, UnwindError> {
        let thread = Pid::from_raw(tid as i32);
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
        let captured = registers(thread).map(|(pc, regs, sp)| (pc, regs, Memory::capture(pid, sp)));
        let resumed = ptrace::detach(thread, pending);
        let paused = started.elapsed();
        match (captured, resumed) {
            (Ok((pc, regs, memory)), Ok(())) => Ok(Some((self.unwind(pc, regs, memory), paused))),
            (_, Err(Errno::ESRCH)) => Ok(None),
            (Err(errno), _) | (_, Err(errno)) => Err(UnwindError::Ptrace { tid, errno }),
        }
    }

    fn unwind(
        &mut self,
        pc: u64,
        regs: framehop::UnwindRegsNative,
        mut memory: Memory,
    ) -> Vec<FrameAddress> {
        let mut read = |address| memory.read_u64(address);
        let mut iter = self
            .modules
            .unwinder
            .iter_frames(pc, regs, &mut self.cache, &mut read);
        let mut frames = Vec::new();
        while let (true, Ok(Some(frame))) = (frames.len() < MAX_FRAMES, iter.next()) {
            frames.push(frame);
        }
        frames
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

//! The helper side of `stacks()`: reads every thread's stack of another process.
//!
//! Why a helper process: a process cannot ptrace its own threads, and walking another
//! thread's stack from inside would take a signal to that thread, which request
//! threads must never see. So the agent starts the `attach` binary as
//! `attach __stacks <pid> <ms>` (see `attach_protocol::stacks`), names it as its
//! tracer, and this crate does the reading, the way py-spy and samply do:
//!
//! 1. Before anything stops: the mapped ELF files are read from `/proc/<pid>/maps`
//!    (through `/proc/<pid>/root`, so a container's files are the container's), and
//!    their `.eh_frame` unwind tables are handed to framehop; so are the tables of
//!    the target's vDSO, copied from its memory (`vdso.rs`).
//! 2. One thread at a time: `PTRACE_SEIZE` (no signal), `PTRACE_INTERRUPT`, read the
//!    registers, copy the used part of its stack (from the stack pointer to the top
//!    of its mapping, at most 128 KiB) with one `process_vm_readv`, `PTRACE_DETACH`.
//!    Only that thread pauses, for those few system calls; a system call it was in
//!    restarts on its own (no EINTR). Nothing is allocated meanwhile. Where the
//!    long pauses come from, and what was tried against them, is in `stop.rs`.
//! 3. After every thread runs again: the copies are walked with DWARF CFI (frame
//!    pointers as a fallback), and addresses become functions, files and lines
//!    (addr2line, inlined frames marked; else a function symbol whose size covers
//!    the address, `names.rs`), demangled.
//!
//! Why one thread at a time: stopping them all first (as a debugger does) would make
//! every thread's pause as long as all the stops together, which grows with the
//! number of threads (and longer still if the walk ran meanwhile: 64 threads take
//! about 15 ms); stopped alone, each thread pauses for its own stop only (median tens
//! of microseconds). The price is that the threads are seen one after the other,
//! within milliseconds, rather than at one instant, which a stack listing can afford.
//!
//! Why copy, then walk: walking the live stack while the thread is stopped would
//! read it a word at a time, one system call each, and look up unwind rules and
//! symbols meanwhile: milliseconds per thread. The copy is one system call of a few
//! pages (5 µs at the median), and everything slow runs after the thread goes on. A
//! stack deeper than the copy is read from the live process for its outer frames,
//! which may have changed by then; those frames are rare and only ever wrong, never
//! harmful.
//!
//! It must never leave a thread stopped: a seized thread is detached on every path,
//! and if the helper dies (the agent kills it at the command's deadline) the kernel
//! detaches whatever it still held. It never writes to the process.

mod denied;
pub mod helper;
mod maps;
mod memory;
mod names;
mod stop;
mod symbols;
mod vdso;
mod walk;

use std::time::{Duration, Instant};

use attach_protocol::stacks::ThreadStack;
use nix::errno::Errno;

/// Why a snapshot failed. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum UnwindError {
    #[error("cannot read {path}: {source}")]
    Proc {
        path: String,
        source: std::io::Error,
    },
    #[error("the kernel refused to let the stack helper ptrace thread {tid} ({errno}): {why}")]
    Denied { tid: u32, errno: Errno, why: String },
    #[error("ptrace of thread {tid} failed: {errno}")]
    Ptrace { tid: u32, errno: Errno },
    #[error(
        "the command's time limit passed after {done} of {total} threads (no thread is left \
         stopped); raise Limits::command_timeout or call stacks() with more time left"
    )]
    Deadline { done: usize, total: usize },
}

/// Every thread of `pid`, innermost frame first. Gives up at `deadline`.
pub fn snapshot(pid: u32, deadline: Instant) -> Result<Vec<ThreadStack>, UnwindError> {
    let modules = maps::Modules::load(pid)?;
    let tids = thread_ids(pid)?;
    let mut captured = Vec::with_capacity(tids.len());
    for (done, &tid) in tids.iter().enumerate() {
        if Instant::now() >= deadline {
            return Err(UnwindError::Deadline {
                done,
                total: tids.len(),
            });
        }
        if let Some(stack) = stop::capture(pid, tid, &modules)? {
            captured.push((tid, stack));
        }
    }
    // Every thread runs again; the rest is the helper's own work.
    let mut walker = walk::Walker::new(&modules);
    let mut names = symbols::Symbols::new(&modules);
    let mut threads: Vec<ThreadStack> = captured
        .into_iter()
        .map(|(tid, stack)| ThreadStack {
            tid,
            name: thread_name(pid, tid),
            paused_us: duration_us(stack.paused),
            frames: walker
                .walk(stack)
                .into_iter()
                .flat_map(|address| names.frames(address))
                .collect(),
        })
        .collect();
    names.name_the_rest(&mut threads);
    Ok(threads)
}

fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn thread_ids(pid: u32) -> Result<Vec<u32>, UnwindError> {
    let path = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&path).map_err(|source| UnwindError::Proc {
        path: path.clone(),
        source,
    })?;
    let mut tids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

fn thread_name(pid: u32, tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .map(|name| name.trim_end().to_owned())
        .unwrap_or_default()
}

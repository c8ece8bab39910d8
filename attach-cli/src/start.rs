//! Process start-up, done here instead of by Rust's runtime (`lang_start`), so that
//! `attach --version` and a one-shot start sooner (bench/NOTES.md has the numbers).
//!
//! Before a Rust `fn main`, std ignores SIGPIPE, reopens closed descriptors 0-2 on
//! /dev/null, reads /proc/self/maps to find the main thread's stack guard, installs
//! SIGSEGV and SIGBUS handlers on an alternate stack (and then gives every new thread
//! one), and names the main thread; after it, std flushes stdout and turns a panic
//! into status 101. attach keeps what it relies on: SIGPIPE ignored (a closed pipe is
//! an `EPIPE` that `main` turns into status 141), no standard descriptor left closed
//! (else a file opened later would take its number and get our output), status 101
//! on a panic (stdout is flushed by `main`'s `run`, which `--version` skips: it
//! writes once, unbuffered). It drops the rest: a stack overflow is a plain
//! SIGSEGV without std's message (still a crash, at the kernel's or glibc's guard
//! page), and a panic on the main thread names it `<unnamed>`. `std::env::args`
//! needs nothing here: glibc hands argv to std's `.init_array` function.
//!
//! This must never install a signal handler that runs code, open a file before
//! descriptors 0-2 are checked, or let a panic unwind into the C caller (that aborts).

// std fills `std::env::args` from glibc's call of its `.init_array` function; with
// another C library attach would see no arguments at all.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
compile_error!("attach's C entry point (start.rs) relies on glibc handing argv to std");

use std::ffi::c_int;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::stat::Mode;

/// The status of a panic (a bug in attach), as std's runtime gives it.
const PANICKED: u8 = 101;

/// Prepares the process as std would, runs `real_main` and returns its status.
pub fn run(real_main: fn() -> u8) -> c_int {
    // SAFETY: SIG_IGN runs no code of ours in a signal context; nothing else here
    // handles SIGPIPE.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    for fd in 0..=2 {
        if is_closed(fd) {
            open_null_as(fd);
        }
    }
    let code = std::panic::catch_unwind(real_main).unwrap_or(PANICKED);
    c_int::from(code)
}

/// True when no file is open as `fd`.
fn is_closed(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor's flags; any
    // number is a valid question (EBADF answers a closed one).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags == -1 && Errno::last() == Errno::EBADF
}

/// Opens /dev/null as `fd`, the lowest closed descriptor; aborts as std does when
/// that fails, since our output could otherwise land in a file opened later.
fn open_null_as(fd: RawFd) {
    match nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
        // Kept open for the life of the process, as its standard descriptor.
        Ok(null) if null.as_raw_fd() == fd => {
            let _ = null.into_raw_fd();
        }
        _ => std::process::abort(),
    }
}

//! Running client code as on an older kernel, on this one: a seccomp filter on one
//! new thread makes `pidfd_open` fail the way a kernel without the feature does, so
//! the client's fallbacks (no thread pidfds before Linux 6.9, no pidfds at all before
//! 5.3 or in a sandbox) are exercised by the same tests as the main path.
//!
//! The filter is installed without `SECCOMP_FILTER_FLAG_TSYNC`: it binds only the
//! thread that installs it, which ends with the closure, never the test harness's
//! other threads.

use nix::libc;

/// What the kernel seems to lack.
#[derive(Debug, Clone, Copy)]
pub enum Missing {
    /// `pidfd_open(tid, PIDFD_THREAD)` fails with `EINVAL`, as before Linux 6.9.
    ThreadPidfds,
    /// Every `pidfd_open` fails with `ENOSYS`, as before Linux 5.3.
    Pidfds,
}

/// Runs `f` on a thread of its own that lacks `missing`, and returns its result.
pub fn without<T: Send>(missing: Missing, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                install(missing);
                f()
            })
            .join()
            .expect("the thread without pidfds panicked")
    })
}

/// `AUDIT_ARCH_*` of this machine, as `seccomp_data.arch` gives it.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

fn install(missing: Missing) {
    let load = |offset: u32| statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    let allow = statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW);
    let fail = |errno: i32| {
        statement(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | errno as u32,
        )
    };
    // struct seccomp_data: nr at 0, arch at 4, args[] from 16 (the low word of
    // args[1], the flags, at 24 on little-endian x86-64 and aarch64).
    let mut program = vec![
        load(4),
        jump_if_equal(AUDIT_ARCH, 1, 0),
        allow,
        load(0),
        jump_if_equal(libc::SYS_pidfd_open as u32, 1, 0),
        allow,
    ];
    match missing {
        Missing::ThreadPidfds => program.extend([
            load(24),
            jump(
                libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
                libc::PIDFD_THREAD,
                1,
                0,
            ),
            allow,
            fail(libc::EINVAL),
        ]),
        Missing::Pidfds => program.push(fail(libc::ENOSYS)),
    }
    let filter = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with plain integer arguments; PR_SET_NO_NEW_PRIVS only limits
    // this thread (and what it executes) from gaining privileges.
    let no_new_privs = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(no_new_privs, 0, "PR_SET_NO_NEW_PRIVS");
    // SAFETY: `filter` points at `program`, which outlives the call; the kernel
    // copies the program and installs it on this thread only (no TSYNC).
    let installed = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &filter as *const libc::sock_fprog,
        )
    };
    assert_eq!(installed, 0, "installing the seccomp filter");
    let (flags, errno) = match missing {
        Missing::ThreadPidfds => (libc::PIDFD_THREAD, libc::EINVAL),
        Missing::Pidfds => (0, libc::ENOSYS),
    };
    // SAFETY: pidfd_open takes plain integers; it fails here, so no descriptor leaks.
    let opened = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), flags) };
    let failed_as_told =
        opened == -1 && std::io::Error::last_os_error().raw_os_error() == Some(errno);
    assert!(failed_as_told, "the filter does not hide {missing:?}");
}

fn statement(code: u32, k: u32) -> libc::sock_filter {
    jump(code, k, 0, 0)
}

fn jump_if_equal(k: u32, if_true: u8, if_false: u8) -> libc::sock_filter {
    jump(
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        k,
        if_true,
        if_false,
    )
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

//! The shell's history file, opened so that nobody else can plant or redirect it.
//!
//! `$XDG_STATE_HOME/attach/history` (else `~/.local/state/attach/history`) keeps
//! every command typed. Its directory and then the file are opened without
//! following symlinks (`O_NOFOLLOW`) and judged on the opened descriptors: a
//! directory, resp. a regular file, owned by us and not writable by group or
//! others. Anything else turns history off for this run, with one line on stderr
//! saying why; the path itself is never trusted after the check. The line editor
//! then reads and writes the checked file through `/proc/self/fd/N`, which names
//! that very file even if the path is swapped afterwards.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::escape;
use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

const FILE: &str = "history";

/// The checked, open history file.
pub struct History {
    file: File,
}

impl History {
    /// Opens the history, or says on stderr why there is none this run. None also
    /// when there is no state directory to keep it in.
    pub fn open() -> Option<History> {
        let dir = state_dir()?.join("attach");
        match open_checked(&dir) {
            Ok(file) => Some(History { file }),
            Err(reason) => {
                eprintln!(
                    "attach: history is off for this run: {}; fix or remove it to keep history",
                    escape::line(&reason)
                );
                None
            }
        }
    }

    /// A path that reaches the checked file, whatever happens to its name.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

/// `$XDG_STATE_HOME`, else `~/.local/state`.
fn state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
}

/// Opens `dir/history`; the error says what is wrong with which of the two.
fn open_checked(dir: &Path) -> Result<File, String> {
    let dir_shown = dir.display().to_string();
    let file_shown = dir.join(FILE).display().to_string();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| format!("cannot create {dir_shown}: {err}"))?;
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let dir_fd = open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | nofollow,
        Mode::empty(),
    )
    .map_err(|errno| refusal(&dir_shown, errno))?;
    check(&dir_fd, SFlag::S_IFDIR, &dir_shown)?;
    let file = openat(
        &dir_fd,
        FILE,
        OFlag::O_RDWR | OFlag::O_CREAT | nofollow,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(|errno| refusal(&file_shown, errno))?;
    check(&file, SFlag::S_IFREG, &file_shown)?;
    Ok(File::from(file))
}

/// Why opening `what` failed. The refusal itself came from the kernel; looking at
/// the path again only picks the words.
fn refusal(what: &str, errno: Errno) -> String {
    let symlink = std::fs::symlink_metadata(what).is_ok_and(|meta| meta.file_type().is_symlink());
    match errno {
        Errno::ELOOP | Errno::ENOTDIR if symlink => format!("{what} is a symbolic link"),
        Errno::ENOTDIR => format!("{what} is not a directory"),
        other => format!("cannot open {what}: {}", other.desc()),
    }
}

/// The opened `fd` is of `kind`, ours, and not writable by group or others.
fn check(fd: &OwnedFd, kind: SFlag, what: &str) -> Result<(), String> {
    let stat =
        fstat(fd.as_fd()).map_err(|errno| format!("cannot inspect {what}: {}", errno.desc()))?;
    let me = nix::unistd::geteuid().as_raw();
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != kind {
        let expected = if kind == SFlag::S_IFDIR {
            "a directory"
        } else {
            "a regular file"
        };
        return Err(format!("{what} is not {expected}"));
    }
    if stat.st_uid != me {
        return Err(format!(
            "{what} belongs to uid {}, not to you (uid {me})",
            stat.st_uid
        ));
    }
    if stat.st_mode & 0o022 != 0 {
        return Err(format!(
            "{what} is writable by group or others (mode {:o})",
            stat.st_mode & 0o7777
        ));
    }
    Ok(())
}

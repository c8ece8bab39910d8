//! Opening a FIFO in a world-writable directory without trusting it.
//!
//! `/tmp` is shared with every local user, so whatever sits at a FIFO path may have
//! been planted. The rules, applied identically by agent and client:
//! 0. Everything is relative to a checked directory handle (`crate::dir`), never a
//!    path that could be re-resolved elsewhere between two calls.
//! 1. `lstat` first: a symlink or anything that is not a FIFO is refused before it is
//!    ever opened (opening some special files has side effects).
//! 2. Open with `O_NOFOLLOW | O_NONBLOCK`: a link swapped in after step 1 fails with
//!    ELOOP, and opening never blocks on a missing peer.
//! 3. `fstat` the opened descriptor and decide on that, never on the path again:
//!    it must be a FIFO, owned by the expected uid, with no group/other permissions.
//!
//! Nothing here creates, truncates or unlinks a file.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};

use crate::dir::Dir;

/// Who may own a FIFO we are about to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoOwner {
    /// Exactly this uid.
    Uid(u32),
    /// This uid or root.
    UidOrRoot(u32),
}

impl FifoOwner {
    fn allows(self, uid: u32) -> bool {
        match self {
            FifoOwner::Uid(expected) => uid == expected,
            FifoOwner::UidOrRoot(expected) => uid == expected || uid == 0,
        }
    }

    fn describe(self) -> String {
        match self {
            FifoOwner::Uid(uid) => format!("uid {uid}"),
            FifoOwner::UidOrRoot(uid) => format!("uid {uid} or root"),
        }
    }
}

/// Which end to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The read end (the agent's request FIFO, the client's reply FIFO).
    Read,
    /// The write end, non-blocking: fails with `NoPeer` when nobody reads.
    Write,
    /// Holds both ends: opening never fails for lack of a peer, and reads never see
    /// EOF while we hold it. Used by the client for the request FIFO.
    ReadWrite,
}

/// Why a FIFO was refused. Each message names the path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    /// Nothing is at the path.
    #[error("{} does not exist", .path.display())]
    Missing {
        /// The FIFO's path.
        path: PathBuf,
    },
    /// The path is a symbolic link.
    #[error("{} is a symbolic link; refusing to follow it", .path.display())]
    Symlink {
        /// The FIFO's path.
        path: PathBuf,
    },
    /// The path is something else than a FIFO.
    #[error("{} is a {kind}, not a FIFO", .path.display())]
    NotAFifo {
        /// The FIFO's path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The FIFO belongs to another uid.
    #[error("{} is owned by uid {uid}, expected {expected}", .path.display())]
    WrongOwner {
        /// The FIFO's path.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Who should own it.
        expected: String,
    },
    /// Group or others have some access.
    #[error("{} has mode {mode:04o}; group and others must have no access", .path.display())]
    Insecure {
        /// The FIFO's path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A non-blocking open for writing found no reader.
    #[error("nobody has {} open at the other end", .path.display())]
    NoPeer {
        /// The FIFO's path.
        path: PathBuf,
    },
    /// `open(2)` failed otherwise.
    #[error("cannot open {}: {errno}", .path.display())]
    Open {
        /// The FIFO's path.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
}

/// Opens `name` in `dir` following the rules in the module docs. Returns the
/// descriptor and its `fstat`, on which every check was made.
pub fn open_checked(
    dir: &Dir,
    name: &str,
    access: Access,
    owner: FifoOwner,
) -> Result<(OwnedFd, FileStat), FifoError> {
    let path = &dir.shown(name);
    let before = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|errno| open_error(path, errno))?;
    check_stat(path, &before, owner)?;
    let flags = OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC
        | match access {
            Access::Read => OFlag::O_RDONLY,
            Access::Write => OFlag::O_WRONLY,
            Access::ReadWrite => OFlag::O_RDWR,
        };
    let fd = openat(dir, name, flags, Mode::empty()).map_err(|errno| open_error(path, errno))?;
    let stat = check_fd(&fd, path, owner)?;
    Ok((fd, stat))
}

/// Checks an already open descriptor: FIFO, owner, no group/other permissions.
pub fn check_fd(fd: &impl AsFd, path: &Path, owner: FifoOwner) -> Result<FileStat, FifoError> {
    let stat = fstat(fd.as_fd()).map_err(|errno| open_error(path, errno))?;
    check_stat(path, &stat, owner)?;
    Ok(stat)
}

fn check_stat(path: &Path, stat: &FileStat, owner: FifoOwner) -> Result<(), FifoError> {
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFLNK {
        return Err(FifoError::Symlink {
            path: path.to_owned(),
        });
    }
    if kind != SFlag::S_IFIFO {
        return Err(FifoError::NotAFifo {
            path: path.to_owned(),
            kind: kind_name(kind),
        });
    }
    if !owner.allows(stat.st_uid) {
        return Err(FifoError::WrongOwner {
            path: path.to_owned(),
            uid: stat.st_uid,
            expected: owner.describe(),
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o077 != 0 {
        return Err(FifoError::Insecure {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

fn open_error(path: &Path, errno: Errno) -> FifoError {
    let path = path.to_owned();
    match errno {
        Errno::ENOENT => FifoError::Missing { path },
        Errno::ELOOP => FifoError::Symlink { path },
        Errno::ENXIO => FifoError::NoPeer { path },
        errno => FifoError::Open { path, errno },
    }
}

fn kind_name(kind: SFlag) -> &'static str {
    match kind {
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        _ => "special file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir::DirKind;
    use nix::unistd::{geteuid, mkfifo};

    fn scratch(name: &str) -> (PathBuf, Dir) {
        let dir =
            std::env::temp_dir().join(format!("attach-fifo-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .unwrap();
        let handle = Dir::own(&dir, DirKind::Shared).unwrap();
        (dir, handle)
    }

    fn me() -> FifoOwner {
        FifoOwner::Uid(geteuid().as_raw())
    }

    #[test]
    fn accepts_a_private_fifo() {
        let (dir, handle) = scratch("ok");
        mkfifo(&dir.join("f"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_checked(&handle, "f", Access::Read, me()).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_links_files_and_loose_modes() {
        let (dir, handle) = scratch("bad");
        let fifo = dir.join("fifo");
        mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(matches!(
            open_checked(&handle, "link", Access::Read, me()),
            Err(FifoError::Symlink { .. })
        ));

        let file = dir.join("file");
        std::fs::write(&file, b"keep").unwrap();
        assert!(matches!(
            open_checked(&handle, "file", Access::Write, me()),
            Err(FifoError::NotAFifo { .. })
        ));
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");

        let loose = dir.join("loose");
        mkfifo(&loose, Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .unwrap();
        assert!(matches!(
            open_checked(&handle, "loose", Access::Read, me()),
            Err(FifoError::Insecure { .. })
        ));

        let other = FifoOwner::Uid(geteuid().as_raw() + 1);
        assert!(matches!(
            open_checked(&handle, "fifo", Access::Read, other),
            Err(FifoError::WrongOwner { .. })
        ));
        assert!(matches!(
            open_checked(&handle, "none", Access::Read, me()),
            Err(FifoError::Missing { .. })
        ));
        assert!(matches!(
            open_checked(&handle, "fifo", Access::Write, me()),
            Err(FifoError::NoPeer { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! A directory handle that every FIFO operation of a session is made relative to.
//!
//! Paths are re-resolved on every use, so a directory swapped for a symlink mid-session
//! would redirect a path-based `mkfifo`, `open` or `unlink` somewhere else (for a
//! container, somewhere on the host). A session therefore opens its directory once,
//! checks the opened handle, and uses `*at` calls on it from then on.
//!
//! A target's directory is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)`
//! from a handle on the target's root: no component may be a symlink, and `..` cannot
//! climb out of that root.
//!
//! Nothing here creates or removes a file.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};

/// What an opened directory must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirKind {
    /// Shared by every user (`/tmp`): the sticky bit must be set, so that nobody can
    /// remove or rename another user's files in it.
    Shared,
    /// Private to `uid`: owned by it, no group or other permission bits.
    Private {
        /// The only uid that may own and use it.
        uid: u32,
    },
}

/// Why a directory was refused. Each message names the path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// A component of the path is a symbolic link.
    #[error("{} contains a symbolic link; refusing to follow it out of the target's root", .path.display())]
    Symlink {
        /// The directory, as shown in messages.
        path: PathBuf,
    },
    /// The path names something else than a directory.
    #[error("{} is not a directory", .path.display())]
    NotADirectory {
        /// The directory, as shown in messages.
        path: PathBuf,
    },
    /// A shared directory without the sticky bit.
    #[error("{} is not sticky (mode {mode:04o}); other users could replace files in it", .path.display())]
    NotSticky {
        /// The directory, as shown in messages.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A private directory owned by someone else.
    #[error("{} is owned by uid {uid}, expected uid {expected}", .path.display())]
    WrongOwner {
        /// The directory, as shown in messages.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The uid it should belong to.
        expected: u32,
    },
    /// A private directory that group or others may use.
    #[error("{} has mode {mode:04o}; group and others must have no access", .path.display())]
    Insecure {
        /// The directory, as shown in messages.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Opening failed for another reason.
    #[error("cannot open {}: {errno}", .path.display())]
    Open {
        /// The directory, as shown in messages.
        path: PathBuf,
        /// What the kernel said.
        errno: Errno,
    },
}

/// An open, checked directory, and the path it is shown as in messages.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    shown: PathBuf,
}

impl Dir {
    /// Opens `inner` (an absolute path as the target sees it) below the target's
    /// `root` handle, following no symlink, and checks it is a `kind` directory.
    /// `shown` names it in messages (e.g. `/proc/<pid>/root/tmp`).
    pub fn in_root(
        root: BorrowedFd<'_>,
        inner: &str,
        shown: PathBuf,
        kind: DirKind,
    ) -> Result<Dir, DirError> {
        let how = OpenHow::new()
            .flags(OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_RDONLY)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let fd = openat2(root, inner, how).map_err(|errno| dir_error(&shown, errno))?;
        Dir::checked(fd, shown, kind)
    }

    /// Opens `path` of our own mount namespace (the agent's side) and checks it.
    pub fn own(path: &Path, kind: DirKind) -> Result<Dir, DirError> {
        let fd = open(
            path,
            OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .map_err(|errno| dir_error(path, errno))?;
        Dir::checked(fd, path.to_owned(), kind)
    }

    /// Opens the directory `name` inside this one, not following a symlink, and
    /// checks it is a `kind` directory.
    pub fn child(&self, name: &str, kind: DirKind) -> Result<Dir, DirError> {
        let shown = self.shown(name);
        let fd = openat(
            self,
            name,
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .map_err(|errno| dir_error(&shown, errno))?;
        Dir::checked(fd, shown, kind)
    }

    fn checked(fd: OwnedFd, shown: PathBuf, kind: DirKind) -> Result<Dir, DirError> {
        let stat = fstat(&fd).map_err(|errno| dir_error(&shown, errno))?;
        check(&shown, &stat, kind)?;
        Ok(Dir { fd, shown })
    }

    /// How `name` in this directory is shown in messages.
    pub fn shown(&self, name: &str) -> PathBuf {
        self.shown.join(name)
    }

    /// The directory itself, as shown in messages.
    pub fn path(&self) -> &Path {
        &self.shown
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn check(path: &Path, stat: &FileStat, kind: DirKind) -> Result<(), DirError> {
    let path = path.to_owned();
    if stat.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFDIR.bits() {
        return Err(DirError::NotADirectory { path });
    }
    let mode = stat.st_mode & 0o7777;
    match kind {
        DirKind::Shared if mode & 0o1000 == 0 => Err(DirError::NotSticky { path, mode }),
        DirKind::Shared => Ok(()),
        DirKind::Private { uid } if stat.st_uid != uid => Err(DirError::WrongOwner {
            path,
            uid: stat.st_uid,
            expected: uid,
        }),
        DirKind::Private { .. } if mode & 0o077 != 0 => Err(DirError::Insecure { path, mode }),
        DirKind::Private { .. } => Ok(()),
    }
}

fn dir_error(path: &Path, errno: Errno) -> DirError {
    let path = path.to_owned();
    match errno {
        Errno::ELOOP => DirError::Symlink { path },
        Errno::ENOTDIR => DirError::NotADirectory { path },
        errno => DirError::Open { path, errno },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("attach-dir-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        dir
    }

    fn root_of(dir: &Path) -> OwnedFd {
        open(
            &dir.join("root"),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn a_sticky_directory_in_the_root_is_accepted() {
        let dir = scratch("ok");
        std::fs::create_dir(dir.join("root/tmp")).unwrap();
        std::fs::set_permissions(dir.join("root/tmp"), PermissionsExt::from_mode(0o1777)).unwrap();
        let root = root_of(&dir);
        assert!(Dir::in_root(root.as_fd(), "/tmp", "x".into(), DirKind::Shared).is_ok());
        std::fs::set_permissions(dir.join("root/tmp"), PermissionsExt::from_mode(0o777)).unwrap();
        assert!(matches!(
            Dir::in_root(root.as_fd(), "/tmp", "x".into(), DirKind::Shared),
            Err(DirError::NotSticky { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn symlinks_and_dot_dot_never_leave_the_root() {
        let dir = scratch("links");
        std::fs::create_dir(dir.join("outside")).unwrap();
        std::fs::set_permissions(dir.join("outside"), PermissionsExt::from_mode(0o1777)).unwrap();
        symlink(dir.join("outside"), dir.join("root/tmp")).unwrap();
        let root = root_of(&dir);
        assert!(matches!(
            Dir::in_root(root.as_fd(), "/tmp", "x".into(), DirKind::Shared),
            Err(DirError::Symlink { .. })
        ));
        // `..` at the root stays at the root, which is not sticky.
        assert!(matches!(
            Dir::in_root(root.as_fd(), "/../outside", "x".into(), DirKind::Shared),
            Err(DirError::Open { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_private_directory_must_be_owned_and_closed() {
        let dir = scratch("private");
        let private = dir.join("root/p");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, PermissionsExt::from_mode(0o700)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert!(Dir::own(&private, DirKind::Private { uid: me }).is_ok());
        assert!(matches!(
            Dir::own(&private, DirKind::Private { uid: me + 1 }),
            Err(DirError::WrongOwner { .. })
        ));
        std::fs::set_permissions(&private, PermissionsExt::from_mode(0o750)).unwrap();
        assert!(matches!(
            Dir::own(&private, DirKind::Private { uid: me }),
            Err(DirError::Insecure { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
